package log

import (
	"bufio"
	"bytes"
	"fmt"
	"time"
)

// Compactor applies the log cleaner's rules (clean.go) to batches kept
// elsewhere than in this package's segments: cluster mode's object-stored
// logs (internal/objlog), whose index entries each hold a run of stored
// batches. It is the same code as Clean's: Map builds the key map, as
// Clean's first pass; Rewrite rewrites a run of batches, as its second,
// keeping every batch's base offset and the run's end (a batch losing
// every record stays empty or is folded into the batch before it within
// the run), CRCs recomputed.
//
// Differences with a Log's Clean, for a log whose producer state is kept
// outside the log: transaction markers always stay (the aborted list is
// not the log's to prune, and a read_committed consumer told of an
// aborted transaction skips its producer's batches until its marker), and
// no producer's last data batch is singled out to keep its producer
// fields when emptied (the state does not come back from the log).
//
// A Compactor is used by one goroutine.
type Compactor struct {
	c *batchCleaner
}

// NewCompactor returns a Compactor cleaning at now under cfg (its
// delete.retention.ms; its max.message.bytes bounds decompression),
// dropping the records of the aborted transactions aborted.
func NewCompactor(cfg *Config, now time.Time, aborted []AbortedTxn) *Compactor {
	m := newOffsetMap()
	m.aborted = newAbortedSet(aborted)
	// snapFloor 0: every marker stays (see above).
	tx := &txnClean{lastBatch: map[int64]int64{}, retained: map[int64]bool{}, snapFloor: 0, retention: cfg.DeleteRetentionMs}
	return &Compactor{c: newBatchCleaner(m, tx, cfg, now, nil)}
}

// forEachStored calls fn with each CRC-checked batch of batches, whose
// first must start at base.
func forEachStored(batches []byte, base int64, fn func(h *BatchHeader, b []byte) error) error {
	next := base
	for pos := 0; pos < len(batches); {
		h, err := CheckStoredBatch(batches[pos:])
		if err == nil && h.BaseOffset != next {
			err = fmt.Errorf("batch has base offset %d, want %d", h.BaseOffset, next)
		}
		if err == nil && h.Size() <= len(batches)-pos {
			err = checkCRC(batches[pos : pos+h.Size()])
		}
		if err != nil {
			return corruptf("compacting batches from offset %d: at byte %d: %v", base, pos, err)
		}
		b := batches[pos : pos+h.Size()]
		if err := fn(&h, b); err != nil {
			return err
		}
		pos += len(b)
		next = h.LastOffset() + 1
	}
	return nil
}

// Map maps the keys of batches (stored batches in offset order, the
// first at offset base) to the offsets of their newest records. Calls
// follow the log's order.
func (c *Compactor) Map(batches []byte, base int64) error {
	return forEachStored(batches, base, c.c.mapBatch)
}

// Keys is the number of distinct keys mapped.
func (c *Compactor) Keys() int { return c.c.m.len() }

// Rewrite returns batches (stored batches in offset order, the first at
// offset base) as the cleaner keeps them, and whether anything changed
// (if not, out is nil). out starts at base and ends where batches end.
// Calls follow the log's order (the transaction rules see each
// transaction's batches before its marker).
func (c *Compactor) Rewrite(batches []byte, base int64) (out []byte, changed bool, err error) {
	var buf bytes.Buffer
	sw := &segmentWriter{base: base, w: bufio.NewWriter(&buf), noIndex: true}
	c.c.changed = false
	err = forEachStored(batches, base, func(h *BatchHeader, b []byte) error {
		return c.c.clean(sw, h, b)
	})
	if err != nil || !c.c.changed {
		return nil, false, err
	}
	sw.flush()
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return nil, false, sw.err
	}
	return buf.Bytes(), true, nil
}

// NextHorizon is the earliest delete horizon (unix ms) of the tombstones
// and markers the rewritten batches keep, 0 if none: nothing needs a
// clean for them before it.
func (c *Compactor) NextHorizon() int64 { return c.c.tx.nextHorizon }
