package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compressors for the tests. Each takes its input as repetitions of a
// chunk, so that bombs need not hold their whole output in memory.

func gzipOf(t testing.TB, chunk []byte, reps int) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	for range reps {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func lz4Of(t testing.TB, chunk []byte, reps int) []byte {
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	for range reps {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zstdSized is one frame that declares its content size.
func zstdSized(t testing.TB, data []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := enc.EncodeAll(data, nil)
	// Below a few hundred bytes, the encoder leaves the size out.
	if h := zstdHeader(t, out); !h.HasFCS && len(data) >= 1000 {
		t.Fatal("EncodeAll wrote no content size")
	}
	return out
}

// zstdStreamed is one frame without a content size, the way a streaming
// producer writes it.
func zstdStreamed(t testing.TB, chunk []byte, reps int, opts ...zstd.EOption) []byte {
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for range reps {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if h := zstdHeader(t, b.Bytes()); h.HasFCS {
		t.Fatal("streamed frame has a content size")
	}
	return b.Bytes()
}

func zstdHeader(t testing.TB, b []byte) zstd.Header {
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		t.Fatal(err)
	}
	return h
}

// skippableZstd is a skippable frame with n bytes of payload.
func skippableZstd(n int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184D2A53)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	return append(b, bytes.Repeat([]byte{0xee}, n)...)
}

// xerialOf frames chunks the way the Java client does: header, then per
// chunk a big-endian length and a raw snappy block.
func xerialOf(chunks ...[]byte) []byte {
	b := append([]byte(nil), xerialMagic...)
	b = binary.BigEndian.AppendUint32(b, 1) // version
	b = binary.BigEndian.AppendUint32(b, 1) // minimum compatible version
	for _, c := range chunks {
		block := s2.EncodeSnappy(nil, c)
		b = binary.BigEndian.AppendUint32(b, uint32(len(block)))
		b = append(b, block...)
	}
	return b
}

// xerialSplit frames data in chunks of at most size bytes.
func xerialSplit(data []byte, size int) []byte {
	var chunks [][]byte
	for len(data) > 0 {
		n := min(size, len(data))
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return xerialOf(chunks...)
}

// testPayload is n bytes that compress somewhat, as records do.
func testPayload(n int) []byte {
	b := make([]byte, 0, n+32)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "record-%d value %d;", i, i*i%977)
	}
	return b[:n]
}

type codecCase struct {
	name  string
	codec int8
	comp  func(t testing.TB, data []byte) []byte
}

var codecCases = []codecCase{
	{"gzip", CodecGzip, func(t testing.TB, d []byte) []byte { return gzipOf(t, d, 1) }},
	{"snappy-raw", CodecSnappy, func(_ testing.TB, d []byte) []byte { return s2.EncodeSnappy(nil, d) }},
	{"snappy-xerial", CodecSnappy, func(_ testing.TB, d []byte) []byte { return xerialSplit(d, 32<<10) }},
	{"lz4", CodecLz4, func(t testing.TB, d []byte) []byte { return lz4Of(t, d, 1) }},
	{"zstd-sized", CodecZstd, zstdSized},
	{"zstd-streamed", CodecZstd, func(t testing.TB, d []byte) []byte {
		if len(d) == 0 {
			return zstdStreamed(t, nil, 0, zstd.WithWindowSize(64<<10))
		}
		// A small window, as franz-go writes, so that small limits allow
		// it (see TestDecompressWindowOverLimit).
		return zstdStreamed(t, d, 1, zstd.WithWindowSize(64<<10))
	}},
}

func TestDecompressRoundTrip(t *testing.T) {
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	for _, c := range codecCases {
		for _, n := range []int{1, 1000, 100 << 10, 3 << 20} {
			data := testPayload(n)
			src := c.comp(t, data)
			for _, pooled := range []bool{true, false} {
				got, err := decompress(src, c.codec, pooled, limit)
				if err != nil {
					t.Fatalf("%s, %d bytes, pooled %v: %v", c.name, n, pooled, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s, %d bytes, pooled %v: wrong output (%d bytes)", c.name, n, pooled, len(got))
				}
				if pooled {
					putDecompressBuf(got)
				} else if cap(got) != len(got) {
					t.Fatalf("%s: unpooled result has capacity %d for %d bytes", c.name, cap(got), len(got))
				}
			}
		}
	}
}

// TestDecompressFramings covers the less common shapes of valid input.
func TestDecompressFramings(t *testing.T) {
	data := testPayload(200 << 10)
	a, b := data[:70<<10], data[70<<10:]
	cases := []struct {
		name  string
		codec int8
		src   []byte
		want  []byte
	}{
		{"gzip two members", CodecGzip, append(gzipOf(t, a, 1), gzipOf(t, b, 1)...), data},
		{"gzip empty", CodecGzip, gzipOf(t, nil, 0), nil},
		{"lz4 two frames", CodecLz4, append(lz4Of(t, a, 1), lz4Of(t, b, 1)...), data},
		{"xerial one chunk", CodecSnappy, xerialOf(data), data},
		{"xerial uneven chunks", CodecSnappy, xerialOf(a, b[:1], b[1:]), data},
		{"snappy raw empty", CodecSnappy, s2.EncodeSnappy(nil, nil), nil},
		{"zstd two sized frames", CodecZstd, append(zstdSized(t, a), zstdSized(t, b)...), data},
		{"zstd sized then streamed", CodecZstd, append(zstdSized(t, a), zstdStreamed(t, b, 1)...), data},
		{"zstd with skippable frames", CodecZstd,
			bytes.Join([][]byte{skippableZstd(5), zstdSized(t, a), skippableZstd(0), zstdStreamed(t, b, 1)}, nil), data},
		{"zstd empty", CodecZstd, nil, nil},
		{"zstd large window", CodecZstd, zstdStreamed(t, data, 1, zstd.WithWindowSize(16<<20)), data},
	}
	for _, c := range cases {
		got, err := decompress(c.src, c.codec, true, MaxDecompressedBytes)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Fatalf("%s: wrong output (%d bytes, want %d)", c.name, len(got), len(c.want))
		}
		putDecompressBuf(got)
	}
}

// TestDecompressLimitBoundary: output of exactly the limit passes, one
// byte more does not, for every codec and path.
func TestDecompressLimitBoundary(t *testing.T) {
	data := testPayload(300 << 10)
	for _, c := range codecCases {
		src := c.comp(t, data)
		got, err := decompress(src, c.codec, true, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s at the limit: %d bytes, %v", c.name, len(got), err)
		}
		putDecompressBuf(got)
		_, err = decompress(src, c.codec, true, len(data)-1)
		if !errors.Is(err, ErrMessageTooLarge) || IsCorruption(err) {
			t.Fatalf("%s one byte over the limit: %v", c.name, err)
		}
		want := fmt.Sprintf("batch decompresses to more than %d bytes", len(data)-1)
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Fatalf("%s: error %q does not say %q", c.name, err, want)
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	for _, c := range []struct {
		maxMessageBytes int64
		want            int
	}{
		{0, MaxDecompressedBytes},
		{-1, MaxDecompressedBytes},
		{1048588, 64 * 1048588}, // Kafka's default
		{1 << 20, MaxDecompressedBytes},
		{1<<20 - 1, MaxDecompressedBytes},
		{2 << 20, 128 << 20},
		{10 << 20, 640 << 20},
		{math.MaxInt32, math.MaxInt32},
	} {
		if got := decompressLimit(c.maxMessageBytes); got != c.want {
			t.Errorf("decompressLimit(%d) = %d, want %d", c.maxMessageBytes, got, c.want)
		}
	}
}

const bombSize = 200 << 20

var (
	bombsOnce sync.Once
	bombs     []struct {
		name  string
		codec int8
		src   []byte
	}
)

// zipBombs are bombSize bytes of zeros compressed every way.
func zipBombs(t testing.TB) []struct {
	name  string
	codec int8
	src   []byte
} {
	bombsOnce.Do(func() {
		chunk := make([]byte, 1<<20)
		// Never written, so the pages stay shared zero pages.
		zeros := make([]byte, bombSize)
		add := func(name string, codec int8, src []byte) {
			bombs = append(bombs, struct {
				name  string
				codec int8
				src   []byte
			}{name, codec, src})
		}
		add("gzip", CodecGzip, gzipOf(t, chunk, bombSize/len(chunk)))
		add("snappy-raw", CodecSnappy, s2.EncodeSnappy(nil, zeros))
		block := chunk[:32<<10]
		chunks := make([][]byte, bombSize/len(block))
		for i := range chunks {
			chunks[i] = block
		}
		add("snappy-xerial", CodecSnappy, xerialOf(chunks...))
		add("lz4", CodecLz4, lz4Of(t, chunk, bombSize/len(chunk)))
		add("zstd-sized", CodecZstd, zstdSized(t, zeros))
		add("zstd-streamed", CodecZstd, zstdStreamed(t, chunk, bombSize/len(chunk)))
		// A sized frame, then a streamed one that is the bomb.
		add("zstd-sized-then-streamed", CodecZstd, append(zstdSized(t, zeros[:1<<20]), zstdStreamed(t, chunk, bombSize/len(chunk))...))
	})
	return bombs
}

// TestDecompressBomb: 200 MiB of zeros, compressed each way, is refused as
// too large without allocating anywhere near that.
func TestDecompressBomb(t *testing.T) {
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	for _, b := range zipBombs(t) {
		for _, pooled := range []bool{true, false} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := decompress(b.src, b.codec, pooled, limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMessageTooLarge) || IsCorruption(err) {
				t.Fatalf("%s (%d bytes): %d bytes, error %v; want ErrMessageTooLarge", b.name, len(b.src), len(out), err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d compressed bytes, %.1f MiB allocated: %v", b.name, len(b.src), float64(alloc)/(1<<20), err)
			if alloc >= 2*uint64(limit) {
				t.Errorf("%s: allocated %d bytes for a limit of %d", b.name, alloc, limit)
			}
		}
	}
}

// TestValidateBomb: validation refuses a produced batch that is a bomb
// with MESSAGE_TOO_LARGE, though the batch itself is small.
func TestValidateBomb(t *testing.T) {
	cfg := DefaultConfig()
	for _, b := range zipBombs(t) {
		if len(b.src) > int(cfg.MaxMessageBytes)-BatchHeaderLen {
			continue // refused for its own size
		}
		batch := batchWithRecords(t, b.codec, b.src)
		_, err := validateBatch(batch, &cfg, 1000)
		if !errors.Is(err, ErrMessageTooLarge) || IsCorruption(err) {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	// A larger max.message.bytes raises the limit past the bomb.
	cfg.MaxMessageBytes = 4 << 20
	for _, b := range zipBombs(t) {
		if b.name != "zstd-sized" {
			continue
		}
		_, err := validateBatch(batchWithRecords(t, b.codec, b.src), &cfg, 1000)
		if err == nil || errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("%s under a 256 MiB limit: %v; want the zeros refused as records", b.name, err)
		}
	}
}

// batchWithRecords is a one-record batch header followed by the records
// area area, compressed with codec.
func batchWithRecords(t testing.TB, codec int8, area []byte) []byte {
	b := append(build(t, plain(1))[:BatchHeaderLen:BatchHeaderLen], area...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-batchLengthOverhead))
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec))
	putCRC(b)
	return b
}

func TestDecompressCorrupt(t *testing.T) {
	data := testPayload(100 << 10)
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x55
		return b
	}
	gz, lz, zs, zst := gzipOf(t, data, 1), lz4Of(t, data, 1), zstdSized(t, data), zstdStreamed(t, data, 1)
	raw, xer := s2.EncodeSnappy(nil, data), xerialSplit(data, 32<<10)
	cases := []struct {
		name  string
		codec int8
		src   []byte
	}{
		{"unknown codec 5", 5, gz},
		{"unknown codec 7", 7, gz},
		{"gzip garbage", CodecGzip, []byte("not gzip at all")},
		{"gzip empty", CodecGzip, nil},
		{"gzip truncated", CodecGzip, gz[:len(gz)/2]},
		{"gzip bad checksum", CodecGzip, flip(gz, len(gz)-6)},
		{"gzip trailing garbage", CodecGzip, append(bytes.Clone(gz), "garbage"...)},
		{"snappy garbage", CodecSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"snappy truncated", CodecSnappy, raw[:len(raw)/2]},
		{"snappy length lies", CodecSnappy, append(binary.AppendUvarint(nil, uint64(len(data)+1)), raw[len(binary.AppendUvarint(nil, uint64(len(data)))):]...)},
		{"xerial truncated chunk", CodecSnappy, xer[:len(xer)-10]},
		{"xerial truncated length", CodecSnappy, append(bytes.Clone(xer), 0, 0)},
		{"xerial chunk length past the end", CodecSnappy, append(bytes.Clone(xer), 0x7f, 0, 0, 0, 1)},
		{"xerial bad chunk", CodecSnappy, xerialFlipFirstChunk(xer)},
		{"lz4 garbage", CodecLz4, []byte("not lz4 at all")},
		{"lz4 truncated", CodecLz4, lz[:len(lz)/2]},
		{"lz4 bad checksum", CodecLz4, flip(lz, len(lz)-2)},
		{"zstd garbage", CodecZstd, []byte("not zstd at all")},
		{"zstd truncated", CodecZstd, zs[:len(zs)/2]},
		{"zstd streamed truncated", CodecZstd, zst[:len(zst)/2]},
		{"zstd bad checksum", CodecZstd, flip(zs, len(zs)-1)},
		{"zstd streamed bad checksum", CodecZstd, flip(zst, len(zst)-1)},
		{"zstd trailing bytes", CodecZstd, append(bytes.Clone(zs), 1, 2)},
		{"zstd skippable past the end", CodecZstd, append(bytes.Clone(zs), skippableZstd(10)[:12]...)},
		{"zstd reserved block", CodecZstd, zstdReservedBlock(t)},
	}
	for _, c := range cases {
		for _, pooled := range []bool{true, false} {
			out, err := decompress(c.src, c.codec, pooled, MaxDecompressedBytes)
			if !IsCorruption(err) || errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("%s: %d bytes, error %v; want ErrCorrupt", c.name, len(out), err)
			}
		}
	}
}

