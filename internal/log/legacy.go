package log

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
)

// Legacy message formats (magic 0 and 1), for Produce v0-v2 and Fetch v0-v3.
// The log stores v2 batches only: a legacy message set is converted to one
// v2 batch on produce (UpConvert) and v2 batches are converted back for old
// fetchers (DownConvert), as Kafka does.
//
// A message set is a sequence of entries, each
//
//	off  width  field
//	  0   8     offset       i64  absolute; for a v1 wrapper, the last inner offset
//	  8   4     messageSize  i32  bytes of the message that follows
//	 12   ...   message
//
// and a message is
//
//	  0   4     crc          u32  CRC-32 (IEEE) of the rest of the message
//	  4   1     magic        i8   0 or 1
//	  5   1     attributes   i8   bits 0-2 codec (1 gzip, 2 snappy, 3 lz4),
//	                              bit 3 LogAppendTime (magic 1)
//	  6   8     timestamp    i64  magic 1 only
//	  .   4+n   key          i32 length (-1 = null), bytes
//	  .   4+n   value        i32 length (-1 = null), bytes
//
// so the magic byte sits at offset 16 of an entry, where a v2 batch keeps
// its own. A compressed message (codec != 0) is a wrapper: its value is a
// whole message set of uncompressed inner messages, compressed. Inner
// offsets are absolute in magic 0 and relative (0..n-1, the wrapper holding
// the last record's absolute offset) in magic 1; on produce the broker
// assigns offsets anyway. A magic 1 wrapper with LogAppendTime set gives
// its timestamp to every inner message. Magic 0 messages have no
// timestamp: their records get -1 ("no timestamp"), as in Kafka's
// up-conversion.
//
// LZ4 in magic 0 used a frame whose header checksum covered the frame's
// magic number too (Kafka's old framing bug, fixed for magic 1 by KIP-57):
// Kafka ignores the header checksum of magic 0 lz4 frames it reads and
// writes the broken one when it down-converts to magic 0, and so does
// Sluice (lz4Magic0Readable, lz4Magic0Broken).

// MagicOffset is the position of the magic byte in a v2 batch and in a
// legacy message set entry alike.
const MagicOffset = offMagic

// Sizes of the legacy formats.
const (
	legacyLogOverhead = 12 // offset and messageSize
	legacyV0Overhead  = 14 // crc, magic, attributes, key and value lengths
	legacyV1Overhead  = 22 // v0 plus the timestamp
	legacyAttrLAT     = 0x08
)

// legacyRecord is one record of a legacy message set.
type legacyRecord struct {
	ts         int64
	key, value []byte
}

// legacyMessage is one decoded message.
type legacyMessage struct {
	offset     int64
	magic      int8
	attributes int8
	ts         int64
	key, value []byte
	size       int // of the whole entry, overhead included
}

// parseLegacyEntry decodes the entry at the start of b, verifying its CRC.
func parseLegacyEntry(b []byte) (legacyMessage, error) {
	var m legacyMessage
	if len(b) < legacyLogOverhead {
		return m, corruptf("message set entry needs %d bytes, have %d", legacyLogOverhead, len(b))
	}
	m.offset = int64(binary.BigEndian.Uint64(b))
	size := int32(binary.BigEndian.Uint32(b[8:]))
	if size < legacyV0Overhead {
		return m, corruptf("message size %d is less than the minimum message overhead (%d)", size, legacyV0Overhead)
	}
	if int64(size) > int64(len(b)-legacyLogOverhead) {
		return m, corruptf("message of %d bytes with %d left", size, len(b)-legacyLogOverhead)
	}
	msg := b[legacyLogOverhead : legacyLogOverhead+int(size)]
	m.size = legacyLogOverhead + int(size)
	if got, want := crc32.ChecksumIEEE(msg[4:]), binary.BigEndian.Uint32(msg); got != want {
		return m, corruptf("message is corrupt (stored crc = %d, computed crc = %d)", want, got)
	}
	m.magic, m.attributes = int8(msg[4]), int8(msg[5])
	i := 6
	switch m.magic {
	case 0:
		m.ts = -1
	case 1:
		if len(msg) < legacyV1Overhead {
			return m, corruptf("message size %d is less than the minimum v1 message overhead (%d)", size, legacyV1Overhead)
		}
		m.ts = int64(binary.BigEndian.Uint64(msg[6:]))
		i = 14
	default:
		return m, corruptf("%w: message magic %d", ErrUnsupportedMagic, m.magic)
	}
	var ok bool
	if m.key, i, ok = legacyBytes(msg, i); !ok {
		return m, corruptf("bad message key")
	}
	if m.value, i, ok = legacyBytes(msg, i); !ok {
		return m, corruptf("bad message value")
	}
	if i != len(msg) {
		return m, corruptf("%d bytes after the message value", len(msg)-i)
	}
	return m, nil
}

