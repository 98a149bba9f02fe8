package log

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs/crashfs"
)

// TestPowerLoss appends from several writers to a log on a crash-simulating
// file system, takes the disk image a power loss would leave at a random
// moment (unsynced writes lost or torn, undurable directory entries gone),
// and recovers a log from that image. With flush.messages=1 every append
// acknowledged before the crash must be there, byte for byte; with or
// without it, the recovered log must be a clean prefix: offsets without a
// gap from the log start, every batch's CRC valid, every offset readable
// through the index, and appends continuing at the high watermark.
func TestPowerLoss(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for _, durable := range []bool{true, false} {
		lossy := 0
		for seed := range uint64(seeds) {
			t.Run(fmt.Sprintf("durable=%v/seed=%d", durable, seed), func(t *testing.T) {
				if powerLossOnce(t, seed, durable) {
					lossy++
				}
			})
		}
		// Without fsync per ack, some crashes must lose acknowledged
		// records, or this test never exercised recovery's truncation.
		if !durable && lossy == 0 {
			t.Errorf("no crash of %d lost an unsynced record: the crash image is not being exercised", seeds)
		}
	}
}

type ackedBatch struct {
	base, last int64
	crc        uint32
}

// powerLossOnce runs one crash and recovery and reports whether an append
// acknowledged before the crash was missing afterwards.
func powerLossOnce(t *testing.T, seed uint64, durable bool) (lost bool) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fsys := crashfs.New()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2048 + int64(rng.IntN(4096))
	cfg.IndexIntervalBytes = 128
	if durable {
		cfg.FlushMessages = 1
	} else if rng.IntN(2) == 0 {
		cfg.FlushMessages = 7 // some fsyncs, not at every ack
	}
	clk := newClock()
	opts := Options{FS: fsys, Dir: "/data/topic-0", Config: cfg, Logger: quietLogger(), Now: clk.Now}
	l := mustOpen(t, opts)

	const writers = 4
	perWriter := 30 + rng.IntN(40)
	crashAfter := rng.IntN(writers * perWriter)

	var (
		mu      sync.Mutex
		acked   []ackedBatch
		total   int
		image   *crashfs.FS
		atCrash []ackedBatch
	)
	crashRng := rand.New(rand.NewPCG(seed, 0xc4a5))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s := plain(1 + (w+i)%5)
				s.firstTs = int64(w)*1_000_000 + int64(i) // a distinct CRC per batch
				s.valueSize = 20 + (i*7)%90
				b := build(t, s)
				r, err := l.Append(b)
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				h, err := ParseBatchHeader(b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, ackedBatch{base: r.BaseOffset, last: r.LastOffset, crc: h.CRC})
				total++
				if total == crashAfter+1 {
					// Power fails now: every append that returned
					// before this instant is acknowledged.
					atCrash = append([]ackedBatch(nil), acked...)
					image = fsys.Crash(crashRng)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return false
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if image == nil {
		t.Fatal("no crash image was taken")
	}

	opts.FS = image
	r, err := Open(opts)
	if err != nil {
		t.Fatalf("Open after power loss: %v", err)
	}
	defer r.Close()

	// A clean prefix: no gap, CRCs valid (readAll checks both framing and
	// CRC), ending at the high watermark.
	batches := readAll(t, r, r.LogStartOffset(), 1000)
	next := r.LogStartOffset()
	if next != 0 {
		t.Errorf("log start offset after power loss = %d, want 0 (nothing was deleted)", next)
	}
	got := map[int64]BatchHeader{}
	for _, b := range batches {
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != next {
			t.Fatalf("batch at offset %d follows offset %d: a gap or an overlap", h.BaseOffset, next-1)
		}
		next = h.LastOffset() + 1
		got[h.BaseOffset] = h
	}
	if next != r.HighWatermark() {
		t.Errorf("batches end at %d, high watermark %d", next, r.HighWatermark())
	}

	for _, a := range atCrash {
		h, ok := got[a.base]
		if !ok || h.LastOffset() != a.last || h.CRC != a.crc {
			lost = true
			if durable {
				t.Errorf("acknowledged batch %d-%d (crc %08x) lost by the power loss: recovered %+v (present %v)", a.base, a.last, a.crc, h, ok)
			}
		}
	}

	// Every offset is readable through the indexes from where it lies.
	for o := r.LogStartOffset(); o < r.HighWatermark(); o += 1 + int64(rng.IntN(5)) {
		res, err := r.Read(o, 1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", o, err)
		}
		b, err := res.AppendTo(nil)
		if err != nil {
			t.Fatalf("Read(%d): %v", o, err)
		}
		h, err := ParseBatchHeader(b)
		if err != nil || h.BaseOffset > o || h.LastOffset() < o {
			t.Fatalf("Read(%d) returned batch %+v, %v", o, h, err)
		}
	}

	// The recovered log takes appends at its high watermark.
	hw := r.HighWatermark()
	res, err := r.Append(build(t, plain(3)))
	if err != nil || res.BaseOffset != hw {
		t.Fatalf("append after recovery = %+v, %v; want base offset %d", res, err, hw)
	}
	return lost
}
