package log

import (
	"encoding/binary"
	"time"
)

// batchCleaner applies one clean's rules (clean.go) to batches one at a
// time, whatever holds them: a segment (cleanSegment) or a stream of
// batches from elsewhere (Compactor, cluster mode's object-stored logs).
type batchCleaner struct {
	m     *offsetMap
	tx    *txnClean
	cfg   *Config
	pacer *pacer // nil: unpaced
	nowMs int64
	// horizon is the delete horizon this clean gives the tombstones and
	// markers it sees first (KIP-534).
	horizon int64
	// changed: some batch cleaned so far lost or changed something.
	changed bool

	area, rebased, out []byte // scratch
}

func newBatchCleaner(m *offsetMap, tx *txnClean, cfg *Config, now time.Time, p *pacer) *batchCleaner {
	nowMs := now.UnixMilli()
	return &batchCleaner{m: m, tx: tx, cfg: cfg, pacer: p, nowMs: nowMs, horizon: nowMs + cfg.DeleteRetentionMs}
}

// mapBatch puts the keys of the stored batch b (header h) into the
// offset map; the records of aborted transactions are not mapped.
func (c *batchCleaner) mapBatch(h *BatchHeader, b []byte) error {
	if c.m.aborted.has(h) {
		return nil
	}
	return forEachRecord(h, b, c.cfg, func(off int64, r *rawRecord, span []byte) {
		c.pacer.record(len(span))
		if r.key != nil {
			c.m.put(c.m.key(r.key), off)
		}
	})
}

// clean writes the stored batch b (header h) to sw as the clean keeps it:
// whole, re-encoded without what goes, emptied, or folded into the batch
// before (clean.go).
func (c *batchCleaner) clean(sw *segmentWriter, h *BatchHeader, b []byte) error {
	tx, nowMs, horizon := c.tx, c.nowMs, c.horizon
	var err error
	if h.Control() {
		switch tx.marker(h, nowMs) {
		case markerStays:
			sw.emit(*h, b)
		case markerHorizon:
			c.changed = true
			nh := *h
			c.area, err = rebaseRecords(c.area[:0], b[BatchHeaderLen:], h.NumRecords, h.FirstTimestamp, horizon)
			if err != nil {
				return err
			}
			c.out = append(append(c.out[:0], b[:BatchHeaderLen]...), c.area...)
			nh.Length = int32(len(c.out) - batchLengthOverhead)
			binary.BigEndian.PutUint32(c.out[offLength:], uint32(nh.Length))
			setHorizon(c.out, &nh, horizon)
			putCRC(c.out)
			sw.emit(nh, c.out)
		case markerGoes:
			c.changed = true
			if MarkerType(b) == MarkerAbort {
				tx.removed = append(tx.removed, AbortedTxn{ProducerID: h.ProducerID, LastOffset: h.BaseOffset})
			}
			c.out = sw.emitEmpty(c.out, h, b, true)
		}
		return nil
	}
	if h.NumRecords == 0 {
		if h.Transactional() && !tx.keepEmpty(h) {
			c.changed = true
			c.out = sw.emitEmpty(c.out, h, b, true)
			return nil
		}
		sw.emit(*h, b)
		return nil
	}
	c.area = c.area[:0]
	kept := int32(0)
	maxTs := int64(noTimestamp)
	aborted := c.m.aborted.has(h)
	hzn, hasHorizon := h.DeleteHorizon()
	tombstones := false
	err = forEachRecord(h, b, c.cfg, func(off int64, r *rawRecord, span []byte) {
		c.pacer.record(len(span))
		if r.key == nil || aborted {
			return
		}
		if latest, ok := c.m.get(c.m.key(r.key)); ok && latest > off {
			return
		}
		ts := recordTimestamp(h, r)
		if r.value == nil {
			// A tombstone goes once the horizon its batch got from
			// the first clean to see it has passed (KIP-534).
			if hasHorizon && hzn <= nowMs {
				return
			}
			tombstones = true
		}
		c.area = append(c.area, span...)
		kept++
		maxTs = max(maxTs, ts)
	})
	if err != nil {
		return err
	}
	if kept > 0 && h.Transactional() {
		tx.retained[h.ProducerID] = true
	}
	newHorizon := tombstones && !hasHorizon
	switch {
	case newHorizon:
		tx.horizonAt(horizon)
	case tombstones:
		tx.horizonAt(hzn)
	}
	switch {
	case kept == h.NumRecords && !newHorizon:
		sw.emit(*h, b)
	case kept > 0:
		c.changed = true
		nh := *h
		c.out = append(c.out[:0], b[:BatchHeaderLen]...)
		if newHorizon {
			if c.rebased, err = rebaseRecords(c.rebased[:0], c.area, kept, h.FirstTimestamp, horizon); err != nil {
				return err
			}
			c.area, c.rebased = c.rebased, c.area
			setHorizon(c.out, &nh, horizon)
		}
		if c.out, err = compressArea(c.out, h.Compression(), c.area); err != nil {
			return err
		}
		nh.Length = int32(len(c.out) - batchLengthOverhead)
		nh.NumRecords = kept
		if !h.LogAppendTime() {
			nh.MaxTimestamp = maxTs
		}
		be := binary.BigEndian
		be.PutUint32(c.out[offLength:], uint32(nh.Length))
		be.PutUint32(c.out[offRecordCount:], uint32(nh.NumRecords))
		putMaxTimestamp(c.out, nh.MaxTimestamp)
		putCRC(c.out)
		sw.emit(nh, c.out)
	default:
		c.changed = true
		c.out = sw.emitEmpty(c.out, h, b, h.Transactional() && !tx.keepEmpty(h))
	}
	return nil
}
