package log

import (
	"bufio"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// forEachBatch walks a segment's batches, CRC-checked, and returns the
// bytes read. b is valid only during fn.
func (l *Log) forEachBatch(s *segment, opts CleanOptions, fn func(h *BatchHeader, b []byte, pos int64) error) (int64, error) {
	limit := s.size.Load()
	r := windowReader{f: s.log, limit: limit, buf: opts.pacer.buf}
	pos, next := int64(0), s.base
	for pos < limit {
		if opts.Stop != nil {
			select {
			case <-opts.Stop:
				return pos, errCleanStopped
			default:
			}
		}
		h, err := r.header(pos)
		if err == nil && h.BaseOffset != next {
			err = corruptf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next)
		}
		var b []byte
		if err == nil {
			b, err = r.at(pos, h.Size())
		}
		if err == nil {
			err = checkCRC(b)
		}
		if err != nil {
			return pos, l.readErr(s, pos, err)
		}
		if err := fn(&h, b, pos); err != nil {
			return pos, err
		}
		if opts.Throttle != nil {
			opts.Throttle(len(b))
		}
		opts.pacer.pace()
		pos += int64(len(b))
		next = h.LastOffset() + 1
	}
	return pos, nil
}

// forEachRecord decodes a stored batch and calls fn with each record's
// offset, fields and encoding (length prefix included). Control batches
// have no records to compact and are skipped.
func forEachRecord(h *BatchHeader, b []byte, cfg *Config, fn func(off int64, r *rawRecord, span []byte)) error {
	if h.Control() || h.NumRecords == 0 {
		return nil
	}
	limit := decompressLimit(max(int64(cfg.MaxMessageBytes), int64(len(b))))
	data, err := decompress(b[BatchHeaderLen:], h.Compression(), true, limit)
	if err != nil {
		return err
	}
	if h.Compression() != CodecNone {
		defer putDecompressBuf(data)
	}
	var r rawRecord
	i := 0
	for k := int32(0); k < h.NumRecords; k++ {
		length, w := binary.Varint(data[i:])
		if w <= 0 || length < 0 || length > int64(len(data)-i-w) {
			return corruptf("stored batch at offset %d: record %d: bad length", h.BaseOffset, k)
		}
		start := i
		i += w + int(length)
		if err := parseRecord(data[start+w:i], &r); err != nil {
			return corruptf("stored batch at offset %d: record %d: %v", h.BaseOffset, k, err)
		}
		fn(h.BaseOffset+int64(r.offsetDelta), &r, data[start:i])
	}
	return nil
}

// segmentWriter writes a cleaned segment, holding back the last batch so
// that a following batch that lost every record can be folded into it.
type segmentWriter struct {
	base     int64
	interval int32
	w        *bufio.Writer
	pos      int64
	ix       indexer
	pend     []byte
	pendH    BatchHeader
	err      error
	noIndex  bool // a stream of batches (Compactor): no index to build
}

func (sw *segmentWriter) flush() {
	if len(sw.pend) == 0 || sw.err != nil {
		return
	}
	if !sw.noIndex {
		sw.ix.add(sw.base, &sw.pendH, sw.pos, sw.interval)
	}
	_, sw.err = sw.w.Write(sw.pend)
	sw.pos += int64(len(sw.pend))
	sw.pend = sw.pend[:0]
}

// emit queues batch b with header h (b is copied).
func (sw *segmentWriter) emit(h BatchHeader, b []byte) {
	sw.flush()
	sw.pend = append(sw.pend[:0], b...)
	sw.pendH = h
}

// absorb folds the emptied batch h into the held-back batch if both lack
// a producer id, reporting whether it did.
func (sw *segmentWriter) absorb(h *BatchHeader) bool {
	if len(sw.pend) == 0 || sw.pendH.ProducerID >= 0 || sw.pendH.Control() || sw.pendH.Transactional() {
		return false
	}
	sw.pendH.LastOffsetDelta = int32(h.LastOffset() - sw.pendH.BaseOffset)
	binary.BigEndian.PutUint32(sw.pend[offLastOffsetDelta:], uint32(sw.pendH.LastOffsetDelta))
	putCRC(sw.pend)
	return true
}