// legacyBytes decodes the i32-length-prefixed nullable bytes at b[i:].
func legacyBytes(b []byte, i int) ([]byte, int, bool) {
	if len(b)-i < 4 {
		return nil, i, false
	}
	n := int32(binary.BigEndian.Uint32(b[i:]))
	i += 4
	if n == -1 {
		return nil, i, true
	}
	if n < 0 || int64(n) > int64(len(b)-i) {
		return nil, i, false
	}
	return b[i : i+int(n) : i+int(n)], i + int(n), true
}

// walkLegacy decodes the legacy message set b and calls fn for each of
// its records, in order; the record's key and value are only valid during
// the call. Compressed wrappers are decompressed (at most limit bytes);
// their inner messages must be uncompressed, of the wrapper's magic, and
// there may be only one wrapper. Every entry must be at most maxEntry
// bytes. It returns the set's codec and magic.
func walkLegacy(b []byte, maxEntry int64, limit int, fn func(legacyRecord)) (codec, magic int8, err error) {
	if len(b) == 0 {
		return 0, 0, invalidf("no record batch")
	}
	magic = -1
	n := 0
	for len(b) > 0 {
		m, err := parseLegacyEntry(b)
		if err != nil {
			return 0, 0, err
		}
		b = b[m.size:]
		if int64(m.size) > maxEntry {
			return 0, 0, fmt.Errorf("%w: message of %d bytes, limit %d", ErrMessageTooLarge, m.size, maxEntry)
		}
		if magic >= 0 && m.magic != magic {
			return 0, 0, invalidf("batch magic %d is not the same as the first batch's magic byte %d", m.magic, magic)
		}
		magic = m.magic
		c := m.attributes & attrCodecMask
		if c == CodecNone {
			if codec != CodecNone {
				return 0, 0, invalidf("compressed outer record has more than one batch")
			}
			fn(legacyRecord{ts: m.ts, key: m.key, value: m.value})
			n++
			continue
		}
		if n > 0 || len(b) > 0 {
			return 0, 0, invalidf("compressed outer record has more than one batch")
		}
		if c != CodecGzip && c != CodecSnappy && c != CodecLz4 {
			return 0, 0, invalidf("invalid wrapper compression codec %d for message magic %d", c, magic)
		}
		codec = c
		if m.value == nil {
			return 0, 0, invalidf("compressed wrapper message without a value")
		}
		value := m.value
		if c == CodecLz4 && magic == 0 {
			value = lz4Magic0Readable(value)
		}
		data, err := decompress(value, c, true, limit)
		if err != nil {
			return 0, 0, err
		}
		n, err = walkLegacyInner(data, &m, fn)
		putDecompressBuf(data)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			return 0, 0, invalidf("compressed wrapper message with no inner messages")
		}
	}
	return codec, magic, nil
}