// xerialFlipFirstChunk corrupts the snappy block of the first chunk: its
// first byte after the decoded length is a literal tag, made a copy with an
// offset before the start.
func xerialFlipFirstChunk(x []byte) []byte {
	x = bytes.Clone(x)
	block := x[xerialHeaderLen+4:]
	_, n := binary.Uvarint(block)
	block[n] = 0x01 | 0x02 // copy, 2-byte offset
	block[n+1], block[n+2] = 0xff, 0xff
	return x
}

// zstdReservedBlock is a frame whose first block has the reserved type.
func zstdReservedBlock(t *testing.T) []byte {
	b := zstdSized(t, testPayload(1000))
	h := zstdHeader(t, b)
	b[h.HeaderSize] |= 3 << 1
	return b
}

// TestDecompressWindowOverLimit: a streamed zstd frame needs its window in
// memory, so one larger than the limit is refused before decoding.
func TestDecompressWindowOverLimit(t *testing.T) {
	src := zstdStreamed(t, testPayload(1000), 1, zstd.WithWindowSize(8<<20))
	if w := zstdHeader(t, src).WindowSize; w != 8<<20 {
		t.Fatalf("window %d", w)
	}
	if _, err := decompress(src, CodecZstd, true, 1<<20); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("got %v", err)
	}
	out, err := decompress(src, CodecZstd, true, 8<<20)
	if err != nil || !bytes.Equal(out, testPayload(1000)) {
		t.Fatalf("window at the limit: %d bytes, %v", len(out), err)
	}
	putDecompressBuf(out)
}

