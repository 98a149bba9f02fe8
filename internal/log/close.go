package log

import (
	"math"
	"path/filepath"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	end := l.next
	l.busy.Add(1)
	l.mu.Unlock()
	defer l.busy.Done()
	return l.syncTo(end)
}

// Tick flushes if Config.FlushMs elapsed since the last flush and there is
// unflushed data, and expires idle producers every
// producerExpiryCheckInterval. The broker calls it periodically.
func (l *Log) Tick(now time.Time) error {
	if !l.enterLoaded() {
		return nil // nothing unflushed (lazy.go)
	}
	defer l.leaveLoaded()
	cfg := l.cfg.Load()
	if ms := now.UnixMilli(); ms-l.lastExpiry.Load() >= producerExpiryCheckInterval.Milliseconds() {
		l.lastExpiry.Store(ms)
		l.ExpireProducers(now)
	}
	if cfg.FlushMs == math.MaxInt64 || l.hw.Load() <= l.synced.Load() {
		return nil
	}
	if now.UnixMilli()-l.lastFlush.Load() < cfg.FlushMs {
		return nil
	}
	return l.Flush()
}

// Close flushes the log, writes its indexes and a producer snapshot, closes
// its files and marks the shutdown clean. After a storage error it only
// closes the files and returns that error, leaving recovery to the next
// Open. Closing a closed log returns ErrClosed.
func (l *Log) Close() error {
	if dormant, err := l.dormantClose(); dormant {
		return err
	}
	if err := l.markerGone(); err != nil {
		l.mu.Lock()
		l.failLocked(err)
		l.mu.Unlock()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	l.busy.Wait() // appends and flushes still fsyncing

	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	err := l.shutdown()
	if cerr := l.closeFiles(); err == nil && cerr != nil {
		err = storageErr(cerr)
	}
	if err != nil {
		return err
	}
	// The clean-shutdown marker is an empty file, written only once
	// everything above is durable; Open removes it.
	// A log closed with open transactions says so in it, so that a lazy
	// Open loads it at once (lazy.go).
	var marker []byte
	l.mu.RLock()
	if len(l.txns.open) > 0 {
		marker = []byte(openTxnsMarker)
	}
	l.mu.RUnlock()
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownFile), marker, 0o644); err != nil {
		return storageErr(err)
	}
	return nil
}

// shutdown makes everything durable ahead of a clean Close. Called with
// rollMu held, once appends have stopped.
func (l *Log) shutdown() error {
	l.mu.RLock()
	end, err, segs := l.next, l.err, l.segs
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := l.syncTo(end); err != nil {
		return err
	}
	act := segs[len(segs)-1]
	act.finish()
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s != act && !s.indexesPending() {
			break
		}
		if err := s.persistIndexes(true); err != nil {
			return l.fail(err)
		}
	}
	l.mu.RLock()
	snap := encodeSnapshot(l.prod, &l.txns)
	l.mu.RUnlock()
	return l.writeSnapshot(end, snap)
}

// closeFiles closes every segment file, returning the first error.
func (l *Log) closeFiles() error {
	var first error
	for _, s := range l.segs {
		if err := s.log.Close(); err != nil && first == nil {
			first = err
		}
	}
	l.closeRetired()
	return first
}

// Delete closes the log, without flushing, and removes its directory.
func (l *Log) Delete() error {
	l.lz.wakeMu.Lock() // no wake runs while the files go
	defer l.lz.wakeMu.Unlock()
	l.lz.closing = true
	if l.lz.files != nil {
		l.lz.files.forget(l)
	}
	l.mu.Lock()
	wasClosed := l.closed
	l.closed = true
	l.mu.Unlock()
	if !wasClosed {
		l.busy.Wait()
		l.rollMu.Lock()
		_ = l.closeFiles()
		l.rollMu.Unlock()
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return storageErr(err)
	}
	return nil
}