// emitEmpty queues batch b (header h) without its records: folded into
// the held-back batch when neither has a producer id, else as an empty
// batch (no records, no codec, maxTimestamp -1). dropProducer also
// takes away its producer fields and its transactional and control
// bits, so that nothing of a transaction whose marker may go is left
// for recovery to reopen it with. out is scratch space, returned.
func (sw *segmentWriter) emitEmpty(out []byte, h *BatchHeader, b []byte, dropProducer bool) []byte {
	nh := *h
	if dropProducer {
		nh.ProducerID, nh.ProducerEpoch, nh.BaseSequence = -1, -1, -1
		nh.Attributes &^= attrTransactional | attrControl
	}
	if nh.ProducerID < 0 && sw.absorb(&nh) {
		return out
	}
	nh.Attributes &^= attrCodecMask
	nh.Length = BatchHeaderLen - batchLengthOverhead
	nh.NumRecords = 0
	nh.MaxTimestamp = -1
	out = append(out[:0], b[:BatchHeaderLen]...)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(nh.Length))
	be.PutUint32(out[offRecordCount:], 0)
	be.PutUint64(out[offProducerID:], uint64(nh.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(nh.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(nh.BaseSequence))
	putAttributes(out, nh.Attributes)
	putMaxTimestamp(out, nh.MaxTimestamp)
	putCRC(out)
	sw.emit(nh, out)
	return out
}

// cleanSegment rewrites s without what m and the tombstone rule drop and
// swaps the result in. It returns the sizes before and after (after is -1
// if nothing needed dropping) and the bytes read.
func (l *Log) cleanSegment(s *segment, m *offsetMap, tx *txnClean, now time.Time, cfg *Config, opts CleanOptions) (before, after, read int64, err error) {
	before, after = s.size.Load(), -1
	path := s.path
	f, err := l.fs.OpenFile(path+logExt+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return before, after, 0, storageErr(err)
	}
	keepFile := false
	defer func() {
		if !keepFile {
			f.Close()
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				if rerr := l.fs.Remove(path + ext + cleanedSuffix); rerr != nil && !vfs.IsNotExist(rerr) {
					l.logger.Warn("removing cleaned file", "file", filepath.Base(path+ext+cleanedSuffix), "error", rerr)
				}
			}
		}
	}()
	sw := &segmentWriter{base: s.base, interval: cfg.IndexIntervalBytes, w: bufio.NewWriterSize(fileWriter{f}, 1<<20), ix: newIndexer()}
	tx.removed = tx.removed[:0]
	c := newBatchCleaner(m, tx, cfg, now, opts.pacer)
	read, err = l.forEachBatch(s, opts, func(h *BatchHeader, b []byte, _ int64) error {
		return c.clean(sw, h, b)
	})
	if err != nil {
		return before, after, read, err
	}
	if !c.changed {
		return before, after, read, nil
	}
	sw.flush()
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return before, after, read, storageErr(sw.err)
	}
	sw.ix.maybeAppendTime(s.base)
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if err := appendToFile(l.fs, path+indexExt+cleanedSuffix, flag, sw.ix.idx, 0, true); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := appendToFile(l.fs, path+timeIndexExt+cleanedSuffix, flag, sw.ix.tidx, 0, true); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := f.Sync(); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := l.cleanHook("cleaned"); err != nil {
		return before, after, read, err
	}
	// Step 2: commit.
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if err := l.fs.Rename(path+ext+cleanedSuffix, path+ext+swapSuffix); err != nil {
			return before, after, read, storageErr(err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return before, after, read, storageErr(err)
	}
	keepFile = true
	if len(tx.removed) > 0 {
		// Their abort markers are about to go, and the batches before
		// them went in earlier cleans: a read_committed consumer told
		// of the transaction would skip the producer's batches until a
		// marker that never comes. Dropped before the swap, so that no
		// fetch reads the new segment and then the old list; a fetch of
		// the old segment meanwhile finds no data of them to skip.
		l.mu.Lock()
		l.txns.aborted = slices.DeleteFunc(l.txns.aborted, func(a AbortedTxn) bool {
			return slices.ContainsFunc(tx.removed, func(r AbortedTxn) bool {
				return r.ProducerID == a.ProducerID && r.LastOffset == a.LastOffset
			})
		})
		l.mu.Unlock()
	}
	if err := l.swapIn(s, f, sw, now); err != nil {
		return before, after, read, err
	}
	return before, sw.pos, read, nil
}
