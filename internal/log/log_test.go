package log

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 16 << 10
	c.IndexIntervalBytes = 512
	return c
}

// randomBatch builds a batch of 1-20 records with a random codec and
// timestamps that mostly rise.
func randomBatch(t testing.TB, rng *rand.Rand, ts int64) []byte {
	s := plain(1 + rng.IntN(20))
	s.valueSize = rng.IntN(300)
	s.codec = []int8{CodecNone, CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd}[rng.IntN(6)]
	s.firstTs = ts
	s.tsStep = int64(rng.IntN(5)) - 1
	s.headers = rng.IntN(2) == 0
	return build(t, s)
}

// appendRandom appends n random batches and returns them as stored.
func appendRandom(t testing.TB, l *Log, rng *rand.Rand, n int) [][]byte {
	var out [][]byte
	for i := range n {
		b := randomBatch(t, rng, 1000+int64(i)*3)
		want := l.HighWatermark()
		r := mustAppend(t, l, b)
		h, _ := ParseBatchHeader(b)
		if r.BaseOffset != want || r.LastOffset != want+int64(h.LastOffsetDelta) || r.Duplicate || r.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v, want base %d", i, r, want)
		}
		if h.BaseOffset != want || checkCRC(b) != nil {
			t.Fatalf("append %d: batch not rewritten correctly: %+v", i, h)
		}
		out = append(out, b)
	}
	return out
}

