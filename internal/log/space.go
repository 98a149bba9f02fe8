package log

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
)

// Running out of disk space.
//
// A broker keeps a free-space floor (SpaceGuard): while the file system
// holding the data directory has less than the floor available, Append
// fails with ErrNoSpace (KAFKA_STORAGE_ERROR) before writing anything, reads
// go on, and appends succeed again as soon as space returns (retention or
// an operator freed some). The floor is checked against a statfs result
// cached for spaceCheckInterval, so the check costs two atomic loads per
// append.
//
// Should a write still hit ENOSPC (or EDQUOT), Append truncates the
// segment back to its last complete batch; if that succeeds nothing else
// has changed (no index entry, offset or producer state was recorded), so
// the error is returned without making it sticky and a retry may succeed.
// Every other write error, and every fsync error (ENOSPC included: after a
// failed fsync the page cache may have dropped the data), stays sticky.

// spaceCheckInterval is how long a statfs result is trusted.
const spaceCheckInterval = time.Second

// ErrNoSpace: the disk is (nearly) full. Always wrapped with ErrStorage
// (KAFKA_STORAGE_ERROR); never sticky.
var ErrNoSpace = errors.New("not enough free disk space")

// SpaceGuard refuses appends while the file system holding a directory has
// less than a floor of free bytes available to unprivileged users. It is
// safe for concurrent use; one guard serves every log of a broker.
type SpaceGuard struct {
	dir     string
	minFree int64
	statfs  func(dir string) (avail int64, err error)

	next  atomic.Int64 // Unix ns after which the cached result is stale
	avail atomic.Int64 // bytes available at the last statfs; -1 unknown
}

// NewSpaceGuard returns a guard for the file system holding dir, with a
// floor of minFree bytes (<= 0 disables it).
func NewSpaceGuard(dir string, minFree int64) *SpaceGuard {
	g := &SpaceGuard{dir: dir, minFree: minFree, statfs: statfsAvail}
	g.avail.Store(-1)
	return g
}

// SetStatfs replaces the free-space probe and forgets the cached result;
// for tests.
func (g *SpaceGuard) SetStatfs(fn func(dir string) (int64, error)) {
	g.statfs = fn
	g.next.Store(0)
}

func statfsAvail(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Available returns the free bytes last seen (-1 if unknown).
func (g *SpaceGuard) Available() int64 { return g.avail.Load() }

// Check returns an ErrNoSpace error if the free space at now is below the
// floor. A failing statfs does not block appends. A nil guard allows all.
func (g *SpaceGuard) Check(now time.Time) error {
	if g == nil || g.minFree <= 0 {
		return nil
	}
	ns := now.UnixNano()
	if next := g.next.Load(); ns >= next && g.next.CompareAndSwap(next, ns+int64(spaceCheckInterval)) {
		avail, err := g.statfs(g.dir)
		if err != nil {
			avail = -1
		}
		g.avail.Store(avail)
	}
	if avail := g.avail.Load(); avail >= 0 && avail < g.minFree {
		return fmt.Errorf("%w: %w: %d bytes available in %s, below the floor of %d (log.dir.min.free.bytes)",
			ErrStorage, ErrNoSpace, avail, g.dir, g.minFree)
	}
	return nil
}

// isNoSpace reports whether a write failed for lack of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpaceErr wraps a write's ENOSPC as a non-sticky storage error.
func noSpaceErr(err error) error {
	return fmt.Errorf("%w: %w: %w", ErrStorage, ErrNoSpace, err)
}
