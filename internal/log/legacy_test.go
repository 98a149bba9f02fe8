package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"testing"

	"github.com/klauspost/compress/s2"
)

type legacyTestMsg struct {
	ts         int64
	key, value []byte
}

// legacyEntry encodes one message set entry, independently of
// appendLegacyMessage.
func legacyEntry(offset int64, magic, attrs int8, ts int64, key, value []byte) []byte {
	m := []byte{byte(magic), byte(attrs)}
	if magic == 1 {
		m = binary.BigEndian.AppendUint64(m, uint64(ts))
	}
	for _, f := range [][]byte{key, value} {
		if f == nil {
			m = binary.BigEndian.AppendUint32(m, 0xffffffff)
			continue
		}
		m = binary.BigEndian.AppendUint32(m, uint32(len(f)))
		m = append(m, f...)
	}
	out := binary.BigEndian.AppendUint64(nil, uint64(offset))
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(m)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(m))
	return append(out, m...)
}

// legacyTestSet builds a magic 0 or 1 message set, wrapped and compressed
// with codec unless it is CodecNone.
func legacyTestSet(t testing.TB, magic, codec int8, msgs ...legacyTestMsg) []byte {
	var inner []byte
	for i, m := range msgs {
		inner = append(inner, legacyEntry(int64(i), magic, 0, m.ts, m.key, m.value)...)
	}
	if codec == CodecNone {
		return inner
	}
	return legacyEntry(int64(len(msgs)-1), magic, codec, 0, nil, compress(t, codec, inner))
}

func testMsgs(n int) []legacyTestMsg {
	var out []legacyTestMsg
	for i := range n {
		m := legacyTestMsg{ts: 1_700_000_000_000 + int64(i), key: fmt.Appendf(nil, "k%d", i), value: fmt.Appendf(nil, "value %d", i)}
		switch i % 4 {
		case 1:
			m.key = nil
		case 2:
			m.value = nil
		case 3:
			m.key = []byte{}
		}
		out = append(out, m)
	}
	return out
}

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }

func TestUpConvertKeepsRecordsAndCodec(t *testing.T) {
	cfg := DefaultConfig()
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLz4} {
			t.Run(fmt.Sprintf("magic%d-codec%d", magic, codec), func(t *testing.T) {
				msgs := testMsgs(7)
				b, err := upConvert(legacyTestSet(t, magic, codec, msgs...), int64(cfg.MaxMessageBytes), 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				h, err := validateBatch(b, &cfg, 1_700_000_000_000)
				if err != nil {
					t.Fatalf("converted batch does not validate: %v", err)
				}
				if h.Compression() != codec || h.NumRecords != 7 || h.ProducerID != -1 || h.BaseSequence != -1 {
					t.Fatalf("header %+v", h)
				}
				recs, err := DecodeRecords(b)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range recs {
					wantTs := int64(-1) // magic 0 has no timestamps
					if magic == 1 {
						wantTs = msgs[i].ts
					}
					if r.Offset != int64(i) || r.Timestamp != wantTs || !sameBytes(r.Key, msgs[i].key) || !sameBytes(r.Value, msgs[i].value) {
						t.Fatalf("record %d: %+v", i, r)
					}
				}
				if magic == 1 && h.MaxTimestamp != msgs[6].ts {
					t.Fatalf("max timestamp %d", h.MaxTimestamp)
				}

				// And back, for both old formats.
				for _, to := range []int8{0, 1} {
					back, err := DownConvert(nil, b, 0, to, math.MaxInt32)
					if err != nil {
						t.Fatal(err)
					}
					got, gotCodec, gotMagic, err := decodeLegacy(back, math.MaxInt64, 1<<20)
					if err != nil {
						t.Fatalf("to magic %d: %v", to, err)
					}
					if gotCodec != codec || gotMagic != to || len(got) != 7 {
						t.Fatalf("to magic %d: codec %d magic %d, %d records", to, gotCodec, gotMagic, len(got))
					}
					for i, r := range got {
						if !sameBytes(r.key, msgs[i].key) || !sameBytes(r.value, msgs[i].value) {
							t.Fatalf("to magic %d: record %d: %+v", to, i, r)
						}
					}
				}
			})
		}
	}
}

