package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Lazy opening (Options.Lazy, Options.LazyCreate), for brokers with many
// partitions.
//
// A lazy Open of a directory holding the clean-shutdown marker does no
// more than look for the marker: the log is dormant, with no file open and
// nothing read, and the marker stays. The first call that needs the log's
// contents (an append, a read, an offset lookup, producer state) wakes it:
// it runs the recovery Open would have run (the clean path, which trusts
// the segments and removes the marker) and then serves the call. A
// directory without the marker was not closed cleanly (or is new) and is
// recovered by Open at once, as without Lazy, so an unclean shutdown is
// always found and the tail of every partition that was not closed cleanly
// is checked before the broker serves.
//
// With LazyCreate, an Open of a directory that does not exist yet (a new partition)
// creates nothing either: the directory, the first segment and whatever
// Options.Created writes appear on first use. Creating many partitions
// then costs no file system work each, as in Kafka, whose brokers create
// a new partition's log after the controller has committed the topic.
// Until then the log is empty at offset 0 and says so without loading:
// the calls that only ask where a log ends (a fetch or a read at offset 0,
// the high watermark, the log start and last stable offsets) create
// nothing, so consumers of many partitions nobody writes to cost no
// directories and no open files; nor do the calls about its records that
// have an empty answer (the largest timestamp, an offset by time, its
// producers, a deletion of records up to offset 0). The first call that
// needs more (an append, a producer's epoch) creates the log.
//
// A log closed with open transactions writes openTxnsMarker into the
// marker and is loaded at once too: the broker checks every open
// transaction against the transaction log at start-up.
//
// Housekeeping does not wake a dormant log: Tick, CleanStatus (never due),
// ApplyRetention (nothing done; retention applies once the log is woken),
// Scrub, Close (the marker is still valid) and Delete. Size and
// NumSegments answer from the directory listing.
//
// A failed wake is sticky: every later call gets its error, as Open would
// have returned it, and the log stays closed. Except when the process ran
// out of file descriptors (EMFILE, ENFILE: many partitions loaded at once,
// or more at once than log.open.files.max while one request holds them):
// then the load is undone (files closed, in-memory state dropped) and the
// log stays dormant, so its next use loads it again. A load undone midway
// is retried as a restart after a crash at the same point would recover
// it: what it changed on disk (the marker removed, a torn tail cut) is
// what recovery leaves consistent at every step.

// openTxnsMarker is the clean-shutdown marker's content when the log was
// closed with open transactions; otherwise the marker is empty.
const openTxnsMarker = "open transactions\n"

type lazyState struct {
	dormant atomic.Bool
	wakeMu  sync.Mutex
	wakeErr error // guarded by wakeMu; set once a wake failed
	// fresh: the directory did not exist at Open; loading creates it.
	fresh   bool
	prepare func(fresh bool) error // Options.Prepare
	// markerPending: recovery removed the clean-shutdown marker and the
	// removal is not durable yet (markerGone).
	markerPending atomic.Bool
	lazyLoad      bool // Options.Lazy, or Options.Files

	// File cap (filecap.go).
	files   *FileCap     // Options.Files; nil: none
	uses    atomic.Int64 // calls using the log; -1 while it is put to sleep
	lastUse atomic.Int64 // files.clock at the last leave
	closing bool         // guarded by wakeMu: Close or Delete began
	named   bool         // logger carries the directory
	// ends is what a log put to sleep by the cap knows of its offsets,
	// set by sleep and cleared by the next load: the calls that only ask
	// where the log ends (a consumer polling at its end) are answered
	// from it without loading the log (filecap.go, asleepEnds).
	ends atomic.Pointer[sleptEnds]
}

// sleptEnds is a sleeping log's high watermark (its next offset; a log
// sleeps with no open transaction, so it is also the last stable offset)
// and log start offset.
type sleptEnds struct{ next, logStart int64 }

