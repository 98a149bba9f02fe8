package log

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAppend1KiB appends 16 KiB batches of 16 records of 1 KiB each,
// to the page cache (default flush settings).
func BenchmarkAppend1KiB(b *testing.B) {
	s := plain(16)
	s.valueSize = 1024 - 10
	batch := build(b, s)
	l := mustOpen(b, testOpts(b, DefaultConfig()))
	defer l.Close()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend1KiBParallel is the same with concurrent appenders.
func BenchmarkAppend1KiBParallel(b *testing.B) {
	s := plain(16)
	s.valueSize = 1024 - 10
	proto := build(b, s)
	l := mustOpen(b, testOpts(b, DefaultConfig()))
	defer l.Close()
	b.SetBytes(int64(len(proto)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		batch := append([]byte(nil), proto...)
		for pb.Next() {
			if _, err := l.Append(batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRead reads up to 1 MiB from random offsets of a 64 MiB log of
// 16 KiB batches, copying the bytes out as a fetch would.
func BenchmarkRead(b *testing.B) {
	s := plain(16)
	s.valueSize = 1024 - 10
	batch := build(b, s)
	l := mustOpen(b, testOpts(b, DefaultConfig()))
	defer l.Close()
	for range (64 << 20) / len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	hw := l.HighWatermark()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := l.Read(rng.Int64N(hw), 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = r.AppendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate measures validation alone of the same batch.
func BenchmarkValidate(b *testing.B) {
	s := plain(16)
	s.valueSize = 1024 - 10
	batch := build(b, s)
	cfg := DefaultConfig()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validateBatch(batch, &cfg, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate100B is BenchmarkValidate for a 1 MiB batch of 100-byte
// records, where the per-record walk is most of the cost.
func BenchmarkValidate100B(b *testing.B) {
	s := plain(900 << 10 / 120)
	s.valueSize = 100
	s.tsStep = 1
	batch := build(b, s)
	cfg := DefaultConfig()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validateBatch(batch, &cfg, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadUnverified is BenchmarkRead on a reopened log whose ranges
// are forgotten before every read, so that each read CRC-checks its 1 MiB
// first (verify.go): the cost of the first read of data recovery did not
// check. BenchmarkRead is the cost of every later read.
func BenchmarkReadUnverified(b *testing.B) {
	s := plain(16)
	s.valueSize = 1024 - 10
	batch := build(b, s)
	o := testOpts(b, DefaultConfig())
	l := mustOpen(b, o)
	for range (64 << 20) / len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	l = mustOpen(b, o)
	defer l.Close()
	hw := l.HighWatermark()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, seg := range l.segs {
			seg.verify.mu.Lock()
			seg.verify.checked = nil
			seg.verify.mu.Unlock()
		}
		r, err := l.Read(rng.Int64N(hw), 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = r.AppendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
