package log

import "encoding/binary"

// KV is one record for EncodeBatch: a key and a value (nil: null, a
// tombstone).
type KV struct{ Key, Value []byte }

// EncodeBatch encodes recs as one uncompressed v2 record batch (the layout
// is in batch.go), as the broker writes its internal topics: base offset 0
// and partition leader epoch -1 (the log sets both), every record
// timestamped ts (milliseconds), no headers. producerID -1 writes no
// producer (epoch and base sequence -1); otherwise the batch belongs to
// that producer at epoch, base sequence 0, with the transactional
// attribute when transactional (TxnOffsetCommit's records, whose
// transaction's marker decides them, as Kafka's group coordinator writes
// them).
func EncodeBatch(recs []KV, ts int64, producerID int64, epoch int16, transactional bool) []byte {
	h := BatchHeader{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(max(len(recs)-1, 0)),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: int32(len(recs))}
	if producerID >= 0 {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = producerID, epoch, 0
	}
	if transactional {
		h.Attributes |= attrTransactional
	}
	b := appendBatchHeader(make([]byte, 0, BatchHeaderLen+64*len(recs)), h)
	var rec []byte
	for i, r := range recs {
		rec = rec[:0]
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, 0)
		rec = binary.AppendVarint(rec, int64(i))
		rec = appendVarBytes(rec, r.Key)
		rec = appendVarBytes(rec, r.Value)
		rec = binary.AppendVarint(rec, 0) // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	finishBatch(b)
	return b
}
