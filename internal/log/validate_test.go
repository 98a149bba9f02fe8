package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// withCRC recomputes the CRC after a mutation, so that only the mutated
// field is wrong.
func withCRC(b []byte) []byte { putCRC(b); return b }

func TestValidateBatch(t *testing.T) {
	cfg := DefaultConfig()
	now := int64(1_700_000_000_000)
	be := binary.BigEndian

	good := func() []byte { return build(t, plain(5)) }
	tests := []struct {
		name string
		b    func() []byte
		cfg  func(*Config)
		want error // nil: accepted
	}{
		{"valid", good, nil, nil},
		{"valid with headers", func() []byte { s := plain(3); s.headers = true; return build(t, s) }, nil, nil},
		{"gzip", func() []byte { s := plain(50); s.codec = CodecGzip; s.headers = true; return build(t, s) }, nil, nil},
		{"snappy", func() []byte { s := plain(50); s.codec = CodecSnappy; return build(t, s) }, nil, nil},
		{"lz4", func() []byte { s := plain(50); s.codec = CodecLz4; return build(t, s) }, nil, nil},
		{"zstd", func() []byte { s := plain(50); s.codec = CodecZstd; return build(t, s) }, nil, nil},
		{"idempotent", func() []byte { s := plain(2); s.pid, s.seq = 7, 0; return build(t, s) }, nil, nil},
		{"empty", func() []byte { return nil }, nil, ErrInvalidRecord},
		{"short", func() []byte { return good()[:40] }, nil, ErrCorrupt},
		{"bad CRC", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }, nil, ErrCorrupt},
		{"CRC field", func() []byte { b := good(); b[offCRC] ^= 0x80; return b }, nil, ErrCorrupt},
		{"length beyond data", func() []byte { b := good(); return b[:len(b)-1] }, nil, ErrCorrupt},
		{"length below header", func() []byte {
			b := good()
			be.PutUint32(b[offLength:], 10)
			return b
		}, nil, ErrCorrupt},
		{"trailing bytes", func() []byte { return append(good(), 0, 0, 0) }, nil, ErrInvalidRecord},
		{"two batches", func() []byte { return append(good(), good()...) }, nil, ErrInvalidRecord},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, nil, ErrUnsupportedMagic},
		{"magic 1 is corruption", func() []byte { b := good(); b[offMagic] = 1; return b }, nil, ErrCorrupt},
		{"count larger than records", func() []byte {
			b := good()
			be.PutUint32(b[offRecordCount:], 6)
			be.PutUint32(b[offLastOffsetDelta:], 5)
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"count smaller than records", func() []byte {
			b := good()
			be.PutUint32(b[offRecordCount:], 4)
			be.PutUint32(b[offLastOffsetDelta:], 3)
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"lastOffsetDelta mismatch", func() []byte {
			b := good()
			be.PutUint32(b[offLastOffsetDelta:], 7)
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"zero records", func() []byte {
			b := good()
			be.PutUint32(b[offRecordCount:], 0)
			be.PutUint32(b[offLastOffsetDelta:], math.MaxUint32)
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"control batch", func() []byte { s := plain(1); s.attrs = attrControl; return build(t, s) }, nil, ErrInvalidRecord},
		{"sequence missing", func() []byte { s := plain(1); s.pid = 3; return build(t, s) }, nil, ErrInvalidRecord},
		{"transactional without producer", func() []byte { s := plain(1); s.attrs = attrTransactional; return build(t, s) }, nil, ErrInvalidRecord},
		{"oversize", good, func(c *Config) { c.MaxMessageBytes = 100 }, ErrMessageTooLarge},
		{"exactly max size", good, func(c *Config) { c.MaxMessageBytes = int32(len(good())) }, nil},
		{"offset delta gap", func() []byte {
			// Rewrite record 1's offsetDelta (1) to 2: same width.
			b := good()
			recs := b[BatchHeaderLen:]
			_, w := binary.Varint(recs) // record 0 length
			l0, _ := binary.Varint(recs)
			r1 := recs[w+int(l0):]
			_, w1 := binary.Varint(r1)
			body := r1[w1:]
			// attributes(1) timestampDelta(varint) offsetDelta(varint)
			_, tw := binary.Varint(body[1:])
			body[1+tw] = 4 // zig-zag 2
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"record length past end", func() []byte {
			b := good()
			b[BatchHeaderLen] = 0x7e // zig-zag 63: longer than the record
			return withCRC(b)
		}, nil, ErrInvalidRecord},
		{"record longer than its fields", func() []byte {
			// Grow record 0's length by one and put a byte after its
			// headers; the batch length grows with it.
			s := plain(1)
			b := build(t, s)
			recs := b[BatchHeaderLen:]
			l, w := binary.Varint(recs)
			out := append([]byte(nil), b[:BatchHeaderLen]...)
			out = binary.AppendVarint(out, l+1)
			out = append(out, recs[w:]...)
			out = append(out, 0)
			be.PutUint32(out[offLength:], uint32(len(out)-batchLengthOverhead))
			return withCRC(out)
		}, nil, ErrInvalidRecord},
		{"garbage compressed data", func() []byte {
			s := plain(5)
			s.codec = CodecGzip
			b := build(t, s)
			for i := BatchHeaderLen + 12; i < len(b); i++ {
				b[i] ^= 0x55
			}
			return withCRC(b)
		}, nil, ErrCorrupt},
		{"unknown codec", func() []byte {
			b := good()
			be.PutUint16(b[offAttributes:], 5)
			return withCRC(b)
		}, nil, ErrCorrupt},
		{"timestamp too old", func() []byte { s := plain(2); s.firstTs = now - 10_000; return build(t, s) },
			func(c *Config) { c.TimestampBeforeMaxMs = 5_000 }, ErrInvalidTimestamp},
		{"timestamp too new", func() []byte { s := plain(2); s.firstTs = now; s.tsStep = 6_000; return build(t, s) },
			func(c *Config) { c.TimestampAfterMaxMs = 5_000 }, ErrInvalidTimestamp},
		{"timestamp in range", func() []byte { s := plain(2); s.firstTs = now - 4_000; s.tsStep = 8_000; return build(t, s) },
			func(c *Config) { c.TimestampBeforeMaxMs, c.TimestampAfterMaxMs = 5_000, 5_000 }, nil},
		{"no timestamp is allowed", func() []byte { s := plain(1); s.firstTs = -1; return build(t, s) },
			func(c *Config) { c.TimestampBeforeMaxMs, c.TimestampAfterMaxMs = 5_000, 5_000 }, nil},
		{"LogAppendTime ignores bounds", func() []byte { s := plain(2); s.firstTs = 0; return build(t, s) },
			func(c *Config) { c.TimestampType = LogAppendTime; c.TimestampBeforeMaxMs = 5_000 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			_, err := validateBatch(tt.b(), &c, now)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == ErrInvalidRecord && IsCorruption(err) {
				t.Fatalf("%v reported as corruption", err)
			}
		})
	}
}

func TestValidateFixesMaxTimestamp(t *testing.T) {
	cfg := DefaultConfig()
	for _, lie := range []struct {
		maxTs int64
		attrs uint16
	}{{50, 0}, {300, attrLogAppendTime}, {50, attrLogAppendTime}} {
		s := plain(3)
		s.ts = []int64{100, 300, 200}
		b := build(t, s)
		binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(lie.maxTs))
		binary.BigEndian.PutUint16(b[offAttributes:], lie.attrs)
		putCRC(b)
		h, err := validateBatch(b, &cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := ParseBatchHeader(b)
		if h.MaxTimestamp != 300 || got.MaxTimestamp != 300 || got.LogAppendTime() || h.LogAppendTime() {
			t.Fatalf("%+v: maxTimestamp %d/%d, LogAppendTime %v; want 300, false", lie, h.MaxTimestamp, got.MaxTimestamp, got.LogAppendTime())
		}
		if err := checkCRC(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestValidateUncompressedDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TimestampBeforeMaxMs = 1 << 40
	s := plain(16)
	s.valueSize = 1000
	s.headers = true
	b := build(t, s)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := validateBatch(b, &cfg, 1000); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per validation", n)
	}
}

func TestDecodeRecords(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		s := plain(20)
		s.codec, s.headers, s.tsStep = codec, true, 7
		b := build(t, s)
		putBaseOffset(b, 100)
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if len(recs) != 20 {
			t.Fatalf("codec %d: %d records", codec, len(recs))
		}
		for i, r := range recs {
			if r.Offset != 100+int64(i) || r.Timestamp != 1000+int64(i)*7 || string(r.Key) != "k"+strconv.Itoa(i) ||
				len(r.Value) != 10 || len(r.Headers) != 2 || r.Headers[0].Key != "h1" ||
				string(r.Headers[0].Value) != "one" || r.Headers[1].Value != nil {
				t.Fatalf("codec %d: record %d = %+v", codec, i, r)
			}
		}
	}
}

func TestBatchHeader(t *testing.T) {
	s := plain(4)
	s.pid, s.epoch, s.seq = 9, 2, math.MaxInt32-1
	s.codec = CodecLz4
	s.attrs = attrTransactional
	b := build(t, s)
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size() != len(b) || h.LastOffset() != 3 || h.Compression() != CodecLz4 || !h.Transactional() ||
		h.Control() || h.LogAppendTime() || h.ProducerID != 9 || h.ProducerEpoch != 2 || h.NumRecords != 4 {
		t.Fatalf("header %+v", h)
	}
	// MaxInt32-1, MaxInt32, 0, 1
	if got := h.LastSequence(); got != 1 {
		t.Fatalf("LastSequence = %d, want 1 (wrapped)", got)
	}
	if _, err := ParseBatchHeader(b[:60]); !IsCorruption(err) {
		t.Fatalf("short header: %v", err)
	}
}

// TestProducerDeleteHorizonRefused: the delete horizon attribute is the
// cleaner's (KIP-534); a producer's batch carrying it is INVALID_RECORD,
// or the first clean would drop its tombstones at once.
func TestProducerDeleteHorizonRefused(t *testing.T) {
	b := build(t, plain(2))
	putAttributes(b, attrDeleteHorizon)
	putCRC(b)
	cfg := DefaultConfig()
	if _, err := validateBatch(b, &cfg, 1_700_000_000_000); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("producer batch with the delete horizon bit: %v", err)
	}
}

// Every record is checked; the list of bad ones stops at MaxRecordErrors
// while Total counts them all, and the partition is named as Kafka prints
// it.
func TestRecordErrorsBounded(t *testing.T) {
	n := MaxRecordErrors + 5
	var keyless []legacyTestMsg
	for range n {
		keyless = append(keyless, legacyTestMsg{value: []byte("v")})
	}
	b, err := upConvert(legacyTestSet(t, 1, CodecNone, keyless...), math.MaxInt64, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Compact = true
	cfg.MaxMessageBytes = 1 << 30
	l := mustOpen(t, testOpts(t, cfg))
	_, err = l.Append(b)
	var re *RecordErrors
	if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("append: %v", err)
	}
	recs := re.Records()
	if re.Total != n || len(recs) != MaxRecordErrors || recs[MaxRecordErrors-1].Index != MaxRecordErrors-1 {
		t.Fatalf("total %d, %d listed", re.Total, len(recs))
	}
	want := "Compacted topic cannot accept message without key in topic partition topic-0"
	if recs[0].Message != want || !strings.Contains(err.Error(), fmt.Sprintf("due to %d record errors in total", n)) {
		t.Fatalf("message %q; error %q", recs[0].Message, err)
	}
	if l.HighWatermark() != 0 {
		t.Fatal("refused batch appended")
	}
}

// On a LogAppendTime topic a producer's batch marked LogAppendTime is
// refused record by record (Kafka's validateTimestamp), INVALID_TIMESTAMP.
func TestProducerLogAppendTimeOnLogAppendTimeTopic(t *testing.T) {
	s := plain(2)
	s.attrs = attrLogAppendTime
	b := build(t, s)
	cfg := DefaultConfig()
	cfg.TimestampType = LogAppendTime
	_, err := validateBatch(b, &cfg, 1_700_000_000_000)
	var re *RecordErrors
	if !errors.As(err, &re) || !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("got %v", err)
	}
	recs := re.Records()
	want := "Invalid timestamp type in message DefaultRecord(offset=1, timestamp=1000, key=2 bytes, value=10 bytes). " +
		"Producer should not set timestamp type to LogAppendTime."
	if len(recs) != 2 || recs[1].Index != 1 || recs[1].Message != want ||
		err.Error() != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("%+v: %v", recs, err)
	}
	// Without the attribute the batch is fine.
	if _, err := validateBatch(build(t, plain(2)), &cfg, 1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
}
