package log

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Running out of disk space.
//
// A broker keeps a free-space floor (SpaceGuard): an append that would
// leave the file system holding the data directory with less than the
// floor available fails with ErrNoSpace (KAFKA_STORAGE_ERROR) before
// writing anything, reads go on, and appends succeed again as soon as space
// returns (retention or an operator freed some). The floor is checked
// against the bytes about to be written: the guard trusts a statfs result
// for spaceCheckInterval and subtracts from it every byte it admitted
// since, so a fast producer cannot write past the floor between two
// statfs calls; when that estimate says an append would cross the floor,
// the guard looks again (statfs) before refusing, so space freed since is
// seen at once. An admitted append costs two atomic loads and a
// compare-and-swap. Bytes written by other means (indexes, snapshots,
// compaction, other programs) are seen at the next statfs; appends in
// flight while a statfs runs may be missed by it, at most one batch per
// concurrent request, which the floor absorbs.
//
// The floor is log.dir.min.free.bytes when set, else DefaultMinFree: 5% of
// the file system's size, at most 1 GiB, so that a small disk is not
// refused every produce.
//
// Should a write still hit ENOSPC (or EDQUOT), Append truncates the
// segment back to its last complete batch; if that succeeds nothing else
// has changed (no index entry, offset or producer state was recorded), so
// the error is returned without making it sticky and a retry may succeed.
// Every other write error, and every fsync error (ENOSPC included: after a
// failed fsync the page cache may have dropped the data), stays sticky.

// spaceCheckInterval is how long a statfs result is trusted.
const spaceCheckInterval = time.Second

// The default floor: defaultMinFreePercent of the file system's size, at
// most maxDefaultMinFree.
const (
	defaultMinFreePercent = 5
	maxDefaultMinFree     = 1 << 30
)

// ErrNoSpace: the disk is (nearly) full. Always wrapped with ErrStorage
// (KAFKA_STORAGE_ERROR); never sticky.
var ErrNoSpace = errors.New("not enough free disk space")

// SpaceGuard refuses appends that would leave the file system holding a
// directory with less than a floor of free bytes available to
// unprivileged users. It is safe for concurrent use; one guard serves every
// log of a broker.
type SpaceGuard struct {
	dir     string
	minFree int64
	statfs  func(dir string) (avail int64, err error)

	mu    sync.Mutex                // serializes statfs calls
	snap  atomic.Pointer[spaceSnap] // the last statfs; nil before the first
	spent atomic.Int64              // bytes admitted since the guard was made
}

// spaceSnap is one statfs result.
type spaceSnap struct {
	avail int64 // bytes available; -1 unknown (statfs failed)
	base  int64 // spent when it was taken
	next  int64 // Unix ns after which it is stale
}

// NewSpaceGuard returns a guard for the file system holding dir, with a
// floor of minFree bytes (<= 0 disables it).
func NewSpaceGuard(dir string, minFree int64) *SpaceGuard {
	return &SpaceGuard{dir: dir, minFree: minFree, statfs: statfsAvail}
}

// DefaultMinFree is the floor for dir when none is configured: 5% of the
// size of the file system holding it, at most 1 GiB (1 GiB if statfs
// fails).
func DefaultMinFree(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return maxDefaultMinFree
	}
	return minFreeFor(int64(st.Blocks) * int64(st.Bsize))
}

// minFreeFor is the default floor on a file system of size bytes.
func minFreeFor(size int64) int64 {
	return min(size/100*defaultMinFreePercent, maxDefaultMinFree)
}

// MinFree returns the floor in bytes.
func (g *SpaceGuard) MinFree() int64 { return g.minFree }

// SetStatfs replaces the free-space probe and forgets the cached result;
// for tests.
func (g *SpaceGuard) SetStatfs(fn func(dir string) (int64, error)) {
	g.mu.Lock()
	g.statfs = fn
	g.snap.Store(nil)
	g.mu.Unlock()
}

func statfsAvail(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Available returns the free bytes estimated from the last statfs and the
// bytes admitted since (-1 if unknown).
func (g *SpaceGuard) Available() int64 {
	s := g.snap.Load()
	if s == nil || s.avail < 0 {
		return -1
	}
	return s.avail - (g.spent.Load() - s.base)
}

// refresh takes a new statfs result at ns unless another caller replaced
// old meanwhile, and returns the current one.
func (g *SpaceGuard) refresh(ns int64, old *spaceSnap) *spaceSnap {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur := g.snap.Load(); cur != old {
		return cur
	}
	base := g.spent.Load()
	avail, err := g.statfs(g.dir)
	if err != nil {
		avail = -1
	}
	s := &spaceSnap{avail: avail, base: base, next: ns + int64(spaceCheckInterval)}
	g.snap.Store(s)
	return s
}

// Check admits the write of n bytes at now, or returns an ErrNoSpace error
// if it would leave less than the floor available. A failing statfs does
// not block appends. A nil guard allows all.
func (g *SpaceGuard) Check(now time.Time, n int64) error {
	if g == nil || g.minFree <= 0 {
		return nil
	}
	ns := now.UnixNano()
	s := g.snap.Load()
	if s == nil || ns >= s.next {
		s = g.refresh(ns, s)
	}
	if g.admit(s, n) {
		return nil
	}
	// The estimate says no; space may have been freed since the statfs.
	s = g.refresh(ns, s)
	if g.admit(s, n) {
		return nil
	}
	avail := s.avail - (g.spent.Load() - s.base)
	return fmt.Errorf("%w: %w: %d bytes available in %s; writing %d more would pass the floor of %d (log.dir.min.free.bytes)",
		ErrStorage, ErrNoSpace, avail, g.dir, n, g.minFree)
}

// admit counts n bytes as spent if s leaves room for them above the floor.
func (g *SpaceGuard) admit(s *spaceSnap, n int64) bool {
	if s.avail < 0 {
		g.spent.Add(n)
		return true
	}
	for {
		spent := g.spent.Load()
		if s.avail-(spent-s.base)-n < g.minFree {
			return false
		}
		if g.spent.CompareAndSwap(spent, spent+n) {
			return true
		}
	}
}

// isNoSpace reports whether a write failed for lack of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpaceErr wraps a write's ENOSPC as a non-sticky storage error.
func noSpaceErr(err error) error {
	return fmt.Errorf("%w: %w: %w", ErrStorage, ErrNoSpace, err)
}
