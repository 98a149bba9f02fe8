package objstore

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// CacheOptions bound a Cache. A zero bound disables that tier.
type CacheOptions struct {
	MemoryBytes int64  // bound of the memory tier (bytes of cached ranges)
	Dir         string // directory of the disk tier; "" for none
	DiskBytes   int64  // bound of the disk tier (bytes of its files)
	Metrics     *Metrics
	Logger      *slog.Logger
}

// Cache is a read-through cache of object ranges in front of a RangeReader:
// a memory LRU and a disk LRU (one file per range in Dir), both bounded in
// bytes, keyed by (object, offset, length). Objects are immutable, so a range
// never changes; Invalidate drops an object's ranges after it is deleted.
// Concurrent misses of one range make one read of the source (single
// flight). The disk tier survives a restart: NewCache adopts the files it
// finds, oldest first in LRU order, and checks each file's CRC32C when it is
// read (a bad file is removed and read again from the source). Disk errors
// are logged and served from the source, never returned.
//
// The returned slices are shared with the cache and other readers: callers
// must not modify them. Reads to the object's end (length < 0) are not cached.
type Cache struct {
	src  RangeReader
	opts CacheOptions

	mu       sync.Mutex
	mem      map[rangeKey]*list.Element // of *memEntry
	memLRU   list.List                  // front: most recently used
	memBytes int64
	disk     map[string]*list.Element // file name -> *diskEntry
	diskLRU  list.List
	diskSize int64
	flights  map[rangeKey]*flight
}

type rangeKey struct {
	key         string
	off, length int64
}

type memEntry struct {
	k       rangeKey
	data    []byte
	checked bool // passed a GetChecked check
}

type diskEntry struct {
	name string
	size int64
	key  string // the object, "" for files adopted at start
}

type flight struct {
	done    chan struct{}
	waiters int // callers waiting on done (tests observe it)
	data    []byte
	err     error
	checked bool // data passed the filling caller's check
}

const (
	cacheFileMagic = "SLUC"
	cacheTmpSuffix = ".tmp"
)

// NewCache creates a cache in front of src. With a Dir, it creates the
// directory if needed and adopts the files already in it.
func NewCache(src RangeReader, opts CacheOptions) (*Cache, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Cache{src: src, opts: opts, mem: map[rangeKey]*list.Element{}, disk: map[string]*list.Element{}, flights: map[rangeKey]*flight{}}
	if opts.Dir == "" || opts.DiskBytes <= 0 {
		c.opts.Dir = ""
		return c, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: cache directory: %w", err)
	}
	des, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: cache directory: %w", err)
	}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var files []found
	for _, de := range des {
		name := de.Name()
		if filepath.Ext(name) == cacheTmpSuffix {
			_ = os.Remove(filepath.Join(opts.Dir, name)) // a write cut short by a crash
			continue
		}
		if len(name) != 64 || !de.Type().IsRegular() {
			continue // not ours
		}
		if _, err := hex.DecodeString(name); err != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		files = append(files, found{name, info.Size(), info.ModTime()})
	}
	slices.SortFunc(files, func(a, b found) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		c.disk[f.name] = c.diskLRU.PushFront(&diskEntry{name: f.name, size: f.size})
		c.diskSize += f.size
	}
	c.mu.Lock()
	victims := c.evictDiskLocked()
	c.mu.Unlock()
	c.removeFiles(victims)
	return c, nil
}

// Get implements RangeReader: from memory, else from disk, else from the
// source (one read per range however many callers miss at once).
func (c *Cache) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	return c.GetChecked(ctx, key, off, length, nil)
}

