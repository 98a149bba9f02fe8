package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Retention and the log start offset, as in Kafka's UnifiedLog.
//
// ApplyRetention (called periodically by the broker) deletes a prefix of
// the segments: those entirely below the log start offset, and, when
// cleanup.policy has delete, those whose largest timestamp is more than
// retention.ms old and those that keep the log over retention.bytes. The
// active segment is never deleted: when every segment, the active one
// included (if it holds data), is due, the log first rolls a new empty
// active segment, as Kafka does. A compacted log also rolls an idle active
// segment holding data once it is min(segment.ms, max.compaction.lag.ms)
// old (KIP-354), so the cleaner can reach its records.
//
// Deleting a segment: it leaves the segment list (under mu), its files are
// renamed with the .deleted suffix and removed file.delete.delay.ms later
// (or by the next Open). The log start offset moves to the first remaining
// segment's base if that is higher. Reads that located the segment before
// it left keep reading it: its file stays open, counted by reference
// (segment.refs), until the deadline has passed and the last ReadResult,
// cleaner or scrubber using it has released it (or Close).
//
// DeleteRecords moves the log start offset to any offset up to the high
// watermark; whole segments below it are deleted at once, and reads below
// it are ErrOffsetOutOfRange even where the first remaining segment still
// holds the batches.
//
// The log start offset and the cleaner's progress are persisted in
// checkpointFile (layout below), written atomically before the segment
// list changes; on Open the log start offset is the larger of the file's
// and the first segment's base, so a crash between the two steps only
// leaves segments that the next ApplyRetention deletes.

const (
	deletedSuffix = ".deleted"
	// checkpointFile holds the log start offset and the cleaner offset.
	// Big-endian, version 1, 22 bytes, written with vfs.WriteFileAtomic:
	//
	//	off width field
	//	  0  2    version         u16  1
	//	  2  4    crc             u32  CRC-32C (Castagnoli) of bytes [6:22)
	//	  6  8    logStartOffset  i64
	//	 14  8    cleanerOffset   i64  offsets below it have been compacted (0: none)
	//
	// A missing file means (first segment's base, 0). A file failing its
	// CRC or of another length or version stops Open with ErrCorrupt.
	checkpointFile    = "offsets.checkpoint"
	checkpointVersion = 1
	checkpointLen     = 22
)

// ErrPolicyViolation: the topic's cleanup.policy forbids the operation
// (POLICY_VIOLATION), e.g. DeleteRecords on a compact-only topic.
var ErrPolicyViolation = errors.New("not allowed by the cleanup policy")

// lifecycle is the retention and cleaning state of a Log.
type lifecycle struct {
	space *SpaceGuard // nil: no free-space floor

	// cleanMu serialises Clean; ckMu serialises checkpoint writes.
	cleanMu sync.Mutex
	ckMu    sync.Mutex

	mu            sync.Mutex // guards the fields below
	cleanerOffset int64      // persisted in checkpointFile
	// nextHorizon: the earliest delete horizon (KIP-534) of what the
	// last Clean kept, 0 if none or unknown (not persisted: after a
	// restart, the next clean due for dirty data finds it again).
	nextHorizon int64
	retired     []retiredSegment

	testHook func(stage string) error // see cleanHook
}

// retiredSegment is a segment that left the log, waiting for its
// .deleted files (if any) to be removed.
type retiredSegment struct {
	seg      *segment
	deadline time.Time
	files    bool // its files were renamed to .deleted
}

// RetentionResult reports what ApplyRetention did.
type RetentionResult struct {
	Rolled         bool
	Deleted        int   // segments
	DeletedBytes   int64 // their size
	LogStartOffset int64
}

// recoverLifecycleFiles removes what an interrupted deletion or cleaning
// left behind and completes interrupted swaps (see clean_swap.go). Called by
// recover before it lists segments.
func (l *Log) recoverLifecycleFiles() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return storageErr(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for name := range names {
		switch {
		case strings.HasSuffix(name, deletedSuffix):
			l.removeFile(name, "leftover deleted segment file")
		case strings.HasSuffix(name, cleanedSuffix):
			l.removeFile(name, "unfinished cleaned segment file")
		}
	}
	return l.completeSwaps(names)
}

