package log

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// AppendResult describes an appended (or recognised duplicate) batch.
type AppendResult struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset         int64
	Duplicate              bool // an idempotent retry: nothing was appended

	syncTarget int64 // appendBatch with deferSync: SyncTo this before acking; 0: none
}

// Append validates batch, the records of one partition from a
// ProduceRequest, checks it against the idempotent producer state, assigns
// it offsets and writes it. It mutates batch in place: baseOffset,
// partitionLeaderEpoch, and the timestamp attributes with the CRC when they
// change. When Config.FlushMessages unflushed messages are reached it
// returns only after the data is fsynced.
func (l *Log) Append(batch []byte) (AppendResult, error) {
	if err := l.enterForWrite(); err != nil {
		return AppendResult{}, err
	}
	defer l.leave()
	return l.validateAndAppend(batch, producerBatch, false)
}

// AppendDeferred is Append without the wait for an fsync that
// Config.FlushMessages asks for: it also returns the offset the log must be
// synced to (SyncTo) before the batch may be acknowledged, or 0 when no
// fsync is due. A caller appending to several logs at once (a Produce
// request for several partitions) syncs them together afterwards, so their
// fsyncs overlap: one journal commit covers many of them.
func (l *Log) AppendDeferred(batch []byte) (AppendResult, int64, error) {
	if err := l.enterForWrite(); err != nil {
		return AppendResult{}, 0, err
	}
	defer l.leave()
	res, err := l.validateAndAppend(batch, producerBatch, true)
	return res, res.syncTarget, err
}

// SyncTo returns once every offset below target is fsynced (see
// AppendDeferred). It shares fsyncs with concurrent appends and flushes.
func (l *Log) SyncTo(target int64) error {
	if l.synced.Load() >= target {
		return nil
	}
	if !l.enterLoaded() {
		return nil // put to sleep since: everything was fsynced (filecap.go)
	}
	defer l.leaveLoaded()
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
	l.busy.Add(1)
	l.mu.Unlock()
	defer l.busy.Done()
	return l.syncTo(target)
}

// validateAndAppend is Append for a batch of the given origin
// (producerBatch or coordinatorBatch); with deferSync it leaves a due fsync
// to the caller (AppendDeferred).
func (l *Log) validateAndAppend(batch []byte, origin batchKind, deferSync bool) (AppendResult, error) {
	cfg := l.cfg.Load()
	now := l.now()
	h, err := validateBatch(batch, cfg, now.UnixMilli())
	if err != nil {
		var re *RecordErrors
		if errors.As(err, &re) {
			// Partition directories are named as Kafka prints a
			// partition, topic-N.
			re.Partition = filepath.Base(l.dir)
		}
		return AppendResult{}, err
	}
	return l.appendBatch(batch, h, cfg, now, origin, deferSync)
}

// batchKind is what appendBatch appends, which decides the producer checks
// it makes and how the batch changes producer and transaction state.
type batchKind int8

const (
	producerBatch    batchKind = iota // Append: a producer's batch, idempotence rules apply
	coordinatorBatch                  // AppendCoordinator: fenced by epoch only
	commitMarker                      // AppendMarker: a commit marker
	abortMarker                       // AppendMarker: an abort marker
)

// isMarker reports whether k is a broker-written control batch.
func (k batchKind) isMarker() bool { return k == commitMarker || k == abortMarker }

// controlType is the marker's control record type (MarkerCommit,
// MarkerAbort), -1 for a data batch, as txnState.apply takes it.
func (k batchKind) controlType() int16 {
	switch k {
	case commitMarker:
		return MarkerCommit
	case abortMarker:
		return MarkerAbort
	}
	return -1
}

