package log

import (
	"encoding/binary"
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

// BenchmarkValidate100B is BenchmarkValidate for a 900 KiB batch of
// 100-byte records, where the per-record walk is most of the cost, with
// Kafka 4's default message.timestamp.after.max.ms of one hour checked.
func BenchmarkValidate100B(b *testing.B) {
	s := plain(900 << 10 / 120)
	s.valueSize = 100
	s.tsStep = 1
	batch := build(b, s)
	cfg := DefaultConfig()
	cfg.TimestampAfterMaxMs = 3_600_000
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validateBatch(batch, &cfg, s.firstTs); err != nil {
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

// BenchmarkIndexLookup looks up random offsets and timestamps in a full
// default-size segment index (10 MiB: 1,310,720 offset entries and as many
// time entries), the binary searches behind every Read and
// ListOffsets by time.
func BenchmarkIndexLookup(b *testing.B) {
	const n = 10 << 20 / offsetEntrySize
	idx := make([]byte, 0, n*offsetEntrySize)
	tidx := make([]byte, 0, n*timeEntrySize)
	for i := range uint32(n) {
		idx = binary.BigEndian.AppendUint32(idx, 1+i*4)
		idx = binary.BigEndian.AppendUint32(idx, 1+i*4096)
		tidx = binary.BigEndian.AppendUint64(tidx, uint64(1000+int64(i)*3))
		tidx = binary.BigEndian.AppendUint32(tidx, 1+i*4)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("offset", func(b *testing.B) {
		for b.Loop() {
			rel := rng.Uint32N(n * 4)
			if r, _ := floorOffset(idx, rel); r > rel {
				b.Fatalf("floor of %d is %d", rel, r)
			}
		}
	})
	b.Run("time", func(b *testing.B) {
		for b.Loop() {
			ts := 1000 + rng.Int64N(n*3)
			if rel := floorTime(tidx, ts); rel > uint32(ts-1000)/3*4+1 {
				b.Fatalf("floor of %d is %d", ts, rel)
			}
		}
	})
}