// loadCheckpoint raises the log start offset to the persisted one and
// loads the cleaner offset. Called by recover once the segments are known.
func (l *Log) loadCheckpoint() error {
	b, err := readFile(l.fs, filepath.Join(l.dir, checkpointFile))
	if vfs.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return storageErr(err)
	}
	lso, cleaner, err := decodeCheckpoint(b)
	if err != nil {
		return fmt.Errorf("log %s: %s: %w", l.dir, checkpointFile, err)
	}
	if lso > l.lso.Load() {
		l.lso.Store(min(lso, l.next))
	}
	l.lc.cleanerOffset = min(cleaner, l.next)
	return nil
}

func encodeCheckpoint(lso, cleaner int64) []byte {
	b := make([]byte, checkpointLen)
	be := binary.BigEndian
	be.PutUint16(b, checkpointVersion)
	be.PutUint64(b[6:], uint64(lso))
	be.PutUint64(b[14:], uint64(cleaner))
	be.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

func decodeCheckpoint(b []byte) (lso, cleaner int64, err error) {
	be := binary.BigEndian
	if len(b) != checkpointLen {
		return 0, 0, corruptf("checkpoint of %d bytes, want %d", len(b), checkpointLen)
	}
	if v := be.Uint16(b); v != checkpointVersion {
		return 0, 0, corruptf("checkpoint version %d", v)
	}
	if want, got := be.Uint32(b[2:]), crc32.Checksum(b[6:], castagnoli); want != got {
		return 0, 0, corruptf("checkpoint CRC mismatch: stored %#08x, computed %#08x", want, got)
	}
	return int64(be.Uint64(b[6:])), int64(be.Uint64(b[14:])), nil
}

// writeCheckpoint persists a log start offset and cleaner offset.
func (l *Log) writeCheckpoint(lso, cleaner int64) error {
	l.lc.ckMu.Lock()
	defer l.lc.ckMu.Unlock()
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, checkpointFile), encodeCheckpoint(lso, cleaner), 0o644); err != nil {
		return storageErr(err)
	}
	return nil
}

// DeleteRecords moves the log start offset to off (-1: the high
// watermark), as Kafka's DeleteRecords does, deletes the segments entirely
// below it and returns the new log start offset (the low watermark). An
// offset beyond the high watermark, or negative other than -1, is
// ErrOffsetOutOfRange; one at or below the current start changes nothing.
// A log whose cleanup.policy lacks delete refuses with ErrPolicyViolation.
func (l *Log) DeleteRecords(off int64, now time.Time) (int64, error) {
	if l.notCreated() && (off == -1 || off == 0) && l.cfg.Load().Delete {
		return 0, nil // nothing to delete: the log stays not created
	}
	if err := l.enterForWrite(); err != nil {
		return 0, err
	}
	defer l.leave()
	if !l.cfg.Load().Delete {
		return l.lso.Load(), fmt.Errorf("%w: records of a log with cleanup.policy=compact cannot be deleted", ErrPolicyViolation)
	}
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	l.mu.RLock()
	closed, hw, lso := l.closed, l.next, l.lso.Load()
	l.mu.RUnlock()
	if closed {
		return lso, ErrClosed
	}
	if off == -1 {
		off = hw
	}
	if off < 0 || off > hw {
		return lso, fmt.Errorf("%w: offset %d not in [0, %d]", ErrOffsetOutOfRange, off, hw)
	}
	if off <= lso {
		return lso, nil
	}
	l.lc.mu.Lock()
	cleaner := l.lc.cleanerOffset
	l.lc.mu.Unlock()
	if err := l.writeCheckpoint(off, cleaner); err != nil {
		return lso, err
	}
	l.mu.Lock()
	if off > l.lso.Load() {
		l.lso.Store(off)
	}
	l.mu.Unlock()
	l.logger.Info("log start offset moved by DeleteRecords", "logStartOffset", off)
	if _, err := l.deleteSegmentsLocked(now, false); err != nil {
		return l.lso.Load(), err
	}
	return l.lso.Load(), nil
}

