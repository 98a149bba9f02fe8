package log

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// withBudget sets the decompression budget and wait for one test.
func withBudget(t *testing.T, capacity int64, wait time.Duration) {
	t.Helper()
	oldWait := decompressWait
	SetDecompressBudget(capacity)
	decompressWait = wait
	t.Cleanup(func() {
		SetDecompressBudget(DefaultDecompressBudget)
		decompressWait = oldWait
	})
}

func budgetUsed() int64 { return DecompressBudgetUsed() }

// TestDecompressBudgetShared: a decompression's output stays counted
// against the process-wide budget until it is handed back, so a second
// one that does not fit fails with the retriable ErrDecompressBusy; once
// the first is handed back it succeeds, and nothing stays counted.
func TestDecompressBudgetShared(t *testing.T) {
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	withBudget(t, DefaultDecompressBudget, 20*time.Millisecond)
	data := testPayload(6 << 20)
	for _, c := range codecCases {
		src := c.comp(t, data)
		if budgetUsed() != 0 {
			t.Fatalf("%s: %d bytes counted before", c.name, budgetUsed())
		}
		first, err := decompress(src, c.codec, true, limit)
		if err != nil {
			t.Fatal(c.name, err)
		}
		held := budgetUsed()
		if held < int64(len(data)) {
			t.Fatalf("%s: a %d-byte output holds %d bytes of budget", c.name, len(data), held)
		}
		// Room for a quarter of it: a second output of the same size
		// cannot fit.
		SetDecompressBudget(held + held/4)
		second, err := decompress(src, c.codec, true, limit)
		if !errors.Is(err, ErrDecompressBusy) || IsCorruption(err) || errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("%s: second decompression with the budget held: %d bytes, %v; want ErrDecompressBusy", c.name, len(second), err)
		}
		if budgetUsed() != held {
			t.Fatalf("%s: the failed decompression left %d bytes counted", c.name, budgetUsed()-held)
		}
		putDecompressBuf(first)
		SetDecompressBudget(DefaultDecompressBudget)
		second, err = decompress(src, c.codec, true, limit)
		if err != nil {
			t.Fatalf("%s: after the first was handed back: %v", c.name, err)
		}
		putDecompressBuf(second)
		if _, err := decompress(src, c.codec, false, limit); err != nil {
			t.Fatal(c.name, err)
		}
		if budgetUsed() != 0 {
			t.Fatalf("%s: %d bytes stay counted", c.name, budgetUsed())
		}
	}
}

// TestDecompressBudgetWaits: a decompression holding nothing waits for
// budget and proceeds once another releases it.
func TestDecompressBudgetWaits(t *testing.T) {
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	withBudget(t, DefaultDecompressBudget, time.Minute)
	data := testPayload(4 << 20)
	src := codecCases[1].comp(t, data) // snappy: exactly its size
	first, err := decompress(src, CodecSnappy, true, limit)
	if err != nil {
		t.Fatal(err)
	}
	SetDecompressBudget(budgetUsed() + 1)
	done := make(chan error, 1)
	go func() {
		out, err := decompress(src, CodecSnappy, true, limit)
		if err == nil {
			putDecompressBuf(out)
		}
		done <- err
	}()
	for {
		decompressBudget.mu.Lock()
		w := decompressBudget.waiters
		decompressBudget.mu.Unlock()
		if w == 1 {
			break
		}
		runtime.Gosched()
	}
	putDecompressBuf(first)
	if err := <-done; err != nil {
		t.Fatalf("waiting decompression: %v", err)
	}
}

// TestDecompressBombsShareBudget: sixteen bombs decompressed at once hold
// no more than the budget between them (the per-batch bound alone would
// let them hold sixteen times the limit), and each fails as too large or
// busy.
func TestDecompressBombsShareBudget(t *testing.T) {
	limit := decompressLimit(int64(DefaultConfig().MaxMessageBytes))
	withBudget(t, DefaultDecompressBudget, 50*time.Millisecond)
	src := gzipOf(t, make([]byte, 1<<20), bombSize/(1<<20))
	decompressBudget.mu.Lock()
	decompressBudget.peak = 0
	decompressBudget.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = decompress(src, CodecGzip, true, limit)
		})
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrDecompressBusy):
			busy++
		case errors.Is(err, ErrMessageTooLarge):
		default:
			t.Fatalf("bomb: %v", err)
		}
	}
	decompressBudget.mu.Lock()
	peak := decompressBudget.peak
	decompressBudget.mu.Unlock()
	t.Logf("16 gzip bombs at once: peak %d MiB of a %d MiB budget, %d refused as busy", peak>>20, DefaultDecompressBudget>>20, busy)
	if peak > DefaultDecompressBudget {
		t.Fatalf("peak %d bytes over the budget of %d", peak, DefaultDecompressBudget)
	}
	if budgetUsed() != 0 {
		t.Fatalf("%d bytes stay counted", budgetUsed())
	}
}