// appendBatch is Append after validation; kind says what the batch is.
// With deferSync a due fsync is not waited for but returned in
// res.syncTarget.
func (l *Log) appendBatch(batch []byte, h BatchHeader, cfg *Config, now time.Time, kind batchKind, deferSync bool) (AppendResult, error) {
	if err := l.lc.space.Check(now, int64(len(batch))); err != nil {
		return AppendResult{}, err
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return AppendResult{}, ErrClosed
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return AppendResult{}, err
	}
	res := AppendResult{LogAppendTime: -1, LogStartOffset: l.lso.Load()}
	var dup batchMeta
	var isDup bool
	var err error
	if kind == producerBatch {
		dup, isDup, err = l.prod.check(&h)
	} else if e := l.prod[h.ProducerID]; e != nil && h.ProducerEpoch < e.epoch {
		err = ErrInvalidProducerEpoch
	}
	if err != nil || isDup {
		l.mu.Unlock()
		if isDup {
			res.BaseOffset, res.LastOffset = dup.firstOffset, dup.firstOffset+int64(dup.lastOffsetDelta)
			res.Duplicate = true
		}
		return res, err
	}

	if cfg.TimestampType == LogAppendTime {
		// Stamped under the lock so append times follow offsets.
		res.LogAppendTime = l.now().UnixMilli()
	}
	AssignBatch(batch, &h, l.next, cfg.LeaderEpoch, res.LogAppendTime)

	snap, rolled, err := l.maybeRoll(&h, cfg, now)
	if err != nil && outOfFiles(err) {
		// The new segment was not created (a descriptor is allocated
		// before the file is) and nothing changed: not sticky, the
		// next append tries to roll again (lazy.go has the same rule
		// for loading).
		l.mu.Unlock()
		l.logger.Warn("cannot roll to a new segment: out of file descriptors", "error", err)
		return AppendResult{}, storageErr(err)
	}
	if err != nil {
		err = l.failLocked(err)
		l.mu.Unlock()
		return AppendResult{}, err
	}
	seg := l.active()
	pos := seg.size.Load()
	if _, err := seg.log.WriteAt(batch, pos); err != nil {
		// Drop a torn tail now if we can; recovery would otherwise.
		terr := seg.log.Truncate(pos)
		if terr == nil && isNoSpace(err) {
			// The file is back to its last complete batch and
			// nothing else changed: not sticky (see space.go).
			l.mu.Unlock()
			return AppendResult{}, noSpaceErr(err)
		}
		err = l.failLocked(err)
		l.mu.Unlock()
		return AppendResult{}, err
	}
	seg.appended(&h, pos, cfg.IndexIntervalBytes, now)
	l.next = h.LastOffset() + 1
	l.hw.Store(l.next)
	if kind.isMarker() {
		l.prod.applyMarker(&h)
	} else {
		l.prod.update(&h)
	}
	l.txns.apply(&h, kind.controlType())
	res.BaseOffset, res.LastOffset = h.BaseOffset, h.LastOffset()
	end := l.next
	needSync := end-l.synced.Load() >= cfg.FlushMessages
	if needSync && deferSync {
		res.syncTarget, needSync = end, false
	}
	if rolled || needSync {
		l.busy.Add(1)
		defer l.busy.Done()
	}
	l.mu.Unlock()

	if rolled {
		if err := l.finishRoll(h.BaseOffset, snap); err != nil {
			return res, err
		}
	}
	if needSync {
		if err := l.syncTo(end); err != nil {
			return res, err
		}
	}
	return res, nil
}

// maybeRoll starts a new active segment if the batch h does not belong in
// the current one: it would overflow segment.bytes (or the 32-bit
// positions), the segment is older than segment.ms, an index is full, or h's
// offsets do not fit the 32-bit relative offsets. It then returns the
// producer snapshot as of the new segment's base for finishRoll. Called
// under mu.
func (l *Log) maybeRoll(h *BatchHeader, cfg *Config, now time.Time) ([]byte, bool, error) {
	old := l.active()
	size := old.size.Load()
	if size == 0 {
		return nil, false, nil
	}
	n := int64(h.Size())
	if size+n <= cfg.SegmentBytes && size+n <= math.MaxInt32 &&
		now.Sub(old.created).Milliseconds() < cfg.SegmentMs &&
		!old.indexFull(cfg.SegmentIndexBytes) &&
		h.LastOffset()-old.base <= math.MaxInt32 {
		return nil, false, nil
	}
	seg, err := createSegment(l.fs, l.dir, l.next)
	if err != nil {
		return nil, false, err
	}
	old.finish()
	l.segs = append(l.segs, seg)
	l.dirDirty = true
	l.logger.Debug("rolled segment", "segment", seg.name(), "previous", old.name(), "previousBytes", size)
	l.txns.prune(l.lso.Load())
	return encodeSnapshot(l.prod, &l.txns), true, nil
}

