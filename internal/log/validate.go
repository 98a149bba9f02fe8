package log

import (
	"fmt"
	"math"
)

// validateBatch checks that b, the records of one partition from a
// ProduceRequest, is exactly one well-formed v2 batch acceptable under cfg at
// time now (Unix ms). It returns the batch's header.
//
// For CreateTime topics it also corrects, in place, what Kafka's validator
// would rewrite: a maxTimestamp that is not the largest record timestamp,
// and a LogAppendTime attribute set by the producer; the CRC is then
// recomputed. Uncompressed batches are walked without allocating;
// compressed ones are decompressed into a pooled buffer.
func validateBatch(b []byte, cfg *Config, now int64) (BatchHeader, error) {
	if len(b) == 0 {
		return BatchHeader{}, invalidf("no record batch")
	}
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if err := checkFraming(h, int64(len(b))); err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, invalidf("%d bytes after the record batch (exactly one batch is allowed)", len(b)-h.Size())
	}
	if int64(len(b)) > int64(cfg.MaxMessageBytes) {
		return h, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(b), cfg.MaxMessageBytes)
	}
	if err := checkCRC(b); err != nil {
		return h, err
	}
	switch {
	case h.NumRecords < 1:
		return h, invalidf("record count %d", h.NumRecords)
	case h.LastOffsetDelta != h.NumRecords-1:
		return h, invalidf("lastOffsetDelta %d with %d records", h.LastOffsetDelta, h.NumRecords)
	case h.Control():
		return h, invalidf("producers may not write control batches")
	case h.Attributes&attrDeleteHorizon != 0:
		// The cleaner's mark (KIP-534): trusted, it would let the
		// first clean drop the batch's tombstones at once.
		return h, invalidf("producers may not set the delete horizon attribute")
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return h, invalidf("producer id %d without a base sequence", h.ProducerID)
	case h.Transactional() && h.ProducerID < 0:
		return h, invalidf("transactional batch without a producer id")
	}

	createTime := cfg.TimestampType == CreateTime
	w := tsWalker{firstTs: h.FirstTimestamp, baseOffset: h.BaseOffset, maxTs: h.MaxTimestamp, requireKey: cfg.Compact,
		producerLAT: !createTime && h.LogAppendTime(), checkBounds: createTime &&
			(cfg.TimestampBeforeMaxMs < math.MaxInt64 || cfg.TimestampAfterMaxMs < math.MaxInt64)}
	if w.checkBounds {
		w.lo = satAdd(now, -max(cfg.TimestampBeforeMaxMs, 0))
		w.hi = satAdd(now, max(cfg.TimestampAfterMaxMs, 0))
	}
	data, err := decompress(b[BatchHeaderLen:], h.Compression(), true, decompressLimit(int64(cfg.MaxMessageBytes)))
	if err != nil {
		return h, err
	}
	if !w.scannable() || !scanRecords(data, h.NumRecords, &w) {
		// Also the slow path's exact error for a batch scanRecords
		// refused (it stops at the first problem without saying which).
		err = walkRecords(data, h.NumRecords, w.visit)
	}
	if h.Compression() != CodecNone {
		putDecompressBuf(data)
	}
	if err != nil {
		return h, err
	}
	if w.errs != nil {
		return h, w.errs
	}

	if createTime && (h.MaxTimestamp != w.maxTs || h.LogAppendTime()) {
		h.MaxTimestamp = w.maxTs
		h.Attributes &^= attrLogAppendTime
		putMaxTimestamp(b, h.MaxTimestamp)
		putAttributes(b, h.Attributes)
		putCRC(b)
		h.CRC = batchCRC(b)
	}
	return h, nil
}

// tsWalker is the per-record validation: offset deltas in order, the
// largest timestamp, and optionally each CreateTime within [lo, hi] and a
// key on every record. Bad keys and timestamps do not stop the walk: like
// Kafka's LogValidator it checks every record and lists the bad ones in
// errs (a key error first, as Kafka checks the key before the timestamp).
type tsWalker struct {
	// The batch's, by value: w.errs is returned, and a pointer in w
	// would move the header to the heap.
	firstTs, baseOffset int64
	next                int32
	maxTs               int64
	checkBounds         bool
	lo, hi              int64
	requireKey          bool // compacted topic: every record needs a key
	// producerLAT: the producer marked its batch LogAppendTime on a
	// LogAppendTime topic, which Kafka refuses record by record.
	producerLAT bool
	errs        *RecordErrors
}

