package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/vfs"
)

// spec describes a test batch. Record i has timestamp firstTs + i*tsStep
// (or ts[i] when ts is set), key "k<i>" and a value of valueSize bytes.
type spec struct {
	n         int
	valueSize int
	firstTs   int64
	tsStep    int64
	ts        []int64
	codec     int8
	pid       int64 // -1 for none
	epoch     int16
	seq       int32
	attrs     int16 // extra attribute bits
	headers   bool
}

func plain(n int) spec { return spec{n: n, valueSize: 10, firstTs: 1000, pid: -1, seq: -1} }

func (s spec) timestamp(i int) int64 {
	if s.ts != nil {
		return s.ts[i]
	}
	return s.firstTs + int64(i)*s.tsStep
}

// encodeRecords encodes the records area of s, uncompressed.
func encodeRecords(s spec) []byte {
	var out, rec []byte
	value := bytes.Repeat([]byte("v"), s.valueSize)
	for i := range s.n {
		key := fmt.Appendf(nil, "k%d", i)
		rec = rec[:0]
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, s.timestamp(i)-s.timestamp(0))
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(len(key)))
		rec = append(rec, key...)
		rec = binary.AppendVarint(rec, int64(len(value)))
		rec = append(rec, value...)
		if s.headers {
			rec = binary.AppendVarint(rec, 2)
			rec = binary.AppendVarint(rec, 2)
			rec = append(rec, "h1"...)
			rec = binary.AppendVarint(rec, 3)
			rec = append(rec, "one"...)
			rec = binary.AppendVarint(rec, 2)
			rec = append(rec, "h2"...)
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, 0)
		}
		out = binary.AppendVarint(out, int64(len(rec)))
		out = append(out, rec...)
	}
	return out
}

var compressors sync.Map // codec -> kgo.Compressor

func compress(t testing.TB, codec int8, data []byte) []byte {
	if codec == CodecNone {
		return data
	}
	if codec == CodecLz4 {
		// The cleaner's encoder: frames of 64 KiB blocks, as Kafka's Java
		// client writes them. franz-go writes 4 MiB blocks (the compat
		// tests produce those); the smaller blocks keep the tests'
		// decompressions cheap under the race detector, which drops
		// sync.Pool puts, so a 4 MiB block buffer is allocated and
		// cleared again at each.
		out, err := compressArea(nil, CodecLz4, data)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	c, ok := compressors.Load(codec)
	if !ok {
		var cc kgo.CompressionCodec
		switch codec {
		case CodecGzip:
			cc = kgo.GzipCompression()
		case CodecSnappy:
			cc = kgo.SnappyCompression()
		case CodecLz4:
			cc = kgo.Lz4Compression()
		case CodecZstd:
			cc = kgo.ZstdCompression()
		}
		comp, err := kgo.DefaultCompressor(cc)
		if err != nil {
			t.Fatal(err)
		}
		c, _ = compressors.LoadOrStore(codec, comp)
	}
	out, got := c.(kgo.Compressor).Compress(new(bytes.Buffer), data)
	if int8(got) != codec {
		t.Fatalf("compressor used codec %d, want %d", got, codec)
	}
	return bytes.Clone(out)
}

// build returns a valid batch for s with base offset 0.
func build(t testing.TB, s spec) []byte {
	records := compress(t, s.codec, encodeRecords(s))
	b := make([]byte, BatchHeaderLen, BatchHeaderLen+len(records))
	maxTs := int64(math.MinInt64)
	for i := range s.n {
		maxTs = max(maxTs, s.timestamp(i))
	}
	if s.n == 0 {
		maxTs = s.firstTs
	}
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(BatchHeaderLen-batchLengthOverhead+len(records)))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(int16(s.codec)|s.attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(s.n-1))
	be.PutUint64(b[offFirstTimestamp:], uint64(s.timestamp(0)))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	be.PutUint64(b[offProducerID:], uint64(s.pid))
	be.PutUint16(b[offProducerEpoch:], uint16(s.epoch))
	be.PutUint32(b[offBaseSequence:], uint32(s.seq))
	be.PutUint32(b[offRecordCount:], uint32(s.n))
	b = append(b, records...)
	putCRC(b)
	return b
}

// fixedNow is a clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// testOpts returns options for a log in a fresh directory.
func testOpts(t testing.TB, cfg Config) Options {
	return Options{Dir: filepath.Join(t.TempDir(), "topic-0"), Config: cfg, Logger: quietLogger()}
}

func mustOpen(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	r, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return r
}

// readAll reads the whole log from offset from with reads of maxBytes and
// returns the batches' bytes, checking each read's framing.
func readAll(t testing.TB, l *Log, from int64, maxBytes int32) [][]byte {
	t.Helper()
	var out [][]byte
	for from < l.HighWatermark() {
		r, err := l.Read(from, maxBytes, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		b, err := r.AppendTo(nil)
		if err != nil {
			t.Fatalf("AppendTo: %v", err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d) returned nothing below the high watermark %d", from, l.HighWatermark())
		}
		for len(b) > 0 {
			h, err := ParseBatchHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkCRC(b[:h.Size()]); err != nil {
				t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
			}
			out = append(out, b[:h.Size()])
			from = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	return out
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

var _ = vfs.Default

func globExt(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func removeFile(t testing.TB, name string) {
	t.Helper()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t testing.TB, name string, at int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}