// GetChecked is Get with the caller's check of the range's bytes (a
// checksum the caller knows): bytes that fail it are never kept; a cached
// copy that fails it (in memory or on disk) is dropped and the range read
// again from the source. It fails with the check's error (wrap ErrCorrupt)
// when the source's bytes fail it too. A nil check is Get.
func (c *Cache) GetChecked(ctx context.Context, key string, off, length int64, check func([]byte) error) ([]byte, error) {
	if length < 0 {
		c.opts.Metrics.cacheRead("miss")
		data, err := c.src.Get(ctx, key, off, length)
		if err == nil && check != nil {
			err = check(data)
		}
		return data, err
	}
	k := rangeKey{key, off, length}
	for {
		c.mu.Lock()
		if el, ok := c.mem[k]; ok {
			me := el.Value.(*memEntry)
			if check == nil || me.checked {
				c.memLRU.MoveToFront(el)
				c.mu.Unlock()
				c.opts.Metrics.cacheRead("memory_hit")
				return me.data, nil
			}
			c.mu.Unlock()
			err := check(me.data)
			if err == nil {
				c.mu.Lock()
				me.checked = true
				c.mu.Unlock()
				c.opts.Metrics.cacheRead("memory_hit")
				return me.data, nil
			}
			c.opts.Logger.Warn("objstore: cached range fails its check, reading the object store", "object", key, "offset", off, "length", length, "err", err)
			c.drop(k)
			continue
		}
		if f, ok := c.flights[k]; ok {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("objstore: cached get %s: %w: %w", key, ErrRetriable, ctx.Err())
			}
			if f.err != nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				continue // the reader that went to the source gave up; try ourselves
			}
			if f.err == nil && check != nil && !f.checked {
				continue // read by a caller without a check: now in memory, checked there
			}
			return f.data, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.flights[k] = f
		name := ""
		if c.opts.Dir != "" {
			name = cacheFileName(k)
			if el, ok := c.disk[name]; ok {
				c.diskLRU.MoveToFront(el)
			} else {
				name = ""
			}
		}
		c.mu.Unlock()

		var fromSource bool
		f.data, fromSource, f.err = c.fill(ctx, k, name, check)
		f.checked = check != nil
		c.mu.Lock()
		delete(c.flights, k)
		c.mu.Unlock()
		close(f.done)
		if fromSource {
			c.putDisk(k, f.data) // after the waiters have their bytes
		}
		return f.data, f.err
	}
}

// drop removes one range from the memory tier and its disk file.
func (c *Cache) drop(k rangeKey) {
	c.mu.Lock()
	if el, ok := c.mem[k]; ok {
		c.memLRU.Remove(el)
		delete(c.mem, k)
		c.memBytes -= int64(len(el.Value.(*memEntry).data))
		c.opts.Metrics.cacheSize("memory", c.memBytes)
	}
	c.mu.Unlock()
	if c.opts.Dir != "" {
		c.dropFile(cacheFileName(k))
	}
}

// fill reads k from the disk file name (if any) or the source, checks it
// (check, if not nil) and keeps it in memory; fromSource says the caller
// should write the disk file.
func (c *Cache) fill(ctx context.Context, k rangeKey, name string, check func([]byte) error) (data []byte, fromSource bool, err error) {
	if name != "" {
		data, err := c.readFile(name, k)
		if err == nil && check != nil {
			err = check(data)
		}
		if err == nil {
			c.opts.Metrics.cacheRead("disk_hit")
			c.putMem(k, data, check != nil)
			return data, false, nil
		}
		c.opts.Logger.Warn("objstore: cache file unreadable, reading the object store", "file", name, "err", err)
		c.dropFile(name)
	}
	c.opts.Metrics.cacheRead("miss")
	data, err = c.src.Get(ctx, k.key, k.off, k.length)
	if err != nil {
		return nil, false, err
	}
	if check != nil {
		if err := check(data); err != nil {
			return nil, false, err
		}
	}
	c.putMem(k, data, check != nil)
	return data, true, nil
}

func (c *Cache) putMem(k rangeKey, data []byte, checked bool) {
	n := int64(len(data))
	if n > c.opts.MemoryBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[k]; ok {
		return
	}
	c.mem[k] = c.memLRU.PushFront(&memEntry{k: k, data: data, checked: checked})
	c.memBytes += n
	for c.memBytes > c.opts.MemoryBytes {
		e := c.memLRU.Remove(c.memLRU.Back()).(*memEntry)
		delete(c.mem, e.k)
		c.memBytes -= int64(len(e.data))
	}
	c.opts.Metrics.cacheSize("memory", c.memBytes)
}

func cacheFileName(k rangeKey) string {
	h := sha256.New()
	h.Write([]byte(k.key))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, k.off, 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, k.length, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// A cache file: magic "SLUC" | CRC32C of data uint32 | key length uint16 |
// key | offset int64 | length int64 | data.
func encodeCacheFile(k rangeKey, data []byte) []byte {
	b := make([]byte, 0, 4+4+2+len(k.key)+16+len(data))
	b = append(b, cacheFileMagic...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(data, castagnoli))
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.key)))
	b = append(b, k.key...)
	b = binary.BigEndian.AppendUint64(b, uint64(k.off))
	b = binary.BigEndian.AppendUint64(b, uint64(k.length))
	return append(b, data...)
}

