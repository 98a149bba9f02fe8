package log

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is >= ts, or (-1, -1, nil) if there is none. Records of
// LogAppendTime batches carry the batch's maxTimestamp.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, ErrClosed
	}
	var seg *segment
	for _, s := range l.segs {
		if m, _ := s.maxTimestamp(); m != noTimestamp && m >= ts {
			seg = s
			break
		}
	}
	var limit int64
	if seg != nil {
		limit = seg.size.Load()
	}
	l.mu.RUnlock()
	if seg == nil {
		return -1, -1, nil
	}
	if err := seg.ensureLoaded(l.logger, l.cfg.Load().IndexIntervalBytes); err != nil {
		return -1, -1, storageErr(err)
	}
	return l.firstRecordFrom(seg, limit, seg.lookupTime(ts), ts)
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp, the first one if several share it (KIP-734), or
// (-1, -1, nil) if the log is empty.
func (l *Log) MaxTimestamp() (offset, timestamp int64, err error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, ErrClosed
	}
	var seg *segment
	best, at := int64(noTimestamp), int64(-1)
	for _, s := range l.segs {
		if m, o := s.maxTimestamp(); m > best {
			seg, best, at = s, m, o
		}
	}
	var limit int64
	if seg != nil {
		limit = seg.size.Load()
	}
	l.mu.RUnlock()
	if seg == nil {
		return -1, -1, nil
	}
	if err := seg.ensureLoaded(l.logger, l.cfg.Load().IndexIntervalBytes); err != nil {
		return -1, -1, storageErr(err)
	}
	return l.firstRecordFrom(seg, limit, at, best)
}

// firstRecordFrom returns the first record of seg at or after the batch with
// base offset from whose timestamp is >= ts. The caller knows one exists
// below limit.
func (l *Log) firstRecordFrom(seg *segment, limit, from, ts int64) (int64, int64, error) {
	r, buf := pooledWindow(seg.log, limit)
	defer readWindows.Put(buf)
	maxMessageBytes := l.cfg.Load().MaxMessageBytes
	next, pos := seg.lookupOffset(from)
	for pos < limit {
		h, err := r.header(pos)
		if err != nil {
			return -1, -1, l.readErr(seg, pos, err)
		}
		if h.BaseOffset != next {
			return -1, -1, l.readErr(seg, pos, corruptf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next))
		}
		if h.LastOffset() >= from && h.MaxTimestamp >= ts {
			if h.LogAppendTime() {
				return h.BaseOffset, h.MaxTimestamp, nil
			}
			b, err := r.at(pos, h.Size())
			if err != nil {
				return -1, -1, l.readErr(seg, pos, err)
			}
			off, rts, err := firstRecordAtLeast(&h, b, ts, maxMessageBytes)
			if err != nil {
				return -1, -1, l.readErr(seg, pos, err)
			}
			if off >= 0 {
				return off, rts, nil
			}
		}
		pos += int64(h.Size())
		next = h.LastOffset() + 1
	}
	return -1, -1, l.readErr(seg, pos, corruptf("no record with timestamp >= %d below position %d", ts, limit))
}

// firstRecordAtLeast returns the offset and timestamp of the first record of
// batch b (header h) with timestamp >= ts, or -1. The batch was validated
// under a max.message.bytes of at least its size; maxMessageBytes is the
// log's current one.
func firstRecordAtLeast(h *BatchHeader, b []byte, ts int64, maxMessageBytes int32) (int64, int64, error) {
	limit := decompressLimit(max(int64(maxMessageBytes), int64(len(b))))
	data, err := decompress(b[BatchHeaderLen:], h.Compression(), true, limit)
	if err != nil {
		return -1, -1, err
	}
	if h.Compression() != CodecNone {
		defer putDecompressBuf(data)
	}
	off, found := int64(-1), int64(-1)
	err = walkRecords(data, h.NumRecords, func(r rawRecord) error {
		if t := recordTimestamp(h, &r); t >= ts {
			off, found = h.BaseOffset+int64(r.offsetDelta), t
			return errStopWalk
		}
		return nil
	})
	if err != nil {
		return -1, -1, corruptf("stored batch at offset %d: %v", h.BaseOffset, err)
	}
	return off, found, nil
}