// walkLegacyInner calls fn for each message of inner, the decompressed
// value of the wrapper w, and returns how many there were.
func walkLegacyInner(inner []byte, w *legacyMessage, fn func(legacyRecord)) (int, error) {
	n := 0
	for len(inner) > 0 {
		im, err := parseLegacyEntry(inner)
		if err != nil {
			return n, err
		}
		inner = inner[im.size:]
		if im.magic != w.magic {
			return n, invalidf("inner message magic %d does not match outer magic %d", im.magic, w.magic)
		}
		if im.attributes&attrCodecMask != CodecNone {
			return n, invalidf("compressed outer record should not have an inner record with a compression attribute set")
		}
		ts := im.ts
		if w.magic == 1 && w.attributes&legacyAttrLAT != 0 {
			ts = w.ts
		}
		fn(legacyRecord{ts: ts, key: im.key, value: im.value})
		n++
	}
	return n, nil
}

// UpConvert returns records, the records of one partition from a Produce
// v0-v2 request, as one v2 batch for Append. A legacy (magic 0 or 1)
// message set becomes a batch with the same compression codec and no
// producer id; a v2 batch is returned as is. Bad CRCs and malformed
// messages are ErrCorrupt, unacceptable sets ErrInvalidRecord, messages
// above max.message.bytes ErrMessageTooLarge.
func (l *Log) UpConvert(records []byte) ([]byte, error) {
	if len(records) > MagicOffset && records[MagicOffset] == 2 {
		return records, nil
	}
	cfg := l.cfg.Load()
	return upConvert(records, int64(cfg.MaxMessageBytes), decompressLimit(int64(cfg.MaxMessageBytes)))
}

// upConvert encodes the records straight into the new batch's records
// area, so that a set costs about its decompressed size twice at most.
func upConvert(records []byte, maxMessageBytes int64, limit int) ([]byte, error) {
	var (
		body, rec    []byte
		n            int
		first, maxTs int64
		tooManyOrBig bool
	)
	codec, _, err := walkLegacy(records, maxMessageBytes, limit, func(r legacyRecord) {
		if tooManyOrBig {
			return
		}
		if n == 0 {
			first, maxTs = r.ts, r.ts
		}
		maxTs = max(maxTs, r.ts)
		rec = append(rec[:0], 0) // attributes
		rec = binary.AppendVarint(rec, r.ts-first)
		rec = binary.AppendVarint(rec, int64(n))
		rec = appendVarBytes(rec, r.key)
		rec = appendVarBytes(rec, r.value)
		rec = binary.AppendVarint(rec, 0) // no headers
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
		n++
		tooManyOrBig = n == math.MaxInt32 || len(body) > limit
	})
	if err != nil {
		return nil, err
	}
	if tooManyOrBig {
		return nil, tooLarge(limit)
	}
	h := BatchHeader{Magic: 2, Attributes: int16(codec), LastOffsetDelta: int32(n - 1),
		FirstTimestamp: first, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		NumRecords: int32(n)}
	out := appendBatchHeader(make([]byte, 0, BatchHeaderLen+len(body)), h)
	out, err = compressArea(out, codec, body)
	if err != nil {
		return nil, err
	}
	finishBatch(out)
	return out, nil
}

// appendVarBytes appends b as a v2 record field: varint length (-1 for
// nil), bytes.
func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// appendBatchHeader appends h as a v2 batch header; finishBatch fills in
// the length and CRC once the records follow it.
func appendBatchHeader(dst []byte, h BatchHeader) []byte {
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(h.BaseOffset))
	dst = be.AppendUint32(dst, 0) // length
	dst = be.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, byte(h.Magic))
	dst = be.AppendUint32(dst, 0) // crc
	dst = be.AppendUint16(dst, uint16(h.Attributes))
	dst = be.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = be.AppendUint64(dst, uint64(h.FirstTimestamp))
	dst = be.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = be.AppendUint64(dst, uint64(h.ProducerID))
	dst = be.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(h.BaseSequence))
	return be.AppendUint32(dst, uint32(h.NumRecords))
}

// finishBatch sets the length and CRC of the v2 batch b.
func finishBatch(b []byte) {
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-batchLengthOverhead))
	putCRC(b)
}