func (c *Cache) readFile(name string, k rangeKey) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(c.opts.Dir, name))
	if err != nil {
		return nil, err
	}
	hl := 4 + 4 + 2 + len(k.key) + 16
	switch {
	case len(b) < hl || string(b[:4]) != cacheFileMagic:
		return nil, corrupt("cache file header")
	case int(binary.BigEndian.Uint16(b[8:])) != len(k.key) || string(b[10:10+len(k.key)]) != k.key ||
		int64(binary.BigEndian.Uint64(b[hl-16:])) != k.off || int64(binary.BigEndian.Uint64(b[hl-8:])) != k.length:
		return nil, corrupt("cache file holds another range")
	case int64(len(b)-hl) != k.length:
		return nil, corrupt("cache file of %d bytes for %d", len(b)-hl, k.length)
	}
	data := b[hl:]
	if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, corrupt("cache file CRC32C")
	}
	return data, nil
}

func (c *Cache) putDisk(k rangeKey, data []byte) {
	if c.opts.Dir == "" || len(k.key) > 0xffff {
		return
	}
	b := encodeCacheFile(k, data)
	size := int64(len(b))
	if size > c.opts.DiskBytes {
		return
	}
	name := cacheFileName(k)
	path := filepath.Join(c.opts.Dir, name)
	tmp, err := os.CreateTemp(c.opts.Dir, name+"-*"+cacheTmpSuffix)
	if err != nil {
		c.opts.Logger.Warn("objstore: cache file not written", "err", err)
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		c.opts.Logger.Warn("objstore: cache file not written", "err", err)
		return
	}
	c.mu.Lock()
	if el, ok := c.disk[name]; ok {
		c.diskSize -= el.Value.(*diskEntry).size
		c.diskLRU.Remove(el)
	}
	c.disk[name] = c.diskLRU.PushFront(&diskEntry{name: name, size: size, key: k.key})
	c.diskSize += size
	victims := c.evictDiskLocked()
	c.mu.Unlock()
	c.removeFiles(victims)
}

// evictDiskLocked drops the least recently used files over the bound from
// the index and returns their names, to remove outside the lock.
func (c *Cache) evictDiskLocked() []string {
	var victims []string
	for c.diskSize > c.opts.DiskBytes && c.diskLRU.Len() > 0 {
		e := c.diskLRU.Remove(c.diskLRU.Back()).(*diskEntry)
		delete(c.disk, e.name)
		c.diskSize -= e.size
		victims = append(victims, e.name)
	}
	c.opts.Metrics.cacheSize("disk", c.diskSize)
	return victims
}

func (c *Cache) removeFiles(names []string) {
	for _, n := range names {
		if err := os.Remove(filepath.Join(c.opts.Dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.opts.Logger.Warn("objstore: cache file not removed", "file", n, "err", err)
		}
	}
}

func (c *Cache) dropFile(name string) {
	c.mu.Lock()
	if el, ok := c.disk[name]; ok {
		c.diskSize -= el.Value.(*diskEntry).size
		c.diskLRU.Remove(el)
		delete(c.disk, name)
	}
	c.opts.Metrics.cacheSize("disk", c.diskSize)
	c.mu.Unlock()
	c.removeFiles([]string{name})
}

// Invalidate drops every cached range of the object key (after the object
// is deleted). Files adopted at start, whose object is not known without
// reading them, age out by LRU instead.
func (c *Cache) Invalidate(key string) {
	c.mu.Lock()
	for k, el := range c.mem {
		if k.key == key {
			c.memLRU.Remove(el)
			delete(c.mem, k)
			c.memBytes -= int64(len(el.Value.(*memEntry).data))
		}
	}
	var victims []string
	for name, el := range c.disk {
		if e := el.Value.(*diskEntry); e.key == key {
			c.diskLRU.Remove(el)
			delete(c.disk, name)
			c.diskSize -= e.size
			victims = append(victims, name)
		}
	}
	c.opts.Metrics.cacheSize("memory", c.memBytes)
	c.opts.Metrics.cacheSize("disk", c.diskSize)
	c.mu.Unlock()
	c.removeFiles(victims)
}

// Size returns the bytes held by the memory and disk tiers.
func (c *Cache) Size() (memory, disk int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memBytes, c.diskSize
}
