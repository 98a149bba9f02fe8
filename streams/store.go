package streams

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// store is one table partition's local state: keys and values as the
// changelog holds them, and the changelog offset the state reflects (the
// next offset to restore from). Apply is atomic: a crash leaves the state
// of one Apply or of the one before, never a mix, so restoring from the
// checkpoint always converges.
type store interface {
	get(key []byte) ([]byte, bool, error)
	// apply writes the batch (a nil value deletes) and the checkpoint.
	apply(writes []kv, checkpoint int64) error
	checkpoint() (int64, error)
	// all yields every key and value in key order.
	all() iter.Seq2[[]byte, []byte]
	// scan yields the keys that start with prefix, and their values, in
	// key order.
	scan(prefix []byte) iter.Seq2[[]byte, []byte]
	// wipe deletes every key and resets the checkpoint to 0.
	wipe() error
	close() error
}

type kv struct {
	k, v []byte
	del  bool
}

// memStore keeps a partition in memory.
type memStore struct {
	mu   sync.RWMutex
	m    map[string][]byte
	ckpt int64
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) get(k []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[string(k)]
	return v, ok, nil
}

func (s *memStore) apply(ws []kv, ckpt int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range ws {
		if w.del {
			delete(s.m, string(w.k))
		} else {
			// A copy: a restored value is a slice of the fetched batch,
			// and keeping it would keep the whole batch in memory.
			s.m[string(w.k)] = bytes.Clone(w.v)
		}
	}
	s.ckpt = ckpt
	return nil
}

func (s *memStore) checkpoint() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ckpt, nil
}

func (s *memStore) all() iter.Seq2[[]byte, []byte] { return s.scan(nil) }

func (s *memStore) scan(prefix []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		s.mu.RLock()
		var keys []string
		for k := range s.m {
			if strings.HasPrefix(k, string(prefix)) {
				keys = append(keys, k)
			}
		}
		s.mu.RUnlock()
		slices.Sort(keys)
		for _, k := range keys {
			s.mu.RLock()
			v, ok := s.m[k]
			s.mu.RUnlock()
			if ok && !yield([]byte(k), v) {
				return
			}
		}
	}
}

func (s *memStore) wipe() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m, s.ckpt = map[string][]byte{}, 0
	return nil
}

func (s *memStore) close() error { return nil }

// pebbleStore keeps a partition in a Pebble database. Layout: the
// checkpoint under the key "\x00checkpoint" (8 bytes, big-endian), each
// table key under "\x01" + key. Writes are not fsynced: the changelog is
// the durable copy, and the checkpoint is written in the same atomic batch
// as the data it describes, so whatever prefix of batches survives a crash
// is restored forward from its own checkpoint. For the same reason there is
// no write-ahead log: close flushes, and a crash reopens at the last flushed
// checkpoint. A bulk restore (restore_bulk.go) bypasses the memtable: it
// ingests sorted sstables, each chunk's with an sstable of its checkpoint
// (see loadChunk); every write of either path carries a checkpoint, so an
// ingest, which flushes the memtable first when their keys overlap, is
// never durable before the batches it follows.
type pebbleStore struct {
	db   *pebble.DB
	fs   vfs.FS
	dir  string
	opts *pebble.Options
}

var ckptKey = []byte("\x00checkpoint")

const dataPrefix = 0x01

// ErrStoreCorrupt reports a local store that cannot be read; deleting the
// partition's directory makes the worker restore it from the changelog.
var ErrStoreCorrupt = errors.New("streams: local store corrupt")

func openPebbleStore(dir string) (*pebbleStore, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("streams: state dir: %w", err)
	}
	return openPebbleStoreFS(dir, vfs.Default)
}

// openPebbleStoreFS opens the store in dir of fs (tests use a memory file
// system that can simulate a crash).
func openPebbleStoreFS(dir string, fs vfs.FS) (*pebbleStore, error) {
	opts := &pebble.Options{
		FS:     fs,
		Logger: quietPebble{},
		// No write-ahead log: the changelog is the log. A crash loses the
		// memtable, whose batches each carried their checkpoint, so the
		// store reopens at an older checkpoint and restores forward.
		DisableWAL:   true,
		MemTableSize: 16 << 20,
	}
	// A bulk restore's ingest returns once its files are durable (see
	// loadChunk).
	opts.Experimental.DisableIngestAsFlushable = func() bool { return true }
	opts.EnsureDefaults() // loadChunk's sstable writer options come from them
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("streams: opening store %s: %w", dir, err)
	}
	s := &pebbleStore{db: db, fs: fs, dir: dir, opts: opts}
	// A crash during a bulk load can leave its files behind.
	stale := []string{s.ckptPath()}
	for i := range loadParts {
		stale = append(stale, s.loadPath(i))
	}
	for _, p := range stale {
		if err := fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("streams: store %s: removing an unfinished load: %w", dir, err)
		}
	}
	return s, nil
}

