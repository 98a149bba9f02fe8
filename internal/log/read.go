package log

import (
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/vfs"
)

// ReadResult is a run of whole batches of one segment, located by Read. The
// bytes are fetched with AppendTo, or sent straight from File.
//
// A non-empty result holds the segment's file open, even if retention or
// the cleaner removes the segment meanwhile, until it is released: by
// AppendTo, which consumes it, or by Release. A holder that does neither
// keeps a deleted segment's disk space in use until the log is closed.
// Copies of a result share the one reference: releasing any of them
// releases it, and a second release does nothing.
type ReadResult struct {
	seg *segment
	ref *readRef
	pos int64
	n   int

	HighWatermark, LogStartOffset int64
	LastStableOffset              int64 // see LastStableOffset
	// NextOffset is the offset after the last batch read (for the
	// metrics' records out); 0 when nothing was read or it is not known.
	NextOffset int64
}

// readRef is a ReadResult's reference to its segment.
type readRef struct {
	seg      *segment
	released atomic.Bool
}

// Release lets go of the segment file the result refers to (see
// ReadResult). The result must not be read afterwards.
func (r ReadResult) Release() {
	if r.ref != nil && r.ref.released.CompareAndSwap(false, true) {
		r.ref.seg.release()
	}
}

// Size returns the number of bytes of the batches.
func (r ReadResult) Size() int { return r.n }

// AppendTo reads the batches onto the end of dst, growing it as needed,
// and releases the result.
func (r ReadResult) AppendTo(dst []byte) ([]byte, error) {
	if r.n == 0 {
		return dst, nil
	}
	defer r.Release()
	dst = slices.Grow(dst, r.n)
	buf := dst[len(dst) : len(dst)+r.n]
	if n, err := r.seg.log.ReadAt(buf, r.pos); n < len(buf) {
		if err == io.EOF {
			err = corruptf("segment %s ends before position %d", r.seg.name(), r.pos+int64(r.n))
		}
		return dst, storageErr(err)
	}
	return dst[:len(dst)+r.n], nil
}

// File returns the segment file and the byte range of the batches, for
// zero-copy senders (see vfs.OSFiler). f is nil when the result is empty.
func (r ReadResult) File() (f vfs.File, pos int64, n int) {
	if r.seg == nil {
		return nil, 0, 0
	}
	return r.seg.log, r.pos, r.n
}

// Read locates whole batches starting with the one holding offset, all in
// one segment, together at most maxBytes long; when minOneBatch is set the
// first batch is returned even if it alone is larger (KIP-74). An offset
// equal to the high watermark gives an empty result; one outside
// [LogStartOffset, HighWatermark] is ErrOffsetOutOfRange. Only completely
// appended batches are visible. The file I/O happens outside the log's lock.
func (l *Log) Read(offset int64, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	if res, ok, err := l.readAsleep(offset); ok {
		return res, err
	}
	if err := l.enter(); err != nil {
		return ReadResult{}, err
	}
	defer l.leave()
	return l.read(offset, maxBytes, minOneBatch, false)
}

// ReadCommitted is Read at read_committed: only batches below the last
// stable offset (txn.go) are returned. An offset at or past it, up to the
// high watermark, gives an empty result. LastStableOffset is set.
func (l *Log) ReadCommitted(offset int64, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	if res, ok, err := l.readAsleep(offset); ok {
		return res, err
	}
	if err := l.enter(); err != nil {
		return ReadResult{}, err
	}
	defer l.leave()
	return l.read(offset, maxBytes, minOneBatch, true)
}

// ReadLoads reports whether a read at offset would load the log first: it
// is dormant (opened lazily and not used since, or put to sleep by the
// cap) and readAsleep cannot answer the read from the offsets it
// remembers. Loading may take milliseconds (recovery's clean path, and
// under log.open.files.max another log put to sleep), so a caller reading
// many logs at once can put the loads off.
func (l *Log) ReadLoads(offset int64) bool {
	if !l.lz.dormant.Load() {
		return false
	}
	_, answered, _ := l.readAsleep(offset)
	return !answered
}

// readAsleep answers a read at or outside the end of a log put to sleep
// by the cap, or of one not created yet, without loading it (ok); a read
// of batches loads it.
func (l *Log) readAsleep(offset int64) (ReadResult, bool, error) {
	e, ok := l.asleepEnds()
	if !ok {
		return ReadResult{}, false, nil
	}
	res := ReadResult{HighWatermark: e.next, LogStartOffset: e.logStart, LastStableOffset: e.next}
	switch {
	case offset == e.next:
		return res, true, nil
	case offset < e.logStart || offset > e.next:
		return res, true, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, e.logStart, e.next)
	}
	return ReadResult{}, false, nil
}