// DownConvert appends to dst the v2 batches of src (whole batches, as Read
// returns them for a fetch from offset from) converted to a message set of
// magic 0 or 1, for Fetch v0-v3: control batches are skipped and record
// headers dropped, as Kafka does. A compressed batch becomes one wrapper
// message with the same codec (lz4 for magic 0 in its old framing, see
// above). Uncompressed
// messages below from are left out (Kafka's RecordsUtil.downConvert: old
// consumers expect none), wrappers keep all their records. The first
// converted batch is always appended; later ones only while the result
// stays within maxBytes. zstd cannot be expressed in these formats:
// ErrUnsupportedCompression.
func DownConvert(dst, src []byte, from int64, magic int8, maxBytes int) ([]byte, error) {
	if magic != 0 && magic != 1 {
		return dst, fmt.Errorf("down-conversion to magic %d", magic)
	}
	start := len(dst)
	var conv []byte
	for len(src) > 0 {
		h, err := ParseBatchHeader(src)
		if err != nil {
			return dst, err
		}
		if err := checkFraming(h, int64(len(src))); err != nil {
			return dst, err
		}
		batch := src[:h.Size()]
		src = src[h.Size():]
		if h.Magic != 2 {
			return dst, corruptf("%w: batch magic %d", ErrUnsupportedMagic, h.Magic)
		}
		if h.Control() {
			continue
		}
		if h.Compression() == CodecZstd {
			return dst, fmt.Errorf("%w: zstd batch at offset %d for a magic %d fetch", ErrUnsupportedCompression, h.BaseOffset, magic)
		}
		recs, err := DecodeRecords(batch)
		if err != nil {
			return dst, err
		}
		if len(recs) == 0 {
			continue
		}
		conv, err = downConvertBatch(conv[:0], &h, recs, from, magic)
		if err != nil {
			return dst, err
		}
		if len(conv) == 0 {
			continue
		}
		if len(dst) > start && len(dst)-start+len(conv) > maxBytes {
			break
		}
		dst = append(dst, conv...)
	}
	return dst, nil
}

// downConvertBatch appends the records of the batch h as legacy messages.
func downConvertBatch(dst []byte, h *BatchHeader, recs []Record, from int64, magic int8) ([]byte, error) {
	var attr int8
	if magic == 1 && h.LogAppendTime() {
		attr = legacyAttrLAT
	}
	codec := h.Compression()
	if codec == CodecNone {
		for _, r := range recs {
			if r.Offset >= from {
				dst = appendLegacyMessage(dst, r.Offset, magic, attr, r.Timestamp, r.Key, r.Value)
			}
		}
		return dst, nil
	}
	var inner []byte
	maxTs := int64(-1)
	for _, r := range recs {
		off := r.Offset // absolute in magic 0
		if magic == 1 {
			off = r.Offset - h.BaseOffset
		}
		inner = appendLegacyMessage(inner, off, magic, 0, r.Timestamp, r.Key, r.Value)
		maxTs = max(maxTs, r.Timestamp)
	}
	value, err := compressArea(nil, codec, inner)
	if err != nil {
		return dst, err
	}
	if codec == CodecLz4 && magic == 0 {
		lz4Magic0Broken(value)
	}
	if h.LogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	return appendLegacyMessage(dst, recs[len(recs)-1].Offset, magic, attr|codec, maxTs, nil, value), nil
}

// appendLegacyMessage appends one message set entry.
func appendLegacyMessage(dst []byte, offset int64, magic, attributes int8, ts int64, key, value []byte) []byte {
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(offset))
	sizeAt := len(dst)
	dst = be.AppendUint32(dst, 0)
	crcAt := len(dst)
	dst = be.AppendUint32(dst, 0)
	dst = append(dst, byte(magic), byte(attributes))
	if magic == 1 {
		dst = be.AppendUint64(dst, uint64(ts))
	}
	for _, b := range [][]byte{key, value} {
		if b == nil {
			dst = be.AppendUint32(dst, math.MaxUint32) // -1
		} else {
			dst = be.AppendUint32(dst, uint32(len(b)))
			dst = append(dst, b...)
		}
	}
	be.PutUint32(dst[sizeAt:], uint32(len(dst)-crcAt))
	be.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