func (s *pebbleStore) get(k []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(append([]byte{dataPrefix}, k...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("streams: store get: %w", err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

func (s *pebbleStore) apply(ws []kv, ckpt int64) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, w := range ws {
		var op *pebble.DeferredBatchOp
		if w.del {
			op = b.DeleteDeferred(1 + len(w.k))
		} else {
			op = b.SetDeferred(1+len(w.k), len(w.v))
			copy(op.Value, w.v)
		}
		op.Key[0] = dataPrefix
		copy(op.Key[1:], w.k)
		if err := op.Finish(); err != nil {
			return fmt.Errorf("streams: store batch: %w", err)
		}
	}
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], uint64(ckpt))
	if err := b.Set(ckptKey, c[:], nil); err != nil {
		return fmt.Errorf("streams: store batch: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("streams: store commit: %w", err)
	}
	return nil
}

// Where loadChunk writes its sstables before ingesting them (names Pebble
// does not take for files of its own).
func (s *pebbleStore) loadPath(part int) string {
	return s.fs.PathJoin(s.dir, fmt.Sprintf("restore-load-%d.sst", part))
}
func (s *pebbleStore) ckptPath() string { return s.fs.PathJoin(s.dir, "restore-ckpt.sst") }

// loadParts is how many sstables of a chunk loadChunk writes at once (on
// as many goroutines), each of a range of the chunk's keys.
const loadParts = 2

// loadPartMin is the fewest records of a part (a variable for tests).
var loadPartMin = 1 << 15

// loadChunk writes the chunk as sstables and the checkpoint as another,
// all synced, and ingests them in one atomic step: Pebble gives the
// ingested keys a sequence number above every earlier write, so they
// override the store's older values, and places each file in the lowest
// level it does not overlap (a chunk of keys the store does not hold yet
// costs no compaction). Ingest returns when the files are part of the
// store's durable state (Options.Experimental.DisableIngestAsFlushable: an
// ingest that overlaps the memtable flushes it first, rather than queueing
// behind it), so a crash keeps all or none, and a crashed bulk restore
// resumes from its last chunk.
func (s *pebbleStore) loadChunk(ctx context.Context, c *restoreChunk, ckpt int64) error {
	parts := min(loadParts, len(c.recs)/loadPartMin)
	if parts == 0 && len(c.recs) > 0 {
		parts = 1
	}
	paths := []string{s.ckptPath()}
	errs := make([]error, parts+1)
	var wg sync.WaitGroup
	for i := range parts {
		paths = append(paths, s.loadPath(i))
		recs := c.recs[i*len(c.recs)/parts : (i+1)*len(c.recs)/parts]
		wg.Go(func() { errs[i+1] = s.writeLoadFile(s.loadPath(i), c, recs) })
	}
	errs[0] = s.writeCkptFile(ckpt)
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		if err = s.db.Ingest(ctx, paths); err != nil {
			err = fmt.Errorf("streams: store ingest: %w", err)
		}
	}
	// Ingest links the files into the store (or copies them): ours go.
	for _, p := range paths {
		if rerr := s.fs.Remove(p); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("streams: store load: %w", rerr)
		}
	}
	return err
}

// writeLoadFile writes the sstable of recs, sorted records of c, at path
// and syncs it.
func (s *pebbleStore) writeLoadFile(path string, c *restoreChunk, recs []chunkRec) error {
	var key []byte
	return s.writeSST(path, func(w *sstable.Writer) error {
		return c.eachOf(recs, func(k, v []byte, del bool) error {
			key = append(append(key[:0], dataPrefix), k...)
			if del {
				return w.Delete(key)
			}
			return w.Set(key, v)
		})
	})
}

// writeCkptFile writes the sstable of the checkpoint at ckptPath and syncs
// it.
func (s *pebbleStore) writeCkptFile(ckpt int64) error {
	return s.writeSST(s.ckptPath(), func(w *sstable.Writer) error {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], uint64(ckpt))
		return w.Set(ckptKey, c[:])
	})
}

func (s *pebbleStore) writeSST(path string, fill func(*sstable.Writer) error) error {
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("streams: store load file: %w", err)
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), s.opts.MakeWriterOptions(0, s.db.TableFormat()))
	err = fill(w)
	if cerr := w.Close(); err == nil { // Close syncs the file
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("streams: store load file: %w", err)
	}
	return nil
}

func (s *pebbleStore) checkpoint() (int64, error) {
	v, closer, err := s.db.Get(ckptKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("streams: store checkpoint: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: checkpoint of %d bytes", ErrStoreCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (s *pebbleStore) all() iter.Seq2[[]byte, []byte] { return s.scan(nil) }

func (s *pebbleStore) scan(prefix []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		lo := append([]byte{dataPrefix}, prefix...)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
		if err != nil {
			return
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if !yield(bytes.Clone(it.Key()[1:]), bytes.Clone(it.Value())) {
				return
			}
		}
	}
}

// prefixEnd is the smallest key after every key that starts with prefix
// (nil: none, prefix is all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (s *pebbleStore) wipe() error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{dataPrefix}, []byte{dataPrefix + 1}, nil); err != nil {
		return err
	}
	if err := b.Delete(ckptKey, nil); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

// close flushes the memtable (there is no WAL) and closes the database.
func (s *pebbleStore) close() error {
	ferr := s.db.Flush()
	if err := s.db.Close(); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("streams: store flush: %w", ferr)
	}
	return nil
}

// quietPebble drops Pebble's informational logs; errors still reach the
// worker as returned errors.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