func sameBatches(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	o := testOpts(t, smallConfig())
	l := mustOpen(t, o)
	want := appendRandom(t, l, rng, 400)
	if l.NumSegments() < 10 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	var total int64
	for _, b := range want {
		total += int64(len(b))
	}
	if l.Size() != total {
		t.Fatalf("Size %d, want %d", l.Size(), total)
	}
	for _, maxBytes := range []int32{1, 700, 5000, 1 << 20} {
		sameBatches(t, readAll(t, l, 0, maxBytes), want)
	}
	checkReadsStayInSegment(t, l)

	// Reads from every offset start at the batch holding it.
	for _, b := range want {
		h, _ := ParseBatchHeader(b)
		for off := h.BaseOffset; off <= h.LastOffset(); off++ {
			r, err := l.Read(off, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := r.AppendTo(nil)
			if !bytes.Equal(got, b) {
				t.Fatalf("Read(%d) did not return the batch at %d", off, h.BaseOffset)
			}
		}
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	defer l.Close()
	sameBatches(t, readAll(t, l, 0, 3000), want)
	// Appending continues the offsets.
	more := appendRandom(t, l, rng, 50)
	sameBatches(t, readAll(t, l, 0, 1<<20), append(want, more...))
	// Indexing resumed exactly where it stopped.
	for _, s := range l.segs {
		if err := s.ensureLoaded(l.logger, smallConfig().IndexIntervalBytes); err != nil {
			t.Fatal(err)
		}
		checkIndexes(t, s, smallConfig().IndexIntervalBytes)
	}
}

// checkReadsStayInSegment checks that reads never span segments and that
// the segment files are named after their first offset.
func checkReadsStayInSegment(t *testing.T, l *Log) {
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	l.mu.RUnlock()
	for i, s := range segs {
		r, err := l.Read(s.base, 1<<30, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.seg != s || int64(r.Size()) != s.size.Load() {
			t.Fatalf("read from segment %d: %d bytes of %d", i, r.Size(), s.size.Load())
		}
		if i > 0 && segs[i-1].next != s.base {
			t.Fatalf("segment %d starts at %d, previous ends at %d", i, s.base, segs[i-1].next)
		}
		f, pos, n := r.File()
		b := make([]byte, n)
		if _, err := f.ReadAt(b, pos); err != nil {
			t.Fatal(err)
		}
		if h, _ := ParseBatchHeader(b); h.BaseOffset != s.base {
			t.Fatalf("segment %s starts with offset %d", s.name(), h.BaseOffset)
		}
	}
}

func TestReadLimits(t *testing.T) {
	l := mustOpen(t, testOpts(t, DefaultConfig()))
	defer l.Close()
	var sizes []int
	for range 4 {
		b := build(t, plain(3))
		sizes = append(sizes, len(b))
		mustAppend(t, l, b)
	}
	sz := int32(sizes[0]) // all the same size
	tests := []struct {
		off      int64
		max      int32
		minOne   bool
		wantSize int
	}{
		{0, sz - 1, false, 0},
		{0, sz - 1, true, int(sz)},
		{0, 0, true, int(sz)},
		{0, -5, true, int(sz)},
		{0, sz, false, int(sz)},
		{1, 2*sz - 1, false, int(sz)},
		{2, 2 * sz, false, 2 * int(sz)},
		{3, 1 << 30, false, 3 * int(sz)},
		{11, 1 << 30, false, int(sz)},
		{12, 1 << 30, true, 0}, // the high watermark
	}
	for _, tt := range tests {
		r, err := l.Read(tt.off, tt.max, tt.minOne)
		if err != nil {
			t.Fatalf("Read(%d, %d, %v): %v", tt.off, tt.max, tt.minOne, err)
		}
		if r.Size() != tt.wantSize || r.HighWatermark != 12 || r.LogStartOffset != 0 {
			t.Fatalf("Read(%d, %d, %v): size %d hw %d, want size %d", tt.off, tt.max, tt.minOne, r.Size(), r.HighWatermark, tt.wantSize)
		}
	}
	for _, off := range []int64{-1, 13, 1 << 40} {
		if _, err := l.Read(off, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d): %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	// Empty log.
	e := mustOpen(t, testOpts(t, DefaultConfig()))
	defer e.Close()
	if r, err := e.Read(0, 100, true); err != nil || r.Size() != 0 {
		t.Fatalf("empty log: %v %d", err, r.Size())
	}
	if f, _, _ := (ReadResult{}).File(); f != nil {
		t.Fatal("empty result has a file")
	}
}

// checkIndexes verifies a segment's in-memory indexes against its batches.
func checkIndexes(t *testing.T, s *segment, interval int32) {
	t.Helper()
	s.mu.RLock()
	idx, tidx := bytes.Clone(s.ix.idx), bytes.Clone(s.ix.tidx)
	s.mu.RUnlock()
	size := s.size.Load()
	if err := checkOffsetIndex(idx, size, s.next-s.base); err != nil {
		t.Fatal(err)
	}
	if err := checkTimeIndex(tidx, s.next-s.base); err != nil {
		t.Fatal(err)
	}
	r := windowReader{f: s.log, limit: size, buf: make([]byte, 4096)}
	batchAt := map[int64]BatchHeader{}
	var positions []int64
	_, _, err := scanBatches(&r, 0, s.base, true, func(h *BatchHeader, pos int64) {
		batchAt[pos] = *h
		positions = append(positions, pos)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range offsetEntries(idx) {
		rel, pos := offsetEntry(idx, i)
		h, ok := batchAt[int64(pos)]
		if !ok || h.BaseOffset != s.base+int64(rel) {
			t.Fatalf("%s: index entry %d (%d, %d) does not point at a batch", s.name(), i, rel, pos)
		}
	}
	// Exactly the entries the indexing rule gives, plus perhaps the final
	// time entry of a finished segment.
	want := newIndexer()
	for _, p := range positions {
		h := batchAt[p]
		want.add(s.base, &h, p, interval)
	}
	if !bytes.Equal(idx, want.idx) {
		t.Fatalf("%s: offset index has %d entries, want %d", s.name(), offsetEntries(idx), offsetEntries(want.idx))
	}
	unfinished := bytes.Clone(want.tidx)
	want.maybeAppendTime(s.base)
	if !bytes.Equal(tidx, unfinished) && !bytes.Equal(tidx, want.tidx) {
		t.Fatalf("%s: time index has %d entries, want %d", s.name(), timeEntries(tidx), timeEntries(want.tidx))
	}
	maxTs := int64(noTimestamp)
	for _, p := range positions {
		maxTs = max(maxTs, batchAt[p].MaxTimestamp)
	}
	if m, _ := s.maxTimestamp(); m != maxTs {
		t.Fatalf("%s: max timestamp %d, want %d", s.name(), m, maxTs)
	}
}

func TestIndexes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := smallConfig()
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	appendRandom(t, l, rng, 300)
	for _, s := range l.segs {
		checkIndexes(t, s, cfg.IndexIntervalBytes)
	}
	// The files hold exactly the in-memory indexes after Close.
	mem := map[string][]byte{}
	for _, s := range l.segs {
		s.mu.RLock()
		mem[s.path+indexExt], mem[s.path+timeIndexExt] = bytes.Clone(s.ix.idx), bytes.Clone(s.ix.tidx)
		s.mu.RUnlock()
	}
	l.segs[len(l.segs)-1].finish()
	act := l.segs[len(l.segs)-1]
	mem[act.path+timeIndexExt] = bytes.Clone(act.ix.tidx)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range mem {
		got, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v, %d bytes, want %d", filepath.Base(name), err, len(got), len(want))
		}
	}
	l = mustOpen(t, o)
	defer l.Close()
	for _, s := range l.segs {
		if err := s.ensureLoaded(l.logger, cfg.IndexIntervalBytes); err != nil {
			t.Fatal(err)
		}
		checkIndexes(t, s, cfg.IndexIntervalBytes)
	}
}

func TestRollConditions(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.SegmentMs = 1000
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	b := func() []byte { return build(t, plain(2)) }
	mustAppend(t, l, b())
	clk.Advance(999 * time.Millisecond)
	mustAppend(t, l, b())
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("%d segments before segment.ms", n)
	}
	clk.Advance(time.Millisecond)
	mustAppend(t, l, b())
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments after segment.ms", n)
	}

	// segment.bytes: a batch that would overflow goes to a new segment.
	sz := int64(len(b()))
	cfg.SegmentMs = 1 << 40
	cfg.SegmentBytes = 3 * sz
	l.SetConfig(cfg)
	for range 3 {
		mustAppend(t, l, b())
	}
	if n := l.NumSegments(); n != 3 {
		t.Fatalf("%d segments after segment.bytes", n)
	}
	if got := l.segs[1].size.Load(); got != 3*sz {
		t.Fatalf("segment 1 holds %d bytes, want %d", got, 3*sz)
	}

	// segment.index.bytes: roll when the offset index is full.
	cfg.SegmentBytes = 1 << 30
	cfg.IndexIntervalBytes = 0 // index every batch
	cfg.SegmentIndexBytes = 3 * offsetEntrySize
	l.SetConfig(cfg)
	before := l.NumSegments()
	for range 8 {
		mustAppend(t, l, b())
	}
	if n := l.NumSegments(); n < before+2 {
		t.Fatalf("%d segments after filling indexes (before %d)", n, before)
	}
	for _, s := range l.segs[before:] {
		if offsetEntries(s.ix.idx) > 3 {
			t.Fatalf("%s has %d index entries", s.name(), offsetEntries(s.ix.idx))
		}
	}
	if l.Config().SegmentIndexBytes != 3*offsetEntrySize {
		t.Fatal("Config does not reflect SetConfig")
	}
}

func TestLogAppendTime(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.TimestampType = LogAppendTime
	cfg.LeaderEpoch = 7
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer l.Close()
	s := plain(3)
	s.codec = CodecZstd
	b := build(t, s)
	r := mustAppend(t, l, b)
	if r.LogAppendTime != clk.Now().UnixMilli() {
		t.Fatalf("LogAppendTime %d", r.LogAppendTime)
	}
	h, _ := ParseBatchHeader(b)
	if !h.LogAppendTime() || h.MaxTimestamp != r.LogAppendTime || h.PartitionLeaderEpoch != 7 || checkCRC(b) != nil {
		t.Fatalf("stored header %+v", h)
	}
	recs, err := DecodeRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Timestamp != r.LogAppendTime {
			t.Fatalf("record timestamp %d", rec.Timestamp)
		}
	}
	off, ts, err := l.OffsetForTimestamp(r.LogAppendTime)
	if err != nil || off != 0 || ts != r.LogAppendTime {
		t.Fatalf("OffsetForTimestamp: %d %d %v", off, ts, err)
	}
}

func TestDeleteAndDir(t *testing.T) {
	o := testOpts(t, DefaultConfig())
	l := mustOpen(t, o)
	mustAppend(t, l, build(t, plain(1)))
	if l.Dir() != o.Dir {
		t.Fatal("Dir")
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
		t.Fatalf("directory survives Delete: %v", err)
	}
	if _, err := l.Append(build(t, plain(1))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Delete: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close after Delete: %v", err)
	}
}