// lz4 frames: a 4-byte magic number, the descriptor (FLG, BD, an 8-byte
// content size when FLG bit 3 is set, a 4-byte dictionary id when bit 0 is),
// then a header checksum byte, the second byte of the XXH32 of the
// descriptor. Kafka's magic 0 framing hashed the magic number too.
const lz4FrameMagic = 0x184D2204

// lz4Descriptor returns the length of frame's descriptor, or 0 when frame
// does not start with a whole lz4 frame header.
func lz4Descriptor(frame []byte) int {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != lz4FrameMagic {
		return 0
	}
	n := 2
	if frame[4]&0x08 != 0 {
		n += 8
	}
	if frame[4]&0x01 != 0 {
		n += 4
	}
	if len(frame) < 4+n+1 {
		return 0
	}
	return n
}

// lz4Magic0Readable returns frame, or a copy with its header checksum made
// right: magic 0 frames carry the broken checksum, which Kafka does not
// check.
func lz4Magic0Readable(frame []byte) []byte {
	n := lz4Descriptor(frame)
	if n == 0 {
		return frame
	}
	if hc := byte(xxh32Short(frame[4:4+n]) >> 8); frame[4+n] != hc {
		frame = bytes.Clone(frame)
		frame[4+n] = hc
	}
	return frame
}

// lz4Magic0Broken gives frame the header checksum of Kafka's magic 0
// framing, in place.
func lz4Magic0Broken(frame []byte) {
	if n := lz4Descriptor(frame); n > 0 && 4+n < 16 {
		frame[4+n] = byte(xxh32Short(frame[:4+n]) >> 8)
	}
}

// XXH32 primes.
const (
	xxPrime1 uint32 = 2654435761
	xxPrime2 uint32 = 2246822519
	xxPrime3 uint32 = 3266489917
	xxPrime4 uint32 = 668265263
	xxPrime5 uint32 = 374761393
)

// xxh32Short is XXH32 (seed 0) of b, which must be shorter than 16 bytes:
// all an lz4 frame descriptor needs.
func xxh32Short(b []byte) uint32 {
	h := xxPrime5 + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * xxPrime3
		h = bits.RotateLeft32(h, 17) * xxPrime4
	}
	for _, c := range b {
		h += uint32(c) * xxPrime5
		h = bits.RotateLeft32(h, 11) * xxPrime1
	}
	h ^= h >> 15
	h *= xxPrime2
	h ^= h >> 13
	h *= xxPrime3
	h ^= h >> 16
	return h
}

// OffsetsBefore answers ListOffsets v0 as Kafka's legacyFetchOffsetsBefore
// does: the candidates are each segment's base offset (at least the log
// start offset), timed by its file's modification time, and, when the
// active segment holds data, the log end offset, timed now. Latest (-1)
// starts from the last candidate, earliest (-2) from the first, any other
// timestamp from the last candidate timed at or before it; at most
// maxOffsets candidates are returned from there back, in descending order.
func (l *Log) OffsetsBefore(ts int64, maxOffsets int32) ([]int64, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	type cand struct{ off, ms int64 }
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	segs := make([]*segment, len(l.segs))
	copy(segs, l.segs)
	end, start := l.next, l.lso.Load()
	lastHasData := l.active().size.Load() > 0
	l.mu.RUnlock()

	cands := make([]cand, 0, len(segs)+1)
	for _, s := range segs {
		var ms int64 // a segment deleted meanwhile counts as never modified, as in Kafka
		if fi, err := s.log.Stat(); err == nil {
			ms = fi.ModTime().UnixMilli()
		}
		cands = append(cands, cand{max(s.base, start), ms})
	}
	if lastHasData {
		cands = append(cands, cand{end, l.now().UnixMilli()})
	}
	from := len(cands) - 1
	switch ts {
	case -1:
	case -2:
		from = 0
	default:
		for from >= 0 && cands[from].ms > ts {
			from--
		}
	}
	n := min(int(max(maxOffsets, 0)), from+1)
	out := make([]int64, 0, n)
	for i := from; i > from-n; i-- {
		out = append(out, cands[i].off)
	}
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) })
	return out, nil
}
