package log

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/vfs"
)

// A cap on open files (Options.Files, the broker's log.open.files.max),
// for brokers with more partitions than they can keep open.
//
// Every call that needs a log's files takes a use of the log for its
// duration (enter, leave; a ReadResult pins its segment beyond that). A
// FileCap, shared by the logs of a broker, counts the segment files of the
// logs loaded on first use (lazy.go): only those may be put back to
// sleep, as logs loaded at Open (after an unclean shutdown, or with open
// transactions, or without Options.Lazy) are kept until closed. When a
// load takes the count past the cap, the least recently used idle logs
// (no use, no pinned segment, no open transaction, no segment waiting for
// deletion, no sticky error) are put to sleep until the count is back
// under the cap, less a sixteenth of it, so that a run of loads does not
// scan the loaded logs at each one.
//
// Putting a log to sleep is a clean Close (everything fsynced, indexes
// and a producer snapshot written, the clean-shutdown marker written last)
// that leaves the log dormant rather than closed: its next use loads it
// again by the clean path of recovery, exactly as a log opened lazily
// after a clean restart, and a crash while it sleeps finds a cleanly
// closed log. Acknowledged data, the high watermark and the log start
// offset come back from the files. A failure while putting a log to sleep
// takes the partition offline as a failed load does (sticky, logged).
//
// When every loaded log is busy, the count exceeds the cap until some
// become idle (the next load, or the broker's once-a-second Enforce, puts
// them to sleep) rather than making calls wait for each other: waiting
// could deadlock a request that uses two partitions. A log's segment count is counted when it is loaded and
// counted again by each pass that puts logs to sleep; segments rolled in
// between are not seen until the next pass.

// FileCap bounds the open segment files of the logs that share it. Create
// it with NewFileCap.
type FileCap struct {
	max   int
	clock atomic.Int64 // ticks at each use; a log's lastUse is a reading

	mu    sync.Mutex
	logs  map[*Log]int // loaded logs that may sleep -> files when counted
	files int          // sum of logs' counts
	// sleeps counts logs put to sleep; failed the failures doing it.
	sleeps atomic.Int64
	failed atomic.Int64
}

// NewFileCap returns a cap of max open segment files; max <= 0 is no cap
// (nil).
func NewFileCap(max int) *FileCap {
	if max <= 0 {
		return nil
	}
	return &FileCap{max: max, logs: map[*Log]int{}}
}

// Max returns the cap.
func (c *FileCap) Max() int { return c.max }

// FileCapStats is a FileCap's state for metrics.
type FileCapStats struct {
	Logs   int   // loaded logs under the cap
	Files  int   // their segment files, as last counted
	Sleeps int64 // logs put to sleep since start-up
}

// Stats returns the cap's counts.
func (c *FileCap) Stats() FileCapStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCapStats{Logs: len(c.logs), Files: c.files, Sleeps: c.sleeps.Load()}
}

// OpenFiles counts the segment files held open by the logs under the cap
// now (each log's count read afresh).
func (c *FileCap) OpenFiles() int {
	c.mu.Lock()
	logs := make([]*Log, 0, len(c.logs))
	for l := range c.logs {
		logs = append(logs, l)
	}
	c.mu.Unlock()
	n := 0
	for _, l := range logs {
		n += l.openFiles()
	}
	return n
}

// loaded adds a log just loaded on first use and puts idle logs to sleep
// if that takes the count past the cap. The caller holds a use of l.
func (c *FileCap) loaded(l *Log) {
	n := l.openFiles()
	c.mu.Lock()
	c.logs[l] += n
	c.files += n
	over := c.files > c.max
	c.mu.Unlock()
	if over {
		c.shrink()
	}
}

// Enforce puts idle logs to sleep if the open files counted exceed the
// cap: logs that were busy when loads went past it (a fetch pins the
// segments it answers from until the response is written). The broker
// calls it once a second.
func (c *FileCap) Enforce() {
	c.mu.Lock()
	over := c.files > c.max
	c.mu.Unlock()
	if over {
		c.shrink()
	}
}

// forget removes a log that closed, slept or was deleted.
func (c *FileCap) forget(l *Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.logs[l]; ok {
		c.files -= n
		delete(c.logs, l)
	}
}

// shrink counts every log's files afresh and puts the least recently used
// idle logs to sleep until the count is at most max - max/16.
func (c *FileCap) shrink() {
	type cand struct {
		l     *Log
		last  int64
		files int
	}
	c.mu.Lock()
	cands := make([]cand, 0, len(c.logs))
	for l := range c.logs {
		cands = append(cands, cand{l: l, last: l.lz.lastUse.Load()})
	}
	c.mu.Unlock()
	total := 0
	for i := range cands {
		cands[i].files = cands[i].l.openFiles()
		total += cands[i].files
	}
	c.mu.Lock()
	for _, cd := range cands {
		if n, ok := c.logs[cd.l]; ok {
			c.files += cd.files - n
			c.logs[cd.l] = cd.files
		}
	}
	c.mu.Unlock()
	target := c.max - c.max/16
	if total <= target {
		return
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.last, b.last) })
	// Putting a log to sleep mostly waits for its fsyncs: several logs
	// at once use the disk's queue instead of one fsync at a time. There
	// are no more workers than the least recently used logs that cover
	// the excess, so a shrink puts no more logs to sleep than the serial
	// walk would, unless some of those are busy.
	need, covered := 0, 0
	for need < len(cands) && covered < total-target {
		covered += cands[need].files
		need++
	}
	var next, excess atomic.Int64
	excess.Store(int64(total - target))
	var wg sync.WaitGroup
	for range min(sleepWorkers, need) {
		wg.Go(func() {
			for excess.Load() > 0 {
				i := int(next.Add(1) - 1)
				if i >= len(cands) {
					return
				}
				if cands[i].l.trySleep() {
					excess.Add(-int64(cands[i].files))
				}
			}
		})
	}
	wg.Wait()
}

