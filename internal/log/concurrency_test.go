package log

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// TestGroupCommit: with flush.messages=1 every append returns only after
// its data is fsynced, and concurrent appenders share fsyncs. It does not
// depend on timing: the appends go in rounds, one per writer, and every
// fsync of a round waits (the disk is slow) until all of the round's
// batches are written, so the round's appends are all waiting for an
// fsync together; the fsync after the held one covers them all, so a
// round takes at most two fsyncs, however the goroutines are scheduled.
func TestGroupCommit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	cfg.SegmentBytes = 64 << 10
	o, f := faultyOpts(t, cfg)
	var syncs, inSync, roundEnd atomic.Int64
	var l *Log
	written := func() int64 { // the log's end: batches written, fsynced or not
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.next
	}
	f.set(func(op errorfs.Op, p string) error {
		if op == errorfs.OpSync && strings.HasSuffix(p, logExt) {
			syncs.Add(1)
			if inSync.Add(1) > 1 {
				t.Error("concurrent fsyncs")
			}
			// The fsync runs without the log's mutex (syncTo), so the
			// other appenders can write meanwhile.
			for deadline := time.Now().Add(time.Minute); written() < roundEnd.Load(); time.Sleep(100 * time.Microsecond) {
				if time.Now().After(deadline) {
					t.Error("the round's appends were not all written")
					break
				}
			}
			inSync.Add(-1)
		}
		return nil
	})
	var flushes atomic.Int64 // Options.OnFlush: one a flush, however many files it fsyncs
	o.OnFlush = func(time.Duration) { flushes.Add(1) }
	l = mustOpen(t, o)
	defer l.Close()
	const writers, rounds = 8, 10
	for round := range rounds {
		roundEnd.Store(int64(2 * writers * (round + 1)))
		before := syncs.Load()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				s := plain(2)
				s.pid, s.seq = int64(w), int32(2*round)
				r, err := l.Append(build(t, s))
				if err != nil {
					t.Error(err)
					return
				}
				if got := l.synced.Load(); got <= r.LastOffset {
					t.Errorf("append of %d returned with only %d synced", r.LastOffset, got)
				}
			})
		}
		wg.Wait()
		if n := syncs.Load() - before; n < 1 || n > 2 {
			t.Fatalf("round %d: %d fsyncs for %d concurrent appends, want 1 or 2 (shared)", round, n, writers)
		}
	}
	if l.HighWatermark() != 2*writers*rounds {
		t.Fatalf("high watermark %d", l.HighWatermark())
	}
	if n, s := flushes.Load(), syncs.Load(); n < rounds || n > s {
		t.Fatalf("OnFlush called %d times for %d rounds and %d segment fsyncs", n, rounds, s)
	}
}

// TestConcurrentAppendRead runs an appender against readers that tail the
// log and check what they see, and timestamp lookups. Run with -race.
func TestConcurrentAppendRead(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 8 << 10
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	defer l.Close()

	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range 400 {
			// Mostly uncompressed: the race detector makes codecs slow.
			b := randomBatch(t, rng, int64(i))
			if i%8 != 0 {
				s := plain(1 + rng.IntN(10))
				s.valueSize, s.firstTs = rng.IntN(500), int64(i)
				b = build(t, s)
			}
			if _, err := l.Append(b); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			var buf []byte
			for !done.Load() {
				hw := l.HighWatermark()
				off := int64(0)
				if hw > 0 {
					off = rng.Int64N(hw + 1)
				}
				res, err := l.Read(off, int32(rng.IntN(20000)), true)
				if err != nil {
					t.Error(err)
					return
				}
				if res.HighWatermark < off {
					t.Errorf("read at %d reports high watermark %d", off, res.HighWatermark)
				}
				if buf, err = res.AppendTo(buf[:0]); err != nil {
					t.Error(err)
					return
				}
				next := int64(-1)
				for b := buf; len(b) > 0; {
					h, err := ParseBatchHeader(b)
					if err != nil || h.Size() > len(b) || checkCRC(b[:h.Size()]) != nil {
						t.Errorf("read at %d: bad batch", off)
						return
					}
					if next == -1 && (h.BaseOffset > off || h.LastOffset() < off) {
						t.Errorf("read at %d starts with batch %d-%d", off, h.BaseOffset, h.LastOffset())
					}
					if next != -1 && h.BaseOffset != next {
						t.Errorf("gap in read: %d after %d", h.BaseOffset, next)
					}
					next = h.LastOffset() + 1
					b = b[h.Size():]
				}
				if r == 0 {
					if _, _, err := l.OffsetForTimestamp(rng.Int64N(2000)); err != nil {
						t.Error(err)
					}
					if _, _, err := l.MaxTimestamp(); err != nil {
						t.Error(err)
					}
					_ = l.Size()
				}
			}
		})
	}
	wg.Wait()
	if l.NumSegments() < 10 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
}

// TestCloseDuringAppends: Close waits for appends in flight and later
// calls fail with ErrClosed.
func TestCloseDuringAppends(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				if _, err := l.Append(build(t, plain(1))); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	// Close once the appenders are well under way.
	for deadline := time.Now().Add(30 * time.Second); l.HighWatermark() < 50; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the appenders made no progress")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	hw := l.HighWatermark()
	if _, err := l.Read(0, 100, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	l = mustOpen(t, o)
	defer l.Close()
	if l.HighWatermark() != hw {
		t.Fatalf("reopened at %d, closed at %d", l.HighWatermark(), hw)
	}
}

func TestTickFlushes(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.FlushMs = 1000
	o, f := faultyOpts(t, cfg)
	o.Now = clk.Now
	var syncs atomic.Int64
	f.set(func(op errorfs.Op, p string) error {
		if op == errorfs.OpSync && strings.HasSuffix(p, logExt) {
			syncs.Add(1)
		}
		return nil
	})
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, build(t, plain(1)))
	if err := l.Tick(clk.Now().Add(999 * time.Millisecond)); err != nil || syncs.Load() != 0 {
		t.Fatalf("early tick: %v, %d syncs", err, syncs.Load())
	}
	if err := l.Tick(clk.Now().Add(time.Second)); err != nil || syncs.Load() != 1 {
		t.Fatalf("tick: %v, %d syncs", err, syncs.Load())
	}
	if err := l.Tick(clk.Now().Add(time.Hour)); err != nil || syncs.Load() != 1 {
		t.Fatalf("tick with nothing to flush: %v, %d syncs", err, syncs.Load())
	}
	mustAppend(t, l, build(t, plain(1)))
	if err := l.Flush(); err != nil || syncs.Load() != 2 {
		t.Fatalf("Flush: %v, %d syncs", err, syncs.Load())
	}
}

// TestFlushMessages: an append returns after an fsync once flush.messages
// messages are unflushed, and not before.
func TestFlushMessages(t *testing.T) {
	for _, every := range []int64{1, 3} {
		cfg := DefaultConfig()
		cfg.FlushMessages = every
		l := mustOpen(t, testOpts(t, cfg))
		for i := range int64(7) {
			r := mustAppend(t, l, build(t, plain(1)))
			synced := l.synced.Load()
			if (i+1)%every == 0 && synced != r.LastOffset+1 {
				t.Fatalf("flush.messages=%d: after message %d only %d synced", every, i, synced)
			}
			if (i+1)%every != 0 && synced > r.LastOffset {
				t.Fatalf("flush.messages=%d: message %d synced early", every, i)
			}
		}
		l.Close()
	}
}