// raceEnabled reports whether the test binary was built with -race, under
// which sync.Pool drops items at random.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return true // unknown: assume the worst
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// noGC keeps the collector, which empties sync.Pools, from running during
// an allocation count.
func noGC(t *testing.T) {
	runtime.GC()
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// TestDecompressDoesNotAllocate: with warm pools, decompressing into a
// pooled buffer allocates nothing, for every codec and path.
func TestDecompressDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumentation allocates")
	}
	noGC(t)
	data := testPayload(64 << 10)
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	for _, c := range codecCases {
		src := c.comp(t, data)
		run := func() {
			out, err := decompress(src, c.codec, true, limit)
			if err != nil || len(out) != len(data) {
				t.Fatalf("%s: %d bytes, %v", c.name, len(out), err)
			}
			putDecompressBuf(out)
		}
		run()
		if n := testing.AllocsPerRun(50, run); n > 0 {
			t.Errorf("%s: %v allocations per batch", c.name, n)
		}
	}
}

// TestValidateCompressedDoesNotAllocate is the same through validation, of
// batches compressed by franz-go.
func TestValidateCompressedDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumentation allocates")
	}
	noGC(t)
	cfg := DefaultConfig()
	cfg.TimestampBeforeMaxMs = 1 << 40
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		s := plain(16)
		s.valueSize, s.headers, s.codec = 1000, true, codec
		b := build(t, s)
		if _, err := validateBatch(b, &cfg, 1000); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() {
			if _, err := validateBatch(b, &cfg, 1000); err != nil {
				t.Fatal(err)
			}
		}); n > 0 {
			t.Errorf("codec %d: %v allocations per validation", codec, n)
		}
	}
}

// TestDecodeRecordsFresh: DecodeRecords' records do not alias pooled
// memory that later decompressions reuse.
func TestDecodeRecordsFresh(t *testing.T) {
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		s := plain(8)
		s.codec = codec
		b := build(t, s)
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		want := string(recs[3].Key)
		other := plain(8)
		other.codec, other.valueSize = codec, 500
		ob := build(t, other)
		for range 10 {
			cfg := DefaultConfig()
			if _, err := validateBatch(ob, &cfg, 1000); err != nil {
				t.Fatal(err)
			}
		}
		if string(recs[3].Key) != want {
			t.Fatalf("codec %d: record key changed to %q", codec, recs[3].Key)
		}
	}
}