// A magic 1 wrapper with LogAppendTime gives its timestamp to its records.
func TestUpConvertLogAppendTimeWrapper(t *testing.T) {
	inner := legacyEntry(0, 1, 0, 5, []byte("k"), []byte("v"))
	inner = append(inner, legacyEntry(1, 1, 0, 6, []byte("k"), []byte("v"))...)
	set := legacyEntry(1, 1, CodecGzip|legacyAttrLAT, 77, nil, compress(t, CodecGzip, inner))
	b, err := upConvert(set, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := DecodeRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != 77 {
			t.Fatalf("record timestamp %d, want the wrapper's 77", r.Timestamp)
		}
	}
}

func TestUpConvertRefusesBadSets(t *testing.T) {
	good := func() []byte { return legacyTestSet(t, 1, CodecNone, testMsgs(2)...) }
	wrapped := func() []byte { return legacyTestSet(t, 1, CodecGzip, testMsgs(2)...) }
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"short", good()[:10], ErrCorrupt},
		{"truncated", good()[:len(good())-1], ErrCorrupt},
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }(), ErrCorrupt},
		{"tiny size", func() []byte { b := good(); binary.BigEndian.PutUint32(b[8:], 3); return b }(), ErrCorrupt},
		{"magic 5", legacyEntry(0, 5, 0, 0, nil, []byte("v")), ErrCorrupt},
		{"mixed magic", append(legacyEntry(0, 0, 0, 0, nil, []byte("v")), legacyEntry(1, 1, 0, 0, nil, []byte("v"))...), ErrInvalidRecord},
		{"two wrappers", append(wrapped(), wrapped()...), ErrInvalidRecord},
		{"wrapper after message", append(good(), wrapped()...), ErrInvalidRecord},
		{"message after wrapper", append(wrapped(), good()...), ErrInvalidRecord},
		{"nested compression", legacyEntry(0, 1, CodecGzip, 0, nil, compress(t, CodecGzip, wrapped())), ErrInvalidRecord},
		{"inner magic differs", legacyEntry(0, 1, CodecGzip, 0, nil, compress(t, CodecGzip, legacyEntry(0, 0, 0, 0, nil, []byte("v")))), ErrInvalidRecord},
		{"zstd", legacyEntry(0, 1, CodecZstd, 0, nil, compress(t, CodecZstd, good())), ErrInvalidRecord},
		{"empty wrapper", legacyEntry(0, 1, CodecGzip, 0, nil, compress(t, CodecGzip, nil)), ErrInvalidRecord},
		{"null wrapper value", legacyEntry(0, 1, CodecGzip, 0, nil, nil), ErrInvalidRecord},
		{"bad inner crc", legacyEntry(0, 1, CodecGzip, 0, nil, compress(t, CodecGzip, func() []byte { b := good(); b[len(b)-1] ^= 1; return b }())), ErrCorrupt},
		{"garbage compressed", legacyEntry(0, 1, CodecGzip, 0, nil, []byte("not gzip")), ErrCorrupt},
		{"too large", legacyEntry(0, 1, 0, 0, nil, make([]byte, 2000)), ErrMessageTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upConvert(tt.b, 1000, 1<<20)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A wrapper that decompresses past the limit.
	big := legacyTestSet(t, 1, CodecGzip, legacyTestMsg{value: make([]byte, 1<<20)})
	if _, err := upConvert(big, 1<<20, 1<<16); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("decompression bomb: %v", err)
	}
}

