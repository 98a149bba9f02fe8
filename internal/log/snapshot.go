package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// A producer state snapshot, <20-digit offset>.snapshot, holds the
// producer state after every batch below that offset. Big-endian, version 2
// (version 1 is the same without the transaction fields at the end):
//
//	off width field
//	  0  2    version    u16  2
//	  2  4    crc        u32  CRC-32C (Castagnoli) of bytes [6:end)
//	  6  4    count      u32  number of producer entries
//	 10  ...  entries, by ascending producer id, each:
//	          producerId      i64
//	          epoch           i16
//	          lastSequence    i32
//	          lastTimestamp   i64
//	          batchCount      u8   0..5
//	          batchCount times, oldest first (20 bytes each):
//	            firstSequence   i32
//	            lastSequence    i32
//	            firstOffset     i64
//	            lastOffsetDelta i32
//
// Version 2 (transactions) appends, after the entries and covered by the
// CRC:
//
//	openCount       u32  open transactions, by ascending producer id, each:
//	  producerId    i64
//	  firstOffset   i64
//	abortedCount    u32  aborted transactions, by marker offset, each:
//	  producerId    i64
//	  firstOffset   i64
//	  lastOffset    i64  offset of the abort marker
//
// Version 1 snapshots are still read: they have no transaction state
// (transactional writes were refused when they were written). Only
// version 2 is written.
//
// Snapshots are written with vfs.WriteFileAtomic. One written at a segment
// roll doubles as the recovery point (see recover.go).
const (
	snapshotVersion    = 2
	snapshotHeaderLen  = 10
	snapshotEntryLen   = 8 + 2 + 4 + 8 + 1
	snapshotBatchLen   = 4 + 4 + 8 + 4
	snapshotCRCStarts  = 6
	snapshotCountField = 6
)

func encodeSnapshot(p producerState, t *txnState) []byte {
	ids := make([]int64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	be := binary.BigEndian
	b := make([]byte, snapshotHeaderLen, snapshotHeaderLen+len(ids)*(snapshotEntryLen+maxCachedBatches*snapshotBatchLen))
	be.PutUint16(b, snapshotVersion)
	be.PutUint32(b[snapshotCountField:], uint32(len(ids)))
	for _, id := range ids {
		e := p[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint32(b, uint32(e.lastSeq))
		b = be.AppendUint64(b, uint64(e.lastTimestamp))
		b = append(b, byte(e.n))
		for _, m := range e.batches[:e.n] {
			b = be.AppendUint32(b, uint32(m.firstSeq))
			b = be.AppendUint32(b, uint32(m.lastSeq))
			b = be.AppendUint64(b, uint64(m.firstOffset))
			b = be.AppendUint32(b, uint32(m.lastOffsetDelta))
		}
	}
	open := make([]int64, 0, len(t.open))
	for id := range t.open {
		open = append(open, id)
	}
	slices.Sort(open)
	b = be.AppendUint32(b, uint32(len(open)))
	for _, id := range open {
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint64(b, uint64(t.open[id]))
	}
	b = be.AppendUint32(b, uint32(len(t.aborted)))
	for _, a := range t.aborted {
		b = be.AppendUint64(b, uint64(a.ProducerID))
		b = be.AppendUint64(b, uint64(a.FirstOffset))
		b = be.AppendUint64(b, uint64(a.LastOffset))
	}
	be.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCStarts:], castagnoli))
	return b
}

func decodeSnapshot(b []byte) (producerState, txnState, error) {
	var t txnState
	p, err := decodeSnapshotInto(b, &t)
	return p, t, err
}

func decodeSnapshotInto(b []byte, t *txnState) (producerState, error) {
	be := binary.BigEndian
	if len(b) < snapshotHeaderLen {
		return nil, corruptf("snapshot of %d bytes", len(b))
	}
	version := be.Uint16(b)
	if version != 1 && version != snapshotVersion {
		return nil, corruptf("snapshot version %d", version)
	}
	if want, got := be.Uint32(b[2:]), crc32.Checksum(b[snapshotCRCStarts:], castagnoli); want != got {
		return nil, corruptf("snapshot CRC mismatch: stored %#08x, computed %#08x", want, got)
	}
	count := int(be.Uint32(b[snapshotCountField:]))
	p := make(producerState, min(count, len(b)/snapshotEntryLen))
	b = b[snapshotHeaderLen:]
	for i := range count {
		if len(b) < snapshotEntryLen {
			return nil, corruptf("snapshot entry %d truncated", i)
		}
		id := int64(be.Uint64(b))
		e := &producerEntry{
			epoch:         int16(be.Uint16(b[8:])),
			lastSeq:       int32(be.Uint32(b[10:])),
			lastTimestamp: int64(be.Uint64(b[14:])),
			n:             int(b[22]),
		}
		b = b[snapshotEntryLen:]
		if e.n > maxCachedBatches || len(b) < e.n*snapshotBatchLen {
			return nil, corruptf("snapshot entry %d has %d batches", i, e.n)
		}
		for j := range e.batches[:e.n] {
			e.batches[j] = batchMeta{
				firstSeq:        int32(be.Uint32(b)),
				lastSeq:         int32(be.Uint32(b[4:])),
				firstOffset:     int64(be.Uint64(b[8:])),
				lastOffsetDelta: int32(be.Uint32(b[16:])),
			}
			b = b[snapshotBatchLen:]
		}
		p[id] = e
	}
	if version >= 2 {
		var err error
		if b, err = decodeSnapshotTxns(b, t); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the snapshot's entries", ErrCorrupt, len(b))
	}
	return p, nil
}

// decodeSnapshotTxns reads the version 2 transaction fields into t and
// returns what follows them.
func decodeSnapshotTxns(b []byte, t *txnState) ([]byte, error) {
	be := binary.BigEndian
	if len(b) < 4 {
		return nil, corruptf("snapshot transactions truncated")
	}
	n := int(be.Uint32(b))
	b = b[4:]
	if len(b)/16 < n {
		return nil, corruptf("snapshot has %d open transactions in %d bytes", n, len(b))
	}
	if n > 0 {
		t.open = make(map[int64]int64, n)
	}
	for range n {
		t.open[int64(be.Uint64(b))] = int64(be.Uint64(b[8:]))
		b = b[16:]
	}
	if len(b) < 4 {
		return nil, corruptf("snapshot aborted transactions truncated")
	}
	n = int(be.Uint32(b))
	b = b[4:]
	if len(b)/24 < n {
		return nil, corruptf("snapshot has %d aborted transactions in %d bytes", n, len(b))
	}
	t.aborted = make([]AbortedTxn, 0, n)
	for range n {
		t.aborted = append(t.aborted, AbortedTxn{
			ProducerID:  int64(be.Uint64(b)),
			FirstOffset: int64(be.Uint64(b[8:])),
			LastOffset:  int64(be.Uint64(b[16:])),
		})
		b = b[24:]
	}
	return b, nil
}

// putSnapshotCRC recomputes the CRC field of an encoded snapshot.
func putSnapshotCRC(b []byte) {
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCStarts:], castagnoli))
}