func (l *Log) read(offset int64, maxBytes int32, minOneBatch, committed bool) (ReadResult, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ReadResult{}, ErrClosed
	}
	res := ReadResult{HighWatermark: l.next, LogStartOffset: l.lso.Load(), LastStableOffset: l.txns.stable(l.next)}
	upTo := l.next
	if committed {
		upTo = res.LastStableOffset
	}
	if offset < res.LogStartOffset || offset > res.HighWatermark {
		l.mu.RUnlock()
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange,
			offset, res.LogStartOffset, res.HighWatermark)
	}
	if offset >= upTo {
		l.mu.RUnlock()
		return res, nil
	}
	seg := l.segmentFor(offset)
	if offset >= seg.next && seg != l.active() {
		// In a gap left by lost records (recover.go): serve the batches
		// after it.
		seg = l.segs[l.segmentIndex(seg.base)+1]
	}
	limit := seg.size.Load()
	limitNext := seg.next  // the offset after the batches below limit
	cut := upTo < seg.next // the stable offset is inside this segment
	seg.pin()
	l.mu.RUnlock()
	pinned := true
	defer func() {
		if pinned {
			seg.release()
		}
	}()

	if err := seg.ensureLoaded(l.logger, l.cfg.Load().IndexIntervalBytes); err != nil {
		return res, storageErr(err)
	}
	r, buf := pooledWindow(seg.log, limit)
	defer readWindows.Put(buf)

	if cut {
		// Stop before the batch at the stable offset (always a batch
		// base: the first batch of an open transaction).
		next, pos := seg.lookupOffset(upTo)
		for next < upTo {
			h, err := r.header(pos)
			if err != nil {
				return res, l.readErr(seg, pos, err)
			}
			pos += int64(h.Size())
			next = h.LastOffset() + 1
		}
		limit = pos
		limitNext = next
		r.limit = pos
	}

	// Find the batch holding offset, from the index entry before it.
	h, pos, err := l.findBatch(&r, seg, max(offset, seg.base), false)
	if err != nil {
		return res, err
	}

	start, end := pos, pos+int64(h.Size())
	next := h.LastOffset() + 1 // the offset after the batch ending at end
	budget := start + int64(max(maxBytes, 0))
	switch {
	case end > budget:
		if !minOneBatch {
			return res, nil
		}
	case budget >= limit:
		end, next = limit, limitNext
	default:
		// Jump to the last indexed batch within budget, then walk
		// headers while batches still fit.
		if o, p := seg.lookupPosition(budget); p > end {
			end, next = p, o // an index entry is a batch's base offset
		}
		for end < limit {
			h, err := r.header(end)
			if err != nil {
				// Serve the batches before it; a read starting
				// at it reports it.
				l.readErr(seg, end, err)
				break
			}
			if end+int64(h.Size()) > budget {
				break
			}
			end += int64(h.Size())
			next = h.LastOffset() + 1
		}
	}
	// Never serve a batch damaged on disk: check what was not checked yet.
	wantEnd := end
	end, err = l.verifyRange(seg, start, end)
	if err != nil {
		return res, err
	}
	if end == wantEnd {
		res.NextOffset = next
	}
	res.seg, res.pos, res.n = seg, start, int(end-start)
	if res.n > 0 {
		res.ref, pinned = &readRef{seg: seg}, false // handed to the result
	}
	return res, nil
}

// findBatch walks batch headers from the offset index entry at or before
// offset to the batch holding offset. When the entry (other than the
// segment's start) points at no batch, the index may be what is damaged:
// the walk is retried from the start and, if that works, the segment's
// indexes are rebuilt.
func (l *Log) findBatch(r *windowReader, seg *segment, offset int64, fromStart bool) (BatchHeader, int64, error) {
	next, pos := seg.lookupOffset(offset)
	if fromStart {
		next, pos = seg.base, 0
	}
	entry := pos
	for {
		h, err := r.header(pos)
		if err == nil && h.BaseOffset != next {
			err = corruptf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next)
		}
		if err != nil {
			if entry > 0 && pos == entry && IsCorruption(err) && !seg.isBad(entry) {
				// The entry itself points at no batch: suspect the
				// index, not the data. (A failure further on is
				// data damage: no rescan from the start for it.)
				h, pos, err2 := l.findBatch(r, seg, offset, true)
				if err2 == nil {
					l.rebuildIndexes(seg, fmt.Errorf("offset index entry (%d, %d) does not point at a batch: %w", next, entry, err))
				}
				return h, pos, err2
			}
			return h, pos, l.readErr(seg, pos, err)
		}
		if h.LastOffset() >= offset {
			return h, pos, nil
		}
		pos += int64(h.Size())
		next = h.LastOffset() + 1
	}
}

// rebuildIndexes replaces the indexes of seg, found wrong by a read, with
// ones built from its batches.
func (l *Log) rebuildIndexes(seg *segment, why error) {
	l.mu.Lock() // no appends to seg meanwhile
	if l.closed || l.segmentIndex(seg.base) == len(l.segs) || l.segs[l.segmentIndex(seg.base)] != seg {
		l.mu.Unlock()
		return
	}
	l.logger.Warn("rebuilding segment indexes", "segment", seg.name(), "reason", why)
	ix, err := buildIndexes(seg.log, seg.base, seg.size.Load(), l.cfg.Load().IndexIntervalBytes)
	if err != nil {
		l.mu.Unlock()
		l.logger.Warn("rebuilding segment indexes", "segment", seg.name(), "error", err)
		return
	}
	seg.setIndexes(ix)
	active := seg == l.active()
	if active {
		seg.resumeIndexing() // the files are rewritten at the next roll or flush
	}
	l.mu.Unlock()
	if !active {
		if err := seg.persistIndexes(false); err != nil {
			l.logger.Warn("writing rebuilt indexes", "segment", seg.name(), "error", err)
		}
	}
}

// readErr reports a failed read: corruption found on disk is logged once
// per batch, counted and marked ErrDiskCorruption (see verify.go).
func (l *Log) readErr(seg *segment, pos int64, err error) error {
	if IsCorruption(err) {
		return l.reportCorrupt(seg, pos, fmt.Errorf("segment %s, position %d: %w", seg.name(), pos, err))
	}
	return storageErr(err)
}