func TestDownConvertSkipsControlAndDropsHeaders(t *testing.T) {
	s := plain(3)
	s.headers = true
	data := build(t, s)
	ctrl := controlBatch(7, 0, 1, 0, 1000)
	binary.BigEndian.PutUint64(ctrl, 3)
	putCRC(ctrl)
	s2 := plain(2)
	s2.codec = CodecGzip
	second := build(t, s2)
	binary.BigEndian.PutUint64(second, 4)
	putCRC(second)
	src := slices.Concat(data, ctrl, second)

	out, err := DownConvert(nil, src, 1, 1, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for b := out; len(b) > 0; {
		m, err := parseLegacyEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[m.size:]
		if m.attributes&attrCodecMask != 0 {
			inner, err := decompress(m.value, m.attributes&attrCodecMask, false, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var rel []int64
			for len(inner) > 0 {
				im, err := parseLegacyEntry(inner)
				if err != nil {
					t.Fatal(err)
				}
				inner = inner[im.size:]
				rel = append(rel, im.offset)
			}
			for _, r := range rel {
				offs = append(offs, m.offset-rel[len(rel)-1]+r)
			}
			continue
		}
		offs = append(offs, m.offset)
	}
	// Offset 0 is below the fetch offset in an uncompressed batch; the
	// control batch (offset 3) is gone; the gzip batch keeps its records.
	if !slices.Equal(offs, []int64{1, 2, 4, 5}) {
		t.Fatalf("offsets %v", offs)
	}

	// Within maxBytes: only whole converted batches after the first.
	one, err := DownConvert(nil, src, 0, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _, err := decodeLegacy(one, math.MaxInt64, 1<<20)
	if err != nil || len(recs) != 3 {
		t.Fatalf("max bytes 10: %d records, %v", len(recs), err)
	}

	z := plain(1)
	z.codec = CodecZstd
	if _, err := DownConvert(nil, build(t, z), 0, 1, math.MaxInt32); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("zstd: %v", err)
	}
}

// A LogAppendTime batch keeps its append time and type in magic 1.
func TestDownConvertLogAppendTime(t *testing.T) {
	s := plain(2)
	s.codec = CodecGzip
	b := build(t, s)
	h, _ := ParseBatchHeader(b)
	putAttributes(b, h.Attributes|attrLogAppendTime)
	putMaxTimestamp(b, 99)
	putCRC(b)
	out, err := DownConvert(nil, b, 0, 1, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseLegacyEntry(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.attributes&legacyAttrLAT == 0 || m.ts != 99 || m.offset != 1 {
		t.Fatalf("wrapper %+v", m)
	}
}

// FuzzUpConvert feeds arbitrary Produce v0-v2 payloads to the legacy
// decoder, which must never panic; what it accepts must be a valid v2
// batch with the same records, and survive down-conversion.
func FuzzUpConvert(f *testing.F) {
	f.Add(legacyTestSet(f, 0, CodecNone, testMsgs(3)...))
	f.Add(legacyTestSet(f, 1, CodecNone, testMsgs(3)...))
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLz4} {
		f.Add(legacyTestSet(f, 1, codec, testMsgs(4)...))
	}
	f.Add([]byte{})
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzUpConvert(t, &cfg, b)
		if len(b) >= legacyLogOverhead+legacyV0Overhead {
			// Repair the first entry's size and CRC so that mutations
			// reach the message parser.
			c := slices.Clone(b)
			binary.BigEndian.PutUint32(c[8:], uint32(len(c)-legacyLogOverhead))
			binary.BigEndian.PutUint32(c[12:], crc32.ChecksumIEEE(c[16:]))
			fuzzUpConvert(t, &cfg, c)
		}
	})
}

func fuzzUpConvert(t *testing.T, cfg *Config, b []byte) {
	recs, _, _, err := decodeLegacy(b, math.MaxInt64, 1<<20)
	v2, err2 := upConvert(b, math.MaxInt64, 1<<20)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("decode: %v, convert: %v", err, err2)
	}
	if err != nil {
		return
	}
	h, err := validateBatch(v2, cfg, 1_700_000_000_000)
	if err != nil {
		t.Fatalf("converted batch does not validate: %v", err)
	}
	got, err := DecodeRecords(v2)
	if err != nil || len(got) != len(recs) || int(h.NumRecords) != len(recs) {
		t.Fatalf("converted batch: %d records of %d, %v", len(got), len(recs), err)
	}
	for i, r := range got {
		if !sameBytes(r.Key, recs[i].key) || !sameBytes(r.Value, recs[i].value) || r.Timestamp != recs[i].ts {
			t.Fatalf("record %d differs", i)
		}
	}
	for _, to := range []int8{0, 1} {
		back, err := DownConvert(nil, v2, 0, to, math.MaxInt32)
		if err != nil {
			t.Fatalf("down-convert to %d: %v", to, err)
		}
		again, _, _, err := decodeLegacy(back, math.MaxInt64, 1<<20)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("down-converted to %d: %d records, %v", to, len(again), err)
		}
	}
}