func (w *tsWalker) visit(r rawRecord) error {
	if r.offsetDelta != w.next {
		return invalidf("record %d has offset delta %d", w.next, r.offsetDelta)
	}
	i := w.next
	ts := w.firstTs + r.timestampDelta
	if w.producerLAT {
		// Its records' timestamp is the batch's maxTimestamp, kept.
		w.next++
		if w.requireKey && r.key == nil {
			w.fail(recordErr{index: i})
		} else {
			w.fail(recordErr{index: i, kind: errLogAppendTime, ts: w.maxTs, offset: w.baseOffset + int64(r.offsetDelta),
				keyLen: len(r.key), valueLen: len(r.value)})
		}
		return nil
	}
	if i == 0 || ts > w.maxTs {
		w.maxTs = ts
	}
	w.next++
	switch {
	case w.requireKey && r.key == nil:
		w.fail(recordErr{index: i})
	// -1 means "no timestamp", which Kafka lets through.
	case w.checkBounds && ts != -1 && (ts < w.lo || ts > w.hi):
		w.fail(recordErr{index: i, kind: errTimestamp, ts: ts, offset: w.baseOffset + int64(r.offsetDelta)})
	}
	return nil
}

// scannable reports whether scanRecords may do the walk: every case but
// a producer's LogAppendTime batch on a LogAppendTime topic, which fails
// record by record.
func (w *tsWalker) scannable() bool { return !w.producerLAT }

// scanRecords is walkRecords with w.visit for the common case (scannable)
// in one loop, with no call per record: it checks the same structure
// (every length within its record, every record used up exactly, data
// used up exactly, offset deltas 0, 1, 2, ...), the key on a compacted
// topic and the timestamp bounds, and sets w.maxTs and w.next. On any
// problem it returns false without touching w, and the caller walks again
// with walkRecords for the error (and every bad record's).
func scanRecords(data []byte, n int32, w *tsWalker) bool {
	i := 0
	maxTs := w.maxTs
	requireKey, checkBounds, lo, hi := w.requireKey, w.checkBounds, w.lo, w.hi
	for k := int32(0); k < n; k++ {
		length, j := zz(data, i)
		if j < 0 || length < 1 || length > int64(len(data)-j) {
			return false
		}
		end := j + int(length)
		rec := data[:end]
		j++ // attributes
		tsDelta, j := zz(rec, j)
		if j < 0 {
			return false
		}
		offDelta, j := zz(rec, j)
		if j < 0 || offDelta != int64(k) {
			return false
		}
		for f := range 2 { // key, value: nullable
			l, jj := zz(rec, j)
			if jj < 0 || l < -1 || l > int64(end-jj) || (f == 0 && l < 0 && requireKey) {
				return false
			}
			j = jj + max(int(l), 0)
		}
		nh, j := zz(rec, j)
		if j < 0 || nh < 0 || nh > int64(end-j) {
			return false
		}
		for range nh {
			l, jj := zz(rec, j) // header key: not null
			if jj < 0 || l < 0 || l > int64(end-jj) {
				return false
			}
			j = jj + int(l)
			l, jj = zz(rec, j) // header value: nullable
			if jj < 0 || l < -1 || l > int64(end-jj) {
				return false
			}
			j = jj + max(int(l), 0)
		}
		if j != end {
			return false
		}
		ts := w.firstTs + tsDelta
		// -1 means "no timestamp", which Kafka lets through.
		if checkBounds && ts != -1 && (ts < lo || ts > hi) {
			return false
		}
		if k == 0 || ts > maxTs {
			maxTs = ts
		}
		i = end
	}
	if i != len(data) {
		return false
	}
	w.maxTs, w.next = maxTs, max(n, 0)
	return true
}

// zz decodes the zig-zag varint at b[i:], returning the index after it,
// or -1 when b ends first or the varint overflows 64 bits (as
// binary.Varint). Small enough to inline.
func zz(b []byte, i int) (int64, int) {
	var u uint64
	for s := uint(0); s < 64; s += 7 {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		if c < 0x80 {
			if s == 63 && c > 1 {
				return 0, -1
			}
			u |= uint64(c) << s
			return int64(u>>1) ^ -int64(u&1), i
		}
		u |= uint64(c&0x7f) << s
	}
	return 0, -1
}

func (w *tsWalker) fail(r recordErr) {
	if w.errs == nil {
		w.errs = &RecordErrors{lo: w.lo, hi: w.hi}
	}
	w.errs.add(r)
}

// satAdd returns a+b, saturating instead of overflowing.
func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}
