package streams

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Bulk restore. A restore of many records (a new worker, a wiped or lost
// state directory, a store far behind its changelog) does not go through
// the store's write path record by record: the records are copied into
// chunks of restoreChunkBytes, each chunk is sorted by key (the last write
// of a key in the chunk wins, a tombstone stays a delete so that it shadows
// the key's value in older chunks and in the store) and handed to the store
// whole: Pebble writes it as sstables and ingests them, which skips the
// memtable, its flushes and, for keys the store does not hold yet, every
// compaction. A later chunk overrides an earlier one by the order of the
// loads, as a later record overrides an earlier one in the changelog.
//
// Sorting: a chunk already in key order is kept; one of at most
// maxMergeRuns ascending runs (a changelog that cycles through its keys) is
// merged; any other is sorted in two halves on two goroutines, then
// merged. Comparisons go by an 8-byte key prefix held in the record (after
// the prefix all the chunk's keys share), so that most of them do not read
// keys scattered over the chunk.
//
// Reading the changelog and loading chunks run on two goroutines (the
// loader's sstables on two more), with at most restoreChunks chunks in
// memory: the restore runs at the speed of the slower of the two, and the
// reader is the plain consumer's loop plus a copy of each record.
//
// Crash safety is the store's: a chunk's data and its checkpoint (the
// offset after its last record) become durable together, or the data
// first, so a crash at any moment leaves a checkpoint at or before what the
// store holds, and restoring forward from it converges (a write restored
// twice is written twice with the same value).

// Variables so that tests can make chunks small:
var (
	// restoreBulkMin is the least number of changelog offsets to restore
	// for which a restore loads chunks rather than applying batches: below
	// it, the files of a bulk load cost more than the writes they save.
	restoreBulkMin int64 = 1 << 16
	// restoreChunkBytes is the size of a bulk restore's chunk (keys,
	// values and bookkeeping); restoreChunks chunks at most are in memory
	// at a time. The first chunk is of restoreChunkFirst bytes.
	restoreChunkBytes = 32 << 20
	restoreChunkFirst = 1 << 20
	restoreChunks     = 2
)

// bulkLoader is a store that loads sorted chunks whole.
type bulkLoader interface {
	store
	// loadChunk writes c's writes, in key order with one write per key,
	// atomically, durably, and after all the store's earlier writes (a key
	// in c overrides its value in the store), and then checkpoint.
	loadChunk(ctx context.Context, c *restoreChunk, checkpoint int64) error
}

// restoreChunk is a chunk of changelog records: their keys and values
// copied into one buffer, in changelog order until sort.
type restoreChunk struct {
	buf  []byte
	recs []chunkRec
	tmp  []chunkRec // sort's merge buffer
	next int64      // the offset after the chunk's last record
}

// chunkRec is a record of a chunk: its key at buf[off:off+klen] and its
// value right after it. A record's off grows with its changelog offset. pfx
// is 8 bytes of the key (after the prefix all the chunk's keys share) as a
// big-endian number, set by sort: most comparisons of a sort end there,
// without reading the keys from all over the buffer.
type chunkRec struct {
	pfx             uint64
	off, klen, vlen uint32
	del             bool
}

func newRestoreChunk(size int) *restoreChunk {
	return &restoreChunk{buf: make([]byte, 0, size), recs: make([]chunkRec, 0, size/64)}
}

// chunkRecBytes is what a record costs a chunk besides its key and value:
// its chunkRec and the merge buffer's.
const chunkRecBytes = 2 * int(unsafe.Sizeof(chunkRec{}))

// fits reports whether a record of n key and value bytes fits in the chunk,
// its bookkeeping counted (an empty chunk takes a record of any size): a
// chunk of small records holds no more memory than one of large ones.
func (c *restoreChunk) fits(n int) bool {
	return len(c.recs) == 0 || len(c.buf)+n+(len(c.recs)+1)*chunkRecBytes <= cap(c.buf)
}

func (c *restoreChunk) add(k, v []byte, del bool) {
	off := len(c.buf)
	c.buf = append(c.buf, k...)
	c.buf = append(c.buf, v...)
	c.recs = append(c.recs, chunkRec{off: uint32(off), klen: uint32(len(k)), vlen: uint32(len(v)), del: del})
}

func (c *restoreChunk) reset() {
	c.buf, c.recs, c.next = c.buf[:0], c.recs[:0], 0
}

func (c *restoreChunk) key(r chunkRec) []byte { return c.buf[r.off : r.off+r.klen] }

func (c *restoreChunk) value(r chunkRec) []byte {
	return c.buf[r.off+r.klen : r.off+r.klen+r.vlen]
}

// sort orders the chunk by key and keeps the last write of each key.
func (c *restoreChunk) sort() {
	if c.ascending() {
		return // keys written in order (time-ordered ids): nothing to do
	}
	// The keys' common prefix: pfx takes the 8 bytes after it.
	common := c.key(c.recs[0])
	for _, r := range c.recs[1:] {
		k := c.key(r)
		n := min(len(common), len(k))
		i := 0
		for i < n && common[i] == k[i] {
			i++
		}
		common = common[:i]
	}
	for i := range c.recs {
		var b [8]byte
		k := c.key(c.recs[i])
		copy(b[:], k[len(common):])
		c.recs[i].pfx = binary.BigEndian.Uint64(b[:])
	}
	if bounds := c.runs(); bounds != nil {
		c.merge(bounds)
	} else {
		// Two halves sorted at once on two goroutines, then merged.
		mid := len(c.recs) / 2
		byKey := func(a, b chunkRec) int {
			if d := c.compare(a, b); d != 0 {
				return d
			}
			return cmp.Compare(a.off, b.off)
		}
		var wg sync.WaitGroup
		wg.Go(func() { slices.SortFunc(c.recs[:mid], byKey) })
		slices.SortFunc(c.recs[mid:], byKey)
		wg.Wait()
		c.merge([]int{0, mid, len(c.recs)})
	}
	out := c.recs[:0]
	for i, r := range c.recs {
		if i+1 < len(c.recs) && r.pfx == c.recs[i+1].pfx && bytes.Equal(c.key(r), c.key(c.recs[i+1])) {
			continue // a later write of the same key follows
		}
		out = append(out, r)
	}
	c.recs = out
}

// compare orders two records of a chunk by key (after sort set their pfx).
func (c *restoreChunk) compare(a, b chunkRec) int {
	if a.pfx != b.pfx {
		return cmp.Compare(a.pfx, b.pfx)
	}
	return bytes.Compare(c.key(a), c.key(b))
}

// maxMergeRuns is the most ascending runs of keys a chunk sorts by merging
// them; a chunk of more sorts as a whole.
const maxMergeRuns = 16

// runs returns the bounds of the chunk's runs of ascending keys (a
// changelog that goes through its keys in order, again and again): 0, the
// start of each run after the first, len(c.recs); nil when there are more
// than maxMergeRuns.
func (c *restoreChunk) runs() []int {
	bounds := []int{0}
	for i := 1; i < len(c.recs); i++ {
		if c.compare(c.recs[i-1], c.recs[i]) >= 0 {
			if len(bounds) == maxMergeRuns {
				return nil
			}
			bounds = append(bounds, i)
		}
	}
	return append(bounds, len(c.recs))
}

// merge merges the chunk's sorted runs between bounds (as runs returns
// them) into one, the earlier run first among equal keys.
func (c *restoreChunk) merge(bounds []int) {
	src, dst := c.recs, slices.Grow(c.tmp[:0], len(c.recs))[:len(c.recs)]
	for len(bounds) > 2 {
		merged := []int{0}
		for i := 0; i+1 < len(bounds); i += 2 {
			lo, mid, hi := bounds[i], bounds[i+1], bounds[i+1]
			if i+2 < len(bounds) {
				hi = bounds[i+2]
			}
			a, b, out := lo, mid, lo
			for a < mid && b < hi {
				if c.compare(src[b], src[a]) < 0 {
					dst[out] = src[b]
					b++
				} else {
					dst[out] = src[a]
					a++
				}
				out++
			}
			out += copy(dst[out:], src[a:mid])
			copy(dst[out:], src[b:hi])
			merged = append(merged, hi)
		}
		bounds = merged
		src, dst = dst, src
	}
	c.recs, c.tmp = src, dst[:0]
}

// ascending reports whether the chunk's keys are strictly ascending (no key
// twice).
func (c *restoreChunk) ascending() bool {
	for i := 1; i < len(c.recs); i++ {
		if bytes.Compare(c.key(c.recs[i-1]), c.key(c.recs[i])) >= 0 {
			return false
		}
	}
	return true
}

// each yields the chunk's writes (after sort: in key order, one per key);
// the slices are the chunk's, valid until its reset.
func (c *restoreChunk) each(fn func(k, v []byte, del bool) error) error {
	return c.eachOf(c.recs, fn)
}

// eachOf yields the writes of recs, records of c.
func (c *restoreChunk) eachOf(recs []chunkRec, fn func(k, v []byte, del bool) error) error {
	for _, r := range recs {
		if err := fn(c.key(r), c.value(r), r.del); err != nil {
			return err
		}
	}
	return nil
}

// restoreBulk restores st from offset from to end in chunks; it returns
// the number of records restored.
func (w *worker) restoreBulk(ctx context.Context, tc *tableCore, p int32, st bulkLoader, from, end int64, prog *restoreProgress) (int64, error) {
	full := make(chan *restoreChunk, restoreChunks-1)
	free := make(chan *restoreChunk, restoreChunks)
	for range restoreChunks {
		free <- nil // allocated on first use: a small restore needs one
	}
	failed := make(chan struct{}) // closed when a load fails
	var lerr error                // read after loaded is closed
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		for c := range full {
			if lerr == nil {
				c.sort()
				if lerr = st.loadChunk(ctx, c, c.next); lerr != nil {
					close(failed)
				} else {
					prog.applied(c.next)
				}
			}
			c.reset()
			free <- c
		}
	}()
	// The first chunks are small and each is twice the one before, up to
	// restoreChunkBytes: the loader starts early, and a small restore ends
	// with a short load, not with one of a whole large chunk.
	size := min(restoreChunkFirst, restoreChunkBytes)
	var cur *restoreChunk
	take := func() error {
		select {
		case <-failed: // before a free chunk: stop reading at once
			return errLoad
		default:
		}
		select {
		case cur = <-free:
		case <-failed:
			return errLoad
		}
		if cur == nil || cap(cur.buf) < size {
			cur = newRestoreChunk(size)
		}
		size = min(2*size, restoreChunkBytes)
		return nil
	}
	var n int64
	err := take()
	if err == nil {
		err = w.tr.read(ctx, tc.changelog, p, from, end, func(r *kgo.Record) error {
			if !cur.fits(len(r.Key) + len(r.Value)) {
				full <- cur // waits at most for the loader to take the one before
				if err := take(); err != nil {
					return err
				}
			}
			cur.add(r.Key, r.Value, r.Value == nil)
			cur.next = r.Offset + 1
			n++
			return nil
		})
	}
	if err == nil {
		cur.next = end // past the last record: control records, compacted-away offsets
		full <- cur
	}
	close(full)
	<-loaded
	if lerr != nil {
		err = lerr
	}
	return n, err
}

// errLoad stops a bulk restore's read when a load failed; the load's error
// is the restore's.
var errLoad = errors.New("streams: restore load failed")

// loadChunk of the memory store applies the chunk as one batch.
func (s *memStore) loadChunk(_ context.Context, c *restoreChunk, ckpt int64) error {
	ws := make([]kv, 0, len(c.recs))
	_ = c.each(func(k, v []byte, del bool) error {
		ws = append(ws, kv{k: k, v: v, del: del})
		return nil
	})
	return s.apply(ws, ckpt)
}