// sleepWorkers bounds the logs one shrink puts to sleep at once.
const sleepWorkers = 8

// openFiles is the number of segment files the log holds open: 0 while
// it is dormant or being put to sleep. It never waits for a load.
func (l *Log) openFiles() int {
	for {
		n := l.lz.uses.Load()
		if n < 0 {
			return 0 // being put to sleep
		}
		if l.lz.uses.CompareAndSwap(n, n+1) {
			break
		}
	}
	defer l.leaveLoaded()
	if l.lz.dormant.Load() {
		return 0 // or being loaded: recovery fills segs without mu
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// enter takes a use of the log for one call, loading it if it is dormant.
// Every successful enter is followed by one leave.
func (l *Log) enter() error {
	l.use()
	if err := l.wake(); err != nil {
		l.leave()
		return err
	}
	return nil
}

// enterForWrite is enter for a call that may change the log (see
// wakeForWrite).
func (l *Log) enterForWrite() error {
	l.use()
	if err := l.wakeForWrite(); err != nil {
		l.leave()
		return err
	}
	return nil
}

// enterLoaded takes a use of the log if it is loaded, for housekeeping
// that does not load a dormant log; false: dormant, no use taken.
func (l *Log) enterLoaded() bool {
	l.use()
	if l.lz.dormant.Load() {
		l.leaveLoaded()
		return false
	}
	return true
}

// leaveLoaded ends a use taken by enterLoaded: housekeeping does not make
// a log recently used.
func (l *Log) leaveLoaded() { l.lz.uses.Add(-1) }

// use counts a use of the log, waiting while it is being put to sleep
// (uses is -1 then, under wakeMu).
func (l *Log) use() {
	for {
		n := l.lz.uses.Load()
		if n >= 0 {
			if l.lz.uses.CompareAndSwap(n, n+1) {
				return
			}
			continue
		}
		// trySleep holds wakeMu until uses is 0 again: wait for it.
		l.lz.wakeMu.Lock()
		_ = l.lz.uses.Load() // 0 or more now, unless another sleep began
		l.lz.wakeMu.Unlock()
	}
}

// leave ends a use taken by enter or enterForWrite.
func (l *Log) leave() {
	if c := l.lz.files; c != nil {
		l.lz.lastUse.Store(c.clock.Add(1))
	}
	l.lz.uses.Add(-1)
}

// trySleep puts the log to sleep if it is idle and may sleep, reporting
// whether it did. It never waits for a use to end.
func (l *Log) trySleep() bool {
	if !l.lz.wakeMu.TryLock() {
		return false // being loaded or closed: busy
	}
	defer l.lz.wakeMu.Unlock()
	if l.lz.closing || l.lz.wakeErr != nil || l.lz.dormant.Load() {
		return false
	}
	if !l.lz.uses.CompareAndSwap(0, -1) {
		return false
	}
	defer l.lz.uses.Store(0)
	if !l.idle() {
		return false
	}
	c := l.lz.files
	if err := l.sleep(); err != nil {
		c.failed.Add(1)
		l.closeFiles()
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.lz.wakeErr = fmt.Errorf("closing idle log %s: %w", l.dir, err)
		l.logger.Error("closing an idle log (log.open.files.max) failed; the partition is offline", "error", err)
		c.forget(l)
		return true // its files are closed
	}
	c.sleeps.Add(1)
	c.forget(l)
	return true
}

// idle reports whether nothing holds the log's files but the log: no
// segment pinned by a reader, none waiting for deletion, no open
// transaction (a log with one is loaded at start-up: lazy.go), no sticky
// error. Called with uses at -1.
func (l *Log) idle() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.err != nil || len(l.txns.open) > 0 || len(l.segs) == 0 {
		return false
	}
	for _, s := range l.segs {
		if s.refs.Load() != 1 {
			return false
		}
	}
	l.lc.mu.Lock()
	defer l.lc.mu.Unlock()
	return len(l.lc.retired) == 0
}

// sleep closes the log cleanly and leaves it dormant, its in-memory state
// dropped; the next use loads it again (wakeSlow). Called by trySleep.
func (l *Log) sleep() error {
	l.busy.Wait() // appends and flushes still fsyncing
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	if err := l.shutdown(); err != nil {
		return err
	}
	if err := l.closeFiles(); err != nil {
		return storageErr(err)
	}
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownFile), nil, 0o644); err != nil {
		return storageErr(err)
	}
	// The marker is back: whether its removal was durable no longer
	// matters.
	l.lz.markerPending.Store(false)
	l.mu.RLock()
	ends := &sleptEnds{next: l.next, logStart: l.lso.Load()}
	l.mu.RUnlock()
	l.dropLoaded()
	l.lz.dormant.Store(true)
	l.lz.ends.Store(ends)
	return nil
}

// asleepEnds returns the offsets a log put to sleep by the cap remembers,
// while it sleeps, or those of a log not created yet (notCreatedEnds): a
// call answered from them is answered as of a moment before any load that
// races with it, as every append loads the log first and the load clears
// them.
func (l *Log) asleepEnds() (sleptEnds, bool) {
	e := l.lz.ends.Load()
	if e == nil || !l.lz.dormant.Load() {
		return sleptEnds{}, false
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return sleptEnds{}, false
	}
	return *e, true
}
