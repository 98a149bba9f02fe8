package log

import (
	"encoding/binary"
	"math"
)

// Record is one decoded record of a batch. Key and Value are nil for null
// and may alias the batch passed to DecodeRecords.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one header of a record.
type RecordHeader struct {
	Key   string
	Value []byte
}

// rawRecord is a record as the walker sees it: fields parsed, nothing
// copied. key and value are nil for null; headers holds the raw encoded
// headers, numHeaders of them.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte
	headers        []byte
	numHeaders     int
}

// minRecordSize is the smallest possible encoded record: a 1-byte length
// followed by six 1-byte fields (attributes, timestampDelta, offsetDelta,
// keyLength, valueLength, headerCount).
const minRecordSize = 7

// walkRecords parses the n records encoded back to back in data, which they
// must fill exactly, and calls fn (if not nil) for each; fn may stop the
// walk by returning errStopWalk. It allocates nothing. Structural problems
// are ErrInvalidRecord.
func walkRecords(data []byte, n int32, fn func(rawRecord) error) error {
	var r rawRecord
	i := 0
	for k := int32(0); k < n; k++ {
		length, w := binary.Varint(data[i:])
		if w <= 0 || length < 0 || length > int64(len(data)-i-w) {
			return invalidf("record %d: bad length", k)
		}
		i += w
		body := data[i : i+int(length)]
		i += int(length)
		if err := parseRecord(body, &r); err != nil {
			return invalidf("record %d: %v", k, err)
		}
		if fn != nil {
			if err := fn(r); err != nil {
				if err == errStopWalk {
					return nil
				}
				return err
			}
		}
	}
	if i != len(data) {
		return invalidf("%d bytes after the last of %d records", len(data)-i, n)
	}
	return nil
}

type walkError string

func (e walkError) Error() string { return string(e) }

// errStopWalk, returned by a walkRecords callback, ends the walk early
// without error.
const errStopWalk = walkError("stop walk")

// parseRecord decodes the body of one record (everything after its length)
// into r; the body must be used up exactly.
func parseRecord(b []byte, r *rawRecord) error {
	if len(b) < 1 {
		return walkError("empty record")
	}
	i := 1 // attributes: unused in v2
	var v int64
	var ok bool
	if r.timestampDelta, i, ok = varlong(b, i); !ok {
		return walkError("bad timestampDelta")
	}
	if v, i, ok = varlong(b, i); !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return walkError("bad offsetDelta")
	}
	r.offsetDelta = int32(v)
	if r.key, i, ok = nullableBytes(b, i); !ok {
		return walkError("bad key")
	}
	if r.value, i, ok = nullableBytes(b, i); !ok {
		return walkError("bad value")
	}
	if v, i, ok = varlong(b, i); !ok || v < 0 || v > int64(len(b)-i) {
		return walkError("bad header count")
	}
	r.numHeaders = int(v)
	start := i
	for h := 0; h < r.numHeaders; h++ {
		var key []byte
		if key, i, ok = nullableBytes(b, i); !ok || key == nil {
			return walkError("bad header key")
		}
		if _, i, ok = nullableBytes(b, i); !ok {
			return walkError("bad header value")
		}
	}
	r.headers = b[start:i]
	if i != len(b) {
		return walkError("record length does not match its fields")
	}
	return nil
}

// varlong decodes the zig-zag varint at b[i:].
func varlong(b []byte, i int) (int64, int, bool) {
	v, w := binary.Varint(b[i:])
	if w <= 0 {
		return 0, i, false
	}
	return v, i + w, true
}

// nullableBytes decodes a varint length (-1 = null) and the bytes after it.
func nullableBytes(b []byte, i int) ([]byte, int, bool) {
	n, i, ok := varlong(b, i)
	if !ok || n < -1 || n > int64(len(b)-i) {
		return nil, i, false
	}
	if n < 0 {
		return nil, i, true
	}
	return b[i : i+int(n) : i+int(n)], i + int(n), true
}

// forEachHeader decodes the raw headers of a record that parseRecord
// accepted.
func forEachHeader(raw []byte, n int, fn func(key, value []byte)) {
	i := 0
	for range n {
		var k, v []byte
		k, i, _ = nullableBytes(raw, i)
		v, i, _ = nullableBytes(raw, i)
		fn(k, v)
	}
}

// recordTimestamp is a record's timestamp given its batch header.
func recordTimestamp(h *BatchHeader, r *rawRecord) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.timestampDelta
}

// DecodeRecords decodes every record of one whole v2 batch, decompressing
// it if needed. It checks the batch's structure but not its CRC. Keys and
// values alias batch when it is not compressed.
func DecodeRecords(batch []byte) ([]Record, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return nil, err
	}
	if err := checkFraming(h, int64(len(batch))); err != nil {
		return nil, err
	}
	if h.NumRecords < 0 {
		return nil, invalidf("negative record count %d", h.NumRecords)
	}
	// Validation accepted the batch under a max.message.bytes of at least
	// its size, so allow at least what that allows, and what Kafka's
	// default allows.
	limit := decompressLimit(max(int64(h.Size()), int64(DefaultConfig().MaxMessageBytes)))
	data, err := decompress(batch[BatchHeaderLen:h.Size()], h.Compression(), false, limit)
	if err != nil {
		return nil, err
	}
	// Bound the preallocation by what data can hold, not by the header's
	// claim.
	out := make([]Record, 0, min(int(h.NumRecords), len(data)/minRecordSize))
	err = walkRecords(data, h.NumRecords, func(r rawRecord) error {
		rec := Record{
			Offset:    h.BaseOffset + int64(r.offsetDelta),
			Timestamp: recordTimestamp(&h, &r),
			Key:       r.key,
			Value:     r.value,
		}
		if r.numHeaders > 0 {
			rec.Headers = make([]RecordHeader, 0, r.numHeaders)
			forEachHeader(r.headers, r.numHeaders, func(k, v []byte) {
				rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
			})
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