// notCreatedEnds are the ends of a log whose directory does not exist yet
// (lazy.fresh): empty, at offset 0. A consumer polling a partition nobody
// has written to is answered from them, so reading many such partitions
// creates no directory and opens no file; the first append creates the
// log. Shared by every such log and never changed.
var notCreatedEnds = &sleptEnds{}

// wakeRecover loads the log: by Open, or by the first use of a dormant
// one (under wakeMu).
func (l *Log) wakeRecover() error {
	if !l.lz.named {
		l.logger = l.logger.With("dir", l.dir)
		l.lz.named = true
	}
	fresh := l.lz.fresh
	if fresh {
		if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
			return storageErr(err)
		}
	}
	if l.lz.prepare != nil {
		if err := l.lz.prepare(fresh); err != nil {
			return err
		}
	}
	if err := l.recover(fresh); err != nil {
		return err
	}
	l.lz.fresh = false
	return nil
}

// openLazy reports whether dir holds the clean-shutdown marker, leaving l
// dormant if so.
func (l *Log) openLazy() (bool, error) {
	if !l.lz.lazyLoad {
		if _, err := l.fs.Stat(l.dir); vfs.IsNotExist(err) {
			l.dormantFresh()
			return true, nil
		}
		return false, nil
	}
	fi, err := l.fs.Stat(filepath.Join(l.dir, cleanShutdownFile))
	if vfs.IsNotExist(err) {
		if _, err := l.fs.Stat(l.dir); vfs.IsNotExist(err) {
			l.dormantFresh()
			return true, nil
		}
		return false, nil
	}
	if err != nil {
		return false, storageErr(err)
	}
	if fi.Size() != 0 {
		return false, nil // closed with open transactions (openTxnsMarker)
	}
	l.lz.dormant.Store(true)
	return true, nil
}

// dormantFresh leaves a log whose directory does not exist dormant: it is
// created on first use, and until then calls that only ask where it ends
// are answered from notCreatedEnds.
func (l *Log) dormantFresh() {
	l.lz.fresh = true
	l.lz.ends.Store(notCreatedEnds)
	l.lz.dormant.Store(true)
}

// notCreated reports whether the log has no directory yet and so holds
// nothing: the calls that ask about its records (the largest timestamp,
// an offset by time, its producers, a deletion up to offset 0) are
// answered without creating it.
// As asleepEnds, it answers as of a moment before a racing load.
func (l *Log) notCreated() bool {
	if l.lz.ends.Load() != notCreatedEnds {
		return false
	}
	_, ok := l.asleepEnds()
	return ok
}

// wake loads a dormant log; it is a no-op on a loaded one. Every exported
// method that needs the log's contents calls it first, through enter
// (filecap.go), holding a use of the log.
func (l *Log) wake() error {
	if !l.lz.dormant.Load() {
		return nil
	}
	loaded, err := l.wakeSlow()
	if loaded && l.lz.files != nil {
		l.lz.files.loaded(l) // may put other logs to sleep
	}
	return err
}

