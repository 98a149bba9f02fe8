package log

// OffsetForTimestamp returns the offset and timestamp of the first record
// at or after the log start offset whose timestamp is >= ts, or (-1, -1,
// nil) if there is none. Records of LogAppendTime batches carry the
// batch's maxTimestamp. Records below the log start offset (DeleteRecords
// may leave some in the first segment) are never answered: as Kafka's
// findOffsetByTimestamp from the log start offset, the search goes on
// after them.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	if l.notCreated() {
		return -1, -1, nil
	}
	if err := l.enter(); err != nil {
		return 0, 0, err
	}
	defer l.leave()
	type candidate struct {
		seg   *segment
		limit int64
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, ErrClosed
	}
	lso := l.lso.Load()
	var cands []candidate
	for i, s := range l.segs {
		end := l.next
		if i+1 < len(l.segs) {
			end = l.segs[i+1].base
		}
		if end <= lso {
			continue // wholly below the log start offset, about to go
		}
		if m, _ := s.maxTimestamp(); m != noTimestamp && m >= ts {
			s.pin()
			cands = append(cands, candidate{s, s.size.Load()})
			if s.base >= lso {
				break // the answer is in it: no record to skip
			}
		}
	}
	l.mu.RUnlock()
	defer func() {
		for _, c := range cands {
			c.seg.release()
		}
	}()
	for _, c := range cands {
		if err := c.seg.ensureLoaded(l.logger, l.cfg.Load().IndexIntervalBytes); err != nil {
			return -1, -1, storageErr(err)
		}
		at := c.seg.lookupTime(ts)
		off, rts, err := l.firstRecordFrom(c.seg, c.limit, max(at, lso), ts, lso > at)
		if err != nil || off >= 0 {
			return off, rts, err
		}
	}
	return -1, -1, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp, the first one if several share it (KIP-734), or
// (-1, -1, nil) if the log is empty.
func (l *Log) MaxTimestamp() (offset, timestamp int64, err error) {
	if l.notCreated() {
		return -1, -1, nil
	}
	if err := l.enter(); err != nil {
		return 0, 0, err
	}
	defer l.leave()
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
		seg.pin()
	}
	l.mu.RUnlock()
	if seg == nil {
		return -1, -1, nil
	}
	defer seg.release()
	if err := seg.ensureLoaded(l.logger, l.cfg.Load().IndexIntervalBytes); err != nil {
		return -1, -1, storageErr(err)
	}
	return l.firstRecordFrom(seg, limit, at, best, false)
}

// firstRecordFrom returns the first record of seg at or after offset from
// whose timestamp is >= ts. The caller knows one exists below limit, and
// at or after from unless clamped (from was raised past where the time
// index puts the first such record): then there may be none, (-1, -1,
// nil).
func (l *Log) firstRecordFrom(seg *segment, limit, from, ts int64, clamped bool) (int64, int64, error) {
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
			if h.LogAppendTime() && h.BaseOffset >= from {
				return h.BaseOffset, h.MaxTimestamp, nil
			}
			b, err := r.at(pos, h.Size())
			if err != nil {
				return -1, -1, l.readErr(seg, pos, err)
			}
			off, rts, err := firstRecordAtLeast(&h, b, from, ts, maxMessageBytes)
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
	if clamped {
		return -1, -1, nil
	}
	return -1, -1, l.readErr(seg, pos, corruptf("no record with timestamp >= %d below position %d", ts, limit))
}

// firstRecordAtLeast returns the offset and timestamp of the first record of
// batch b (header h) at or after offset from with timestamp >= ts, or -1. The batch was validated
// under a max.message.bytes of at least its size; maxMessageBytes is the
// log's current one.
func firstRecordAtLeast(h *BatchHeader, b []byte, from, ts int64, maxMessageBytes int32) (int64, int64, error) {
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
		if t, o := recordTimestamp(h, &r), h.BaseOffset+int64(r.offsetDelta); t >= ts && o >= from {
			off, found = o, t
			return errStopWalk
		}
		return nil
	})
	if err != nil {
		return -1, -1, corruptf("stored batch at offset %d: %v", h.BaseOffset, err)
	}
	return off, found, nil
}
