package log

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fillKeyed appends about size bytes of 100-record batches of ~120-byte
// records, keys drawn round-robin from size/10 records' worth of keys (10%
// live), then rolls so that everything is cleanable.
func fillKeyed(b *testing.B, l *Log, clk *clock, size int64, codec int8) {
	const perBatch = 100
	// Values: windows of a random hex buffer, so codecs see realistic
	// (about 2:1) data rather than zeros.
	rnd := make([]byte, 1<<16)
	for i := range rnd {
		rnd[i] = "0123456789abcdef"[rand.IntN(16)]
	}
	const valueLen = 100
	recSize := int64(valueLen + 20)
	keys := max(int(size/recSize/10), 1)
	n := 0
	recs := make([]kv, perBatch)
	for l.Size() < size {
		for i := range recs {
			at := (n * 37) % (len(rnd) - valueLen)
			recs[i] = kv{key: fmt.Appendf(nil, "key-%09d", n%keys), value: rnd[at : at+valueLen]}
			n++
		}
		if _, err := l.Append(buildKeyed(b, codec, -1, -1, clk.Now().UnixMilli(), recs)); err != nil {
			b.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	if _, err := l.rollIdle(clk.Now()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCompact cleans a 100 MB log in which 10% of the records are the
// newest of their key; MB/s is of the log cleaned.
func BenchmarkCompact(b *testing.B) {
	for _, c := range []struct {
		codec int8
		duty  float64
	}{{CodecNone, 0}, {CodecZstd, 0}, {CodecNone, CleanerDutyCycle}} {
		b.Run(fmt.Sprintf("codec=%d/duty=%g", c.codec, c.duty), func(b *testing.B) {
			for b.Loop() {
				benchCompactOnce(b, 100<<20, 64<<20, c.codec, CleanOptions{DutyCycle: c.duty})
			}
		})
	}
}

// BenchmarkCompact1GB is the target: 1 GB with 10% live keys,
// uncompressed, cleaned as an idle broker cleans (unpaced); it reports the
// seconds one clean takes.
//
//	go test ./internal/log -run '^$' -bench Compact1GB -benchtime 1x -count 3
func BenchmarkCompact1GB(b *testing.B) {
	idle := CleanOptions{DutyCycle: CleanerDutyCycle, Busy: func() bool { return false }}
	for b.Loop() {
		took := benchCompactOnce(b, 1<<30, 256<<20, CodecNone, idle)
		b.ReportMetric(took.Seconds(), "s/GB-clean")
	}
}

// benchCompactOnce fills a fresh log with size bytes (fillKeyed) in
// segments of segBytes, cleans it with the timer running only then, and
// returns how long the clean took.
func benchCompactOnce(b *testing.B, size, segBytes int64, codec int8, opts CleanOptions) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	clk := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = segBytes
	cfg.IndexIntervalBytes = 4096
	o := testOpts(b, cfg)
	o.Now = clk.Now
	l := mustOpen(b, o)
	defer l.Close()
	fillKeyed(b, l, clk, size, codec)
	before := l.Size()
	start := time.Now()
	b.StartTimer()
	st, err := l.Clean(clk.Now(), opts)
	b.StopTimer()
	took := time.Since(start)
	if err != nil || st.BytesAfter*5 > st.BytesBefore {
		b.Fatalf("clean: %+v %v", st, err)
	}
	b.SetBytes(before)
	return took
}

// BenchmarkAppendP99WhileCleaning reports the p99 latency of 1 KiB
// appends to one log, idle and while another log is being cleaned,
// unpaced and at the broker's duty cycle. What a producer sees is
// BenchmarkProduceP99WhileCleaning in internal/broker.
func BenchmarkAppendP99WhileCleaning(b *testing.B) {
	for _, duty := range []float64{0, CleanerDutyCycle} {
		b.Run(fmt.Sprintf("duty=%g", duty), func(b *testing.B) { benchAppendWhileCleaning(b, duty) })
	}
}

func benchAppendWhileCleaning(b *testing.B, duty float64) {
	clk := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 64 << 20
	o := testOpts(b, cfg)
	o.Now = clk.Now
	dirty := mustOpen(b, o)
	defer dirty.Close()
	fillKeyed(b, dirty, clk, 100<<20, CodecNone)

	hot := mustOpen(b, testOpts(b, DefaultConfig()))
	defer hot.Close()
	s := plain(1)
	s.valueSize = 1024
	batch := build(b, s)
	p99 := func(n int) time.Duration {
		lat := make([]time.Duration, n)
		for i := range lat {
			bb := slices.Clone(batch)
			t0 := time.Now()
			if _, err := hot.Append(bb); err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[n*99/100]
	}
	b.ResetTimer()
	for b.Loop() {
		idle := p99(20000)
		done := make(chan error, 1)
		go func() { _, err := dirty.Clean(clk.Now(), CleanOptions{DutyCycle: duty}); done <- err }()
		busy := p99(20000)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(idle.Microseconds()), "p99-idle-µs")
		b.ReportMetric(float64(busy.Microseconds()), "p99-cleaning-µs")
	}
}
