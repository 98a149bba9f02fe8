package log

import (
	"encoding/binary"
)

// Transaction markers (control batches) go as in Kafka: once no batch of
// its transaction is left in the log, a marker gets a delete horizon as a
// tombstone does, and a clean after that horizon removes it; and, for
// Sluice's recovery, only if it lies before the oldest producer snapshot:
// a snapshot lists the transactions open at its offset, and recovery
// replays from it, so a marker after it is what closes them.
// Each Clean reads the log from its first segment, so it sees every batch
// of a transaction before the marker. A transactional data batch that
// loses every record loses its producer fields and transactional bit too
// (and so is folded like any producer-less batch), unless it is its
// producer's last data batch, which stays empty for the producer's state,
// as Kafka keeps it; its transaction's marker then stays. Removing an
// abort marker also removes its entry from the aborted list, in memory
// and, by checking each entry's marker on Open, from what snapshots
// written before bring back: a read_committed consumer told of an aborted
// transaction skips its producer's batches until that marker.

// txnClean follows the transactions through one Clean, which reads the
// log from its first segment, to tell when a transaction's marker may go
// (see the top of this file).
type txnClean struct {
	// lastBatch: producer id -> base offset of its last data batch,
	// kept (empty if need be) for the producer's state, as Kafka does.
	lastBatch map[int64]int64
	// retained: producer id -> a data batch of its current transaction
	// stays in the cleaned log.
	retained map[int64]bool
	// snapFloor: the oldest producer snapshot's offset. A snapshot
	// records the transactions open at its offset and recovery replays
	// from it, so a marker at or after it stays: without it the
	// transaction would be open again after a restart.
	snapFloor int64
	// removed: the abort markers the segment being cleaned loses.
	removed []AbortedTxn
	// retention is delete.retention.ms; nextHorizon the earliest delete
	// horizon of what the cleaned log keeps, 0 if none (horizonAt).
	retention, nextHorizon int64
}

// keepEmpty reports whether an emptied transactional data batch h stays
// as an empty batch with its producer fields (it is its producer's last)
// rather than losing them, and notes that its transaction keeps a batch.
func (tx *txnClean) keepEmpty(h *BatchHeader) bool {
	if last, ok := tx.lastBatch[h.ProducerID]; ok && last == h.BaseOffset {
		tx.retained[h.ProducerID] = true
		return true
	}
	return false
}

// What a clean does with a marker.
const (
	markerStays   = iota
	markerHorizon // it gets its delete horizon (KIP-534)
	markerGoes
)

// marker decides for the control batch h (a commit or abort marker) at
// nowMs. It may go once no data batch of its transaction stays and it is
// before every producer snapshot, as a tombstone does: the first clean
// to see it so gives it a delete horizon, delete.retention.ms on, and a
// clean after the horizon removes it.
func (tx *txnClean) marker(h *BatchHeader, nowMs int64) int {
	kept := tx.retained[h.ProducerID]
	delete(tx.retained, h.ProducerID)
	if kept || h.ProducerID < 0 || h.BaseOffset >= tx.snapFloor {
		return markerStays
	}
	hzn, ok := h.DeleteHorizon()
	switch {
	case !ok:
		tx.horizonAt(nowMs + tx.retention)
		return markerHorizon
	case hzn <= nowMs:
		return markerGoes
	}
	tx.horizonAt(hzn)
	return markerStays
}

// horizonAt notes that the cleaned log keeps something (a tombstone or
// marker) due to go at hzn.
func (tx *txnClean) horizonAt(hzn int64) {
	if tx.nextHorizon == 0 || hzn < tx.nextHorizon {
		tx.nextHorizon = hzn
	}
}

// setHorizon gives the batch b (header h) the delete horizon hzn: the
// attribute bit and hzn as its firstTimestamp. Its records must count
// their timestamps from hzn already (rebaseRecords). The caller puts
// the CRC.
func setHorizon(b []byte, h *BatchHeader, hzn int64) {
	h.Attributes |= attrDeleteHorizon
	h.FirstTimestamp = hzn
	putAttributes(b, h.Attributes)
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(hzn))
}

// rebaseRecords appends to dst the n uncompressed records of area with
// their timestampDelta changed from counting from base to counting from
// newBase, so that each keeps its timestamp; the other fields' bytes are
// copied unchanged, the length prefix rewritten.
func rebaseRecords(dst, area []byte, n int32, base, newBase int64) ([]byte, error) {
	for k := int32(0); k < n; k++ {
		length, w := binary.Varint(area)
		if w <= 0 || length < 1 || length > int64(len(area)-w) {
			return dst, corruptf("rebasing record %d: bad length", k)
		}
		body := area[w : w+int(length)]
		area = area[w+int(length):]
		delta, dw := binary.Varint(body[1:])
		if dw <= 0 {
			return dst, corruptf("rebasing record %d: bad timestampDelta", k)
		}
		rest := body[1+dw:]
		var head [1 + binary.MaxVarintLen64]byte
		head[0] = body[0]
		hn := 1 + binary.PutVarint(head[1:], base+delta-newBase)
		dst = binary.AppendVarint(dst, int64(hn+len(rest)))
		dst = append(dst, head[:hn]...)
		dst = append(dst, rest...)
	}
	return dst, nil
}