// ApplyRetention applies retention at now: see the comment at the top of
// this file. It also removes retired segments' files whose
// file.delete.delay.ms has passed.
func (l *Log) ApplyRetention(now time.Time) (RetentionResult, error) {
	if !l.enterLoaded() {
		return RetentionResult{}, nil // applied once woken (lazy.go)
	}
	defer l.leaveLoaded()
	if err := l.markerGone(); err != nil {
		return RetentionResult{}, err
	}
	var res RetentionResult
	defer l.removeExpired(now)
	cfg := l.cfg.Load()

	// Roll first, if the active segment must go or be made cleanable.
	l.mu.RLock()
	if l.closed || l.err != nil {
		err := l.err
		if l.closed {
			err = ErrClosed
		}
		l.mu.RUnlock()
		return res, err
	}
	act := l.active()
	roll := false
	if act.size.Load() > 0 {
		n := len(l.deletableLocked(now, cfg, true))
		roll = n == len(l.segs)
		if !roll && cfg.Compact {
			rollMs := min(cfg.SegmentMs, cfg.MaxCompactionLagMs)
			roll = !act.created.IsZero() && now.Sub(act.created).Milliseconds() >= rollMs
		}
	}
	l.mu.RUnlock()
	if roll {
		rolled, err := l.rollIdle(now)
		if err != nil {
			return res, err
		}
		res.Rolled = rolled
	}

	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	del, err := l.deleteSegmentsLocked(now, true)
	res.Deleted, res.DeletedBytes = del.n, del.bytes
	res.LogStartOffset = l.lso.Load()
	return res, err
}

// rollIdle makes the active segment, if it holds data, inactive without an
// append, as maybeRoll does for one.
func (l *Log) rollIdle(now time.Time) (bool, error) {
	l.mu.Lock()
	if l.closed || l.err != nil {
		l.mu.Unlock()
		return false, nil
	}
	old := l.active()
	if old.size.Load() == 0 {
		l.mu.Unlock()
		return false, nil
	}
	seg, err := createSegment(l.fs, l.dir, l.next)
	if err != nil {
		err = l.failLocked(err)
		l.mu.Unlock()
		return false, err
	}
	old.finish()
	l.segs = append(l.segs, seg)
	l.dirDirty = true
	base, snap := l.next, encodeSnapshot(l.prod, &l.txns)
	l.busy.Add(1)
	defer l.busy.Done()
	l.mu.Unlock()
	l.logger.Info("rolled idle segment", "segment", seg.name(), "previous", old.name(), "age", now.Sub(old.created))
	return true, l.finishRoll(base, snap)
}

// deletableLocked returns the prefix of segments due for deletion: below
// the log start offset, or (withPolicy and cleanup.policy has delete)
// beyond retention.ms or retention.bytes. The active segment is included
// only if it holds data (the caller rolls first). Called under mu.
func (l *Log) deletableLocked(now time.Time, cfg *Config, withPolicy bool) []*segment {
	lso := l.lso.Load()
	var total int64
	for _, s := range l.segs {
		total += s.size.Load()
	}
	diff := int64(-1)
	if withPolicy && cfg.Delete && cfg.RetentionBytes >= 0 {
		diff = total - cfg.RetentionBytes
	}
	var out []*segment
	for i, s := range l.segs {
		size := s.size.Load()
		last := i == len(l.segs)-1
		if last && size == 0 {
			break
		}
		next := l.next
		if !last {
			next = l.segs[i+1].base
		}
		due := next <= lso && !last
		if !due && withPolicy && cfg.Delete && cfg.RetentionMs >= 0 {
			due = now.UnixMilli()-l.largestTimestamp(s) > cfg.RetentionMs
		}
		if due {
			diff -= size
		} else if diff >= 0 && diff-size >= 0 {
			diff -= size
			due = true
		}
		if !due {
			break
		}
		out = append(out, s)
	}
	return out
}

// largestTimestamp is Kafka's LogSegment.largestTimestamp: the largest
// record timestamp, or the file's modification time if there is none.
func (l *Log) largestTimestamp(s *segment) int64 {
	if ts, _ := s.maxTimestamp(); ts >= 0 {
		return ts
	}
	if fi, err := s.log.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return math.MaxInt64 // unknown: never due by time
}

