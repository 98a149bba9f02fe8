package log

import (
	"math/rand/v2"
	"testing"
	"time"
)

// bruteForce answers OffsetForTimestamp and MaxTimestamp by decoding every
// batch.
type bruteForce struct{ recs []Record }

func newBruteForce(t *testing.T, batches [][]byte) bruteForce {
	var bf bruteForce
	for _, b := range batches {
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		bf.recs = append(bf.recs, recs...)
	}
	return bf
}

func (bf bruteForce) offsetFor(ts int64) (int64, int64) {
	for _, r := range bf.recs {
		if r.Timestamp >= ts {
			return r.Offset, r.Timestamp
		}
	}
	return -1, -1
}

func (bf bruteForce) max() (int64, int64) {
	off, best := int64(-1), int64(-1)
	for i, r := range bf.recs {
		if i == 0 || r.Timestamp > best {
			off, best = r.Offset, r.Timestamp
		}
	}
	return off, best
}

func TestTimestampLookups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 100
	o := testOpts(t, cfg)
	l := mustOpen(t, o)

	if off, ts, err := l.MaxTimestamp(); off != -1 || ts != -1 || err != nil {
		t.Fatalf("empty MaxTimestamp: %d %d %v", off, ts, err)
	}
	if off, ts, err := l.OffsetForTimestamp(0); off != -1 || ts != -1 || err != nil {
		t.Fatalf("empty OffsetForTimestamp: %d %d %v", off, ts, err)
	}

	// Timestamps wander up and down, within and across batches, with
	// repeated values, so that both the first-match and the tie rules
	// matter.
	var batches [][]byte
	ts := int64(10_000)
	for range 300 {
		s := plain(1 + rng.IntN(8))
		s.codec = []int8{CodecNone, CodecGzip, CodecZstd}[rng.IntN(3)]
		s.valueSize = rng.IntN(200)
		s.ts = make([]int64, s.n)
		for i := range s.ts {
			ts += int64(rng.IntN(40)) - 15
			s.ts[i] = ts
		}
		b := build(t, s)
		mustAppend(t, l, b)
		batches = append(batches, b)
	}
	if l.NumSegments() < 5 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	bf := newBruteForce(t, batches)
	check := func(l *Log) {
		t.Helper()
		lo, hi := bf.recs[0].Timestamp-50, ts+50
		for q := lo; q <= hi; q++ {
			wantOff, wantTs := bf.offsetFor(q)
			off, got, err := l.OffsetForTimestamp(q)
			if err != nil || off != wantOff || got != wantTs {
				t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", q, off, got, err, wantOff, wantTs)
			}
		}
		wantOff, wantTs := bf.max()
		if off, got, err := l.MaxTimestamp(); err != nil || off != wantOff || got != wantTs {
			t.Fatalf("MaxTimestamp = %d, %d, %v; want %d, %d", off, got, err, wantOff, wantTs)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the closed segments' indexes load lazily.
	l = mustOpen(t, o)
	check(l)
	l.Close()
}

// TestOffsetForTimestampAfterDeleteRecords: once DeleteRecords moved the
// log start offset into a segment, even into a batch, a timestamp lookup
// never answers an offset below it, but the first record at or after it
// with a timestamp at least the target's.
func TestOffsetForTimestampAfterDeleteRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 100
	l := mustOpen(t, testOpts(t, cfg))
	defer l.Close()
	var batches [][]byte
	ts := int64(10_000)
	for range 200 {
		s := plain(1 + rng.IntN(8))
		s.ts = make([]int64, s.n)
		for i := range s.ts {
			ts += int64(rng.IntN(40)) - 15
			s.ts[i] = ts
		}
		b := build(t, s)
		mustAppend(t, l, b)
		batches = append(batches, b)
	}
	bf := newBruteForce(t, batches)
	lo, hi := bf.recs[0].Timestamp-50, ts+50
	clamped := 0
	for _, start := range []int64{1, 7, 150, 151, 400, l.HighWatermark() - 3} {
		if _, err := l.DeleteRecords(start, time.Now()); err != nil {
			t.Fatal(err)
		}
		for q := lo; q <= hi; q++ {
			wantOff, wantTs := int64(-1), int64(-1)
			for _, r := range bf.recs {
				if r.Offset >= start && r.Timestamp >= q {
					wantOff, wantTs = r.Offset, r.Timestamp
					break
				}
			}
			if off, _ := bf.offsetFor(q); off >= 0 && off < start {
				clamped++
			}
			off, got, err := l.OffsetForTimestamp(q)
			if err != nil || off != wantOff || got != wantTs {
				t.Fatalf("log start %d: OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", start, q, off, got, err, wantOff, wantTs)
			}
		}
	}
	if clamped == 0 {
		t.Fatal("no lookup had its first match below the log start offset: the test checks nothing")
	}
}