// Java clients frame snappy in message formats 0 and 1 the xerial way.
func TestUpConvertXerialSnappy(t *testing.T) {
	inner := legacyTestSet(t, 1, CodecNone, testMsgs(3)...)
	x := []byte("\x82SNAPPY\x00")
	x = binary.BigEndian.AppendUint32(x, 1)
	x = binary.BigEndian.AppendUint32(x, 1)
	blk := s2.EncodeSnappy(nil, inner)
	x = binary.BigEndian.AppendUint32(x, uint32(len(blk)))
	x = append(x, blk...)
	b, err := upConvert(legacyEntry(2, 1, CodecSnappy, 0, nil, x), 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := DecodeRecords(b); err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
}

// Magic 0 lz4 frames carry Kafka's broken header checksum (it hashed the
// frame's magic number too): read whatever the checksum, and written
// broken, as Kafka.
func TestLz4Magic0Framing(t *testing.T) {
	frame := compress(t, CodecLz4, []byte("hello hello hello"))
	n := lz4Descriptor(frame)
	if n != 2 {
		t.Fatalf("descriptor of %d bytes", n)
	}
	// xxh32Short agrees with the lz4 library's proper checksum.
	if got := byte(xxh32Short(frame[4:4+n]) >> 8); got != frame[4+n] {
		t.Fatalf("header checksum %#x, library wrote %#x", got, frame[4+n])
	}
	broken := bytes.Clone(frame)
	lz4Magic0Broken(broken)
	if broken[4+n] == frame[4+n] {
		t.Fatal("broken checksum equals the proper one")
	}
	if _, err := decompress(broken, CodecLz4, false, 1<<20); err == nil {
		t.Fatal("the library accepted the broken checksum")
	}
	if out, err := decompress(lz4Magic0Readable(broken), CodecLz4, false, 1<<20); err != nil || string(out) != "hello hello hello" {
		t.Fatalf("%q, %v", out, err)
	}

	// Up-conversion reads either; down-conversion writes the broken one.
	inner := legacyTestSet(t, 0, CodecNone, testMsgs(3)...)
	for _, f := range [][]byte{compress(t, CodecLz4, inner), func() []byte { b := compress(t, CodecLz4, inner); lz4Magic0Broken(b); return b }()} {
		b, err := upConvert(legacyEntry(2, 0, CodecLz4, 0, nil, f), 1<<20, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DownConvert(nil, b, 0, 0, math.MaxInt32)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseLegacyEntry(out)
		if err != nil {
			t.Fatal(err)
		}
		if m.attributes&attrCodecMask != CodecLz4 {
			t.Fatalf("codec %d", m.attributes&attrCodecMask)
		}
		if _, err := decompress(m.value, CodecLz4, false, 1<<20); err == nil {
			t.Fatal("down-converted magic 0 lz4 has a proper header checksum")
		}
	}
}

// decodeLegacy collects the records walkLegacy finds.
func decodeLegacy(b []byte, maxEntry int64, limit int) ([]legacyRecord, int8, int8, error) {
	var recs []legacyRecord
	codec, magic, err := walkLegacy(b, maxEntry, limit, func(r legacyRecord) {
		r.key, r.value = cloneNullable(r.key), cloneNullable(r.value)
		recs = append(recs, r)
	})
	return recs, codec, magic, err
}

func cloneNullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