// wakeSlow loads a dormant log, reporting whether this call loaded it.
func (l *Log) wakeSlow() (bool, error) {
	l.lz.wakeMu.Lock()
	defer l.lz.wakeMu.Unlock()
	if l.lz.wakeErr != nil {
		return false, l.lz.wakeErr
	}
	if !l.lz.dormant.Load() {
		return false, nil
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	l.lz.ends.Store(nil) // the files are the truth from here on
	err := l.wakeRecover()
	if err != nil {
		l.closeFiles()
		if outOfFiles(err) && l.undoWake() {
			l.logger.Warn("opening log on first use failed: out of file descriptors; it is loaded again at its next use", "error", err)
			return false, fmt.Errorf("opening log %s: %w", l.dir, storageErr(err))
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.lz.wakeErr = fmt.Errorf("opening log %s: %w", l.dir, err)
		l.logger.Error("opening log on first use failed; the partition is offline", "error", err)
		return false, l.lz.wakeErr
	}
	l.lastFlush.Store(l.now().UnixMilli())
	l.lz.dormant.Store(false)
	return true, nil
}

// outOfFiles reports whether err is the process or the system running out
// of file descriptors: a failure that another try may not meet.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// undoWake drops what a failed wakeRecover loaded, its files already
// closed, leaving the log dormant as before the wake (under wakeMu). It
// reports false, leaving the failure sticky, if the directory cannot be
// checked.
func (l *Log) undoWake() bool {
	_, err := l.fs.Stat(l.dir)
	if err != nil && !vfs.IsNotExist(err) {
		return false
	}
	// A directory that exists now is loaded as one that existed: the
	// failed try may have created the first segment (fresh loads create
	// it exclusively).
	l.lz.fresh = vfs.IsNotExist(err)
	if l.lz.fresh {
		l.lz.ends.Store(notCreatedEnds)
	}
	l.dropLoaded() // closeFiles closed the retired segments
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	l.hw.Store(0)
	l.lso.Store(0)
	l.synced.Store(0)
	return true
}

// dropLoaded drops the in-memory state a load built (recover), the files
// already closed, so that the next load builds it again: for a log put to
// sleep (filecap.go) and a load undone (undoWake).
func (l *Log) dropLoaded() {
	l.syncMu.Lock()
	l.syncBuf = nil
	l.syncMu.Unlock()
	l.mu.Lock()
	l.segs, l.next, l.snaps, l.dirDirty = nil, 0, nil, false
	l.prod, l.txns = make(producerState), txnState{}
	l.mu.Unlock()
	l.lc.mu.Lock()
	l.lc.cleanerOffset, l.lc.nextHorizon = 0, 0
	l.lc.mu.Unlock()
}

// wakeForWrite is wake for a call that may change the log: the removal of
// the clean-shutdown marker is made durable first.
func (l *Log) wakeForWrite() error {
	if err := l.wake(); err != nil {
		return err
	}
	return l.markerGone()
}

// markerGone makes the removal of the clean-shutdown marker by recovery
// durable, once, before anything changes the log: had a crash brought the
// marker back after a change, the next Open would trust a log that was
// not closed cleanly. Loading a log only to read it costs no fsync.
func (l *Log) markerGone() error {
	if !l.lz.markerPending.Load() {
		return nil
	}
	l.lz.wakeMu.Lock()
	defer l.lz.wakeMu.Unlock()
	if !l.lz.markerPending.Load() {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr(err)
	}
	l.lz.markerPending.Store(false)
	return nil
}

// Dormant reports whether the log was opened lazily and not used since.
func (l *Log) Dormant() bool { return l.lz.dormant.Load() }

// NotCreated reports whether the log is dormant with no directory yet: it
// is empty, at offset 0.
func (l *Log) NotCreated() bool {
	l.lz.wakeMu.Lock()
	defer l.lz.wakeMu.Unlock()
	return l.lz.dormant.Load() && l.lz.fresh
}

// dormantClose closes a dormant log, reporting whether it was dormant. The
// clean-shutdown marker it was opened with is still valid. From then on
// the log is not put to sleep (filecap.go).
func (l *Log) dormantClose() (bool, error) {
	l.lz.wakeMu.Lock()
	defer l.lz.wakeMu.Unlock()
	l.lz.closing = true
	if l.lz.files != nil {
		l.lz.files.forget(l)
	}
	if !l.lz.dormant.Load() {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true, ErrClosed
	}
	l.closed = true
	return true, nil
}

// dormantSegments lists the segment files of a dormant log: their count
// and total size. ok is false once the log is awake.
func (l *Log) dormantSegments() (n int, size int64, ok bool) {
	if !l.lz.dormant.Load() {
		return 0, 0, false
	}
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return 0, 0, true
	}
	for _, e := range entries {
		if _, isLog := parseFileName(e.Name(), logExt); !isLog {
			continue
		}
		n++
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	return n, size, true
}
