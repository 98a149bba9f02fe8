package log

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The decompression budget.
//
// Every batch decompressed (validation of produced batches, compaction,
// timestamp lookups, DecodeRecords) holds its output buffers against one
// budget shared by the whole process, so that many requests decompressing
// at once cannot take more than the budget between them, however they
// are spread over connections. The per-batch bound (decompressLimit) stays.
//
// A decompression's first acquisition (its output buffer, and for a
// streamed zstd frame the decoder's window) may wait, up to
// decompressWait, for other decompressions to release theirs; while it
// waits it holds nothing. Every later acquisition (the output outgrowing
// its buffer) is only tried: if the budget cannot cover it at once the
// decompression fails, releasing what it held. So no decompression waits
// while holding budget, and the budget cannot deadlock. A decompression
// that fails either way returns ErrDecompressBusy, a retriable error
// (REQUEST_TIMED_OUT for produce: nothing was appended and a retry may
// succeed). A decompression is let past the budget when nothing else
// holds any, so that every batch the per-batch bound allows can be
// decompressed.
//
// A buffer decompress returns pooled keeps its share until
// putDecompressBuf; buffers dropped on the way (grown out of) are counted
// until the decompression ends, standing for the garbage they leave.

// DefaultDecompressBudget is the budget unless SetDecompressBudget changes
// it: what one batch decompressing to the default bound takes on its way
// there (about one and a half times it, see grow), so that such a batch
// fits; batches under a few MiB, the usual, fit by the dozen.
const DefaultDecompressBudget = 3 * MaxDecompressedBytes / 2

// decompressWait bounds how long a decompression waits for budget.
var decompressWait = 2 * time.Second

// memBudget is a byte budget. Unlike a FIFO semaphore, any waiter whose
// need fits goes ahead, so small requests are not held up behind a large
// one.
type memBudget struct {
	capacity atomic.Int64
	mu       sync.Mutex
	used     int64
	peak     int64 // the most used since the last resetPeak
	waiters  int
	wake     chan struct{} // closed and replaced on a release while waiters > 0
}

func newMemBudget(capacity int64) *memBudget {
	b := &memBudget{wake: make(chan struct{})}
	b.capacity.Store(capacity)
	return b
}

var decompressBudget = newMemBudget(DefaultDecompressBudget)

// SetDecompressBudget sets the process-wide decompression budget in bytes
// (<= 0: DefaultDecompressBudget).
func SetDecompressBudget(n int64) {
	if n <= 0 {
		n = DefaultDecompressBudget
	}
	decompressBudget.capacity.Store(n)
}

// DecompressBudgetUsed returns the bytes held against the budget now.
func DecompressBudgetUsed() int64 {
	decompressBudget.mu.Lock()
	defer decompressBudget.mu.Unlock()
	return decompressBudget.used
}

// tryAcquire takes n bytes if they fit, or if nothing but the caller's
// own bytes are held.
func (b *memBudget) tryAcquire(n, own int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n <= b.capacity.Load() || b.used == own {
		b.used += n
		b.peak = max(b.peak, b.used)
		return true
	}
	return false
}

// acquire takes n bytes, waiting up to wait for them.
func (b *memBudget) acquire(n int64, wait time.Duration) bool {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.capacity.Load() || b.used == 0 {
			b.used += n
			b.peak = max(b.peak, b.used)
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		wake := b.wake
		b.waiters++
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		timedOut := false
		select {
		case <-wake:
		case <-timer.C:
			timedOut = true
		}
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
		if timedOut {
			return false
		}
	}
}

// force takes n bytes whether they fit or not.
func (b *memBudget) force(n int64) {
	b.mu.Lock()
	b.used += n
	b.peak = max(b.peak, b.used)
	b.mu.Unlock()
}

func (b *memBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.waiters > 0 {
		close(b.wake)
		b.wake = make(chan struct{})
	}
	b.mu.Unlock()
}

// grant is what one decompression holds against decompressBudget.
type grant struct {
	held int64
}

// take acquires n more bytes: waiting for the first acquisition, only
// trying later ones.
func (g *grant) take(n int) error {
	if n <= 0 {
		return nil
	}
	var ok bool
	if g.held == 0 {
		ok = decompressBudget.acquire(int64(n), decompressWait)
	} else {
		ok = decompressBudget.tryAcquire(int64(n), g.held)
	}
	if !ok {
		return fmt.Errorf("%w (%d bytes more, %d held by this batch)", ErrDecompressBusy, n, g.held)
	}
	g.held += int64(n)
	return nil
}

// tryMore takes n more bytes if they fit now.
func (g *grant) tryMore(n int) bool {
	if !decompressBudget.tryAcquire(int64(n), g.held) {
		return false
	}
	g.held += int64(n)
	return true
}

// keep releases everything but n bytes, which the caller's buffer goes on
// holding until putDecompressBuf.
func (g *grant) keep(n int) {
	decompressBudget.release(g.held - int64(n))
	g.held = int64(n)
}