type deleted struct {
	n     int
	bytes int64
}

// deleteSegmentsLocked deletes the due prefix of inactive segments (see
// deletableLocked) and moves the log start offset to the first remaining
// base. Called with rollMu held.
func (l *Log) deleteSegmentsLocked(now time.Time, withPolicy bool) (deleted, error) {
	var d deleted
	cfg := l.cfg.Load()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return d, ErrClosed
	}
	due := l.deletableLocked(now, cfg, withPolicy)
	if len(due) == len(l.segs) {
		due = due[:len(due)-1] // never the active segment
	}
	var newStart int64
	if len(due) > 0 {
		newStart = max(l.lso.Load(), l.segs[len(due)].base)
	}
	l.mu.RUnlock()
	if len(due) == 0 {
		return d, nil
	}
	if newStart > l.lso.Load() {
		l.lc.mu.Lock()
		cleaner := l.lc.cleanerOffset
		l.lc.mu.Unlock()
		if err := l.writeCheckpoint(newStart, cleaner); err != nil {
			return d, err
		}
	}
	l.mu.Lock()
	// Only rollMu holders remove segments, so due is still a prefix.
	l.segs = l.segs[len(due):]
	if newStart > l.lso.Load() {
		l.lso.Store(newStart)
	}
	l.mu.Unlock()

	delay := time.Duration(max(cfg.FileDeleteDelayMs, 0)) * time.Millisecond
	var firstErr error
	for _, s := range due {
		d.n++
		d.bytes += s.size.Load()
		err := l.retire(s, now.Add(delay), true)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	l.logger.Info("deleted segments", "segments", d.n, "bytes", d.bytes, "logStartOffset", l.lso.Load(),
		"reason", map[bool]string{true: "retention", false: "log start offset"}[withPolicy])
	if err := l.fs.SyncDir(l.dir); err != nil && firstErr == nil {
		firstErr = storageErr(err)
	}
	return d, firstErr
}

// retire takes a segment that left the segment list out of service: with
// rename set its files get the .deleted suffix, to be removed after
// deadline. Its index files are never written again.
func (l *Log) retire(s *segment, deadline time.Time, rename bool) error {
	s.persistMu.Lock()
	s.retired = true
	s.persistMu.Unlock()
	var err error
	if rename {
		for _, ext := range []string{logExt, indexExt, timeIndexExt} {
			from := s.path + ext
			if rerr := l.fs.Rename(from, from+deletedSuffix); rerr != nil && !vfs.IsNotExist(rerr) && err == nil {
				err = storageErr(rerr)
			}
		}
	}
	l.lc.mu.Lock()
	l.lc.retired = append(l.lc.retired, retiredSegment{seg: s, deadline: deadline, files: rename})
	l.lc.mu.Unlock()
	return err
}

// removeExpired removes the .deleted files of retired segments whose
// deadline passed, and drops the log's reference to those segments: their
// files are closed at once, or when their last reader releases them.
func (l *Log) removeExpired(now time.Time) {
	l.lc.mu.Lock()
	var due []retiredSegment
	keep := l.lc.retired[:0]
	for _, r := range l.lc.retired {
		if now.Before(r.deadline) {
			keep = append(keep, r)
		} else {
			due = append(due, r)
		}
	}
	clear(l.lc.retired[len(keep):])
	l.lc.retired = keep
	l.lc.mu.Unlock()
	for _, r := range due {
		if r.files {
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				name := r.seg.path + ext + deletedSuffix
				if err := l.fs.Remove(name); err != nil && !vfs.IsNotExist(err) {
					l.logger.Warn("removing deleted segment file", "file", filepath.Base(name), "error", err)
				}
			}
		}
		r.seg.release() // the log's reference: closed now, or by its last reader
	}
}

// closeRetired closes the files of retired segments still waiting for
// removal (their .deleted files are removed by the next Open). Called by
// closeFiles.
func (l *Log) closeRetired() {
	l.lc.mu.Lock()
	defer l.lc.mu.Unlock()
	for _, r := range l.lc.retired {
		r.seg.log.Close()
	}
	l.lc.retired = nil
}
