package group

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeBatch encodes recs as one uncompressed Kafka v2 record batch, with
// base offset 0 (the log assigns offsets), no producer (id -1, epoch -1,
// sequence -1), every record timestamped ts (milliseconds), CRC-32C over
// attributes..end:
//
//	baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2)
//	| crc uint32 | attributes int16 | lastOffsetDelta int32 | firstTimestamp int64
//	| maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32
//	| recordCount int32 | records
//
// and each record: length varint | attributes int8 | timestampDelta varint |
// offsetDelta varint | keyLength varint | key | valueLength varint (-1: null)
// | value | headerCount varint (0).
func EncodeBatch(recs []Record, ts int64) []byte {
	return encodeBatch(recs, ts, -1, -1, 0)
}

// EncodeTxnBatch is EncodeBatch for records written in producer pid's
// transaction (TxnOffsetCommit): transactional attribute (0x10) set,
// producer id and epoch filled in and base sequence 0, as Kafka's group
// coordinator writes them; the transaction's marker decides them.
func EncodeTxnBatch(recs []Record, ts int64, pid int64, epoch int16) []byte {
	return encodeBatch(recs, ts, pid, epoch, attrTransactional)
}

const attrTransactional = 0x10

func encodeBatch(recs []Record, ts int64, pid int64, epoch int16, attrs uint16) []byte {
	const headerLen = 61
	b := make([]byte, headerLen, headerLen+64*len(recs))
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
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1; the log sets it
	b[16] = 2
	be.PutUint16(b[21:], attrs)
	be.PutUint32(b[23:], uint32(max(len(recs)-1, 0)))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	seq := int32(-1)
	if pid >= 0 {
		seq = 0
	}
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(len(recs)))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func appendVarBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}
