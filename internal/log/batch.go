package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// A Kafka v2 record batch, as stored in a .log file and sent on the wire.
// All integers are big-endian. The header is BatchHeaderLen bytes:
//
//	off  width  field
//	  0   8     baseOffset            i64  offset of the first record (set by the log)
//	  8   4     batchLength           i32  bytes after this field (batch size - 12)
//	 12   4     partitionLeaderEpoch  i32  set by the log
//	 16   1     magic                 i8   always 2
//	 17   4     crc                   u32  CRC-32C of bytes [21:end)
//	 21   2     attributes            i16  bits 0-2 codec, 3 LogAppendTime, 4 transactional, 5 control,
//	                                          6 delete horizon (KIP-534: firstTimestamp is it)
//	 23   4     lastOffsetDelta       i32  recordCount-1
//	 27   8     firstTimestamp        i64
//	 35   8     maxTimestamp          i64
//	 43   8     producerId            i64  -1 if not idempotent
//	 51   2     producerEpoch         i16
//	 53   4     baseSequence          i32
//	 57   4     recordCount           i32
//	 61   ...   records, compressed as a whole when codec != 0
//
// Each record is: length varint (bytes after it), attributes i8,
// timestampDelta varlong, offsetDelta varint, keyLength varint (-1 = null),
// key, valueLength varint (-1 = null), value, headerCount varint, then per
// header keyLength varint, key, valueLength varint (-1 = null), value. Varints
// are zig-zag encoded.
const BatchHeaderLen = 61

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// batchLengthOverhead is the part of the batch batchLength does not
	// count: baseOffset and batchLength itself.
	batchLengthOverhead = 12
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	// attrDeleteHorizon (KIP-534): set by the cleaner, firstTimestamp is
	// the batch's delete horizon and record timestamp deltas count from
	// it, so that records keep their timestamps.
	attrDeleteHorizon = 0x40
)

// Compression codecs, as in attributes & 7.
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLz4    int8 = 3
	CodecZstd   int8 = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed-size header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ParseBatchHeader decodes the first BatchHeaderLen bytes of b. It checks
// neither the CRC nor any field's value.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderLen {
		return BatchHeader{}, corruptf("batch header needs %d bytes, have %d", BatchHeaderLen, len(b))
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the number of bytes the whole batch occupies.
func (h BatchHeader) Size() int { return batchLengthOverhead + int(h.Length) }

// Compression is the codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether the batch's timestamps are the broker's
// append time (then every record's timestamp is MaxTimestamp).
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds control records.
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// DeleteHorizon returns the batch's delete horizon (KIP-534), set by the
// cleaner, and whether it has one.
func (h BatchHeader) DeleteHorizon() (int64, bool) {
	return h.FirstTimestamp, h.Attributes&attrDeleteHorizon != 0
}

// LastSequence is the sequence number of the batch's last record. Sequences
// wrap from MaxInt32 to 0, as in Kafka; a batch without sequence (-1) has
// last sequence -1.
func (h BatchHeader) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return addSequence(h.BaseSequence, h.LastOffsetDelta)
}

// addSequence returns seq+n with Kafka's wraparound from MaxInt32 to 0.
func addSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// batchCRC computes the CRC a batch should carry.
func batchCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// checkCRC verifies b's stored CRC.
func checkCRC(b []byte) error {
	want := binary.BigEndian.Uint32(b[offCRC:])
	if got := batchCRC(b); got != want {
		return corruptf("CRC mismatch: stored %#08x, computed %#08x", want, got)
	}
	return nil
}

// checkFraming checks the header fields every stored or produced batch must
// satisfy, given the header and the number of bytes available from its
// start: magic 2, a batchLength covering at least the header, and a size
// that fits in avail.
func checkFraming(h BatchHeader, avail int64) error {
	if h.Magic != 2 {
		return fmt.Errorf("%w: %w: magic %d", ErrCorrupt, ErrUnsupportedMagic, h.Magic)
	}
	if h.Length < BatchHeaderLen-batchLengthOverhead {
		return corruptf("batchLength %d shorter than the header", h.Length)
	}
	if int64(h.Size()) > avail {
		return corruptf("batch of %d bytes truncated to %d", h.Size(), avail)
	}
	return nil
}

// Header field setters, used by the log to rewrite the fields it owns.

func putBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }
func putLeaderEpoch(b []byte, e int32)  { binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e)) }
func putAttributes(b []byte, a int16)   { binary.BigEndian.PutUint16(b[offAttributes:], uint16(a)) }
func putMaxTimestamp(b []byte, ts int64) {
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
}
func putCRC(b []byte) { binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b)) }