// finishRoll makes every segment before base durable, indexes included,
// then writes snap, the producer snapshot at base. That order is what lets
// recovery treat the newest snapshot as a recovery point. It runs outside
// mu, in the appender that rolled.
func (l *Log) finishRoll(base int64, snap []byte) error {
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	l.mu.RLock()
	i := l.segmentIndex(base)
	segs := l.segs[:i:i]
	l.mu.RUnlock()
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if i < len(segs)-1 && !s.indexesPending() {
			break // older ones were finished by an earlier roll
		}
		if err := s.persistIndexes(true); err != nil {
			return l.fail(err)
		}
	}
	if err := l.syncTo(base); err != nil {
		return err
	}
	// The index files may be new: make their directory entries durable
	// too before the snapshot vouches for them.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	return l.writeSnapshot(base, snap)
}

// writeSnapshot writes a producer snapshot for offset off and deletes all
// but the two newest snapshots. Called under rollMu.
func (l *Log) writeSnapshot(off int64, data []byte) error {
	path := filepath.Join(l.dir, fileName(off, snapshotExt))
	if err := vfs.WriteFileAtomic(l.fs, path, data, 0o644); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	if i, found := slices.BinarySearch(l.snaps, off); !found {
		l.snaps = slices.Insert(l.snaps, i, off)
	}
	var drop []int64
	if n := len(l.snaps); n > 2 {
		drop = slices.Clone(l.snaps[:n-2])
		l.snaps = slices.Delete(l.snaps, 0, n-2)
	}
	l.mu.Unlock()
	for _, o := range drop {
		if err := l.fs.Remove(filepath.Join(l.dir, fileName(o, snapshotExt))); err != nil && !vfs.IsNotExist(err) {
			l.logger.Warn("removing old producer snapshot", "offset", o, "error", err)
		}
	}
	return nil
}

// syncTo returns once every offset below target is fsynced. Callers share
// fsyncs: one runs at a time and covers everything written before it
// started, so waiters it covered return without syncing again.
func (l *Log) syncTo(target int64) error {
	if l.synced.Load() >= target {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced.Load() >= target {
		return nil
	}
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	end, syncDir := l.next, l.dirDirty
	l.dirDirty = false
	// Only a suffix of the segments can be dirty: inactive segments are
	// never written again, and a new active segment is written as soon
	// as it exists.
	dirty := l.syncBuf[:0]
	for i := len(l.segs) - 1; i >= 0; i-- {
		s := l.segs[i]
		if !s.dirty {
			break
		}
		s.dirty = false
		s.pin() // retention may remove it meanwhile
		dirty = append(dirty, s)
	}
	l.mu.Unlock()
	defer func() {
		for _, s := range dirty {
			s.release()
		}
		clear(dirty)
		l.syncBuf = dirty[:0]
	}()

	var start time.Time
	if l.onFlush != nil {
		start = time.Now() // a real duration, whatever the log's clock
	}
	for _, s := range dirty {
		if err := s.log.Sync(); err != nil {
			return l.fail(err)
		}
	}
	if syncDir {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(err)
		}
	}
	if l.onFlush != nil && (len(dirty) > 0 || syncDir) {
		l.onFlush(time.Since(start))
	}
	l.synced.Store(end)
	l.lastFlush.Store(l.now().UnixMilli())
	return nil
}
