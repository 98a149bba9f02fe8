package log

import (
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Recovery, run by Open.
//
// A Close that succeeded leaves every file fsynced, a producer snapshot at
// the log end and a .clean_shutdown marker. Open removes the marker, so its
// presence means nothing was written since a clean Close.
//
// With the marker, segments are trusted: for each, the last .index entry
// must point inside the file and the batch headers from there must end
// exactly at the end of the file; indexes that are missing or fail that are
// rebuilt from the batch headers.
//
// Without it, the recovery point is the offset of the newest valid producer
// snapshot: snapshots are written only after every segment below their
// offset was fsynced with its indexes (finishRoll, Close). Segments that end
// at or before it get the trusted check above, plus a CRC check of the
// batches after the last index entry. The segment holding the recovery point
// and every later one are recovered fully: every batch's framing, offset
// continuity and CRC is checked, the file is truncated before the first bad
// batch and the indexes are rebuilt.
//
// Bad data that was vouched for (in a segment below the recovery point or
// of a cleanly closed log, or a batch below the recovery point in the
// segment holding it) is never cut off: that data was fsynced and
// acknowledged, so Open fails with an error wrapping ErrDiskCorruption that
// names the segment, position and offset, and leaves the decision to an
// operator. Only a tail at or above the recovery point is truncated.
//
// Recovery deletes no segment that was vouched for. When a torn tail above
// the recovery point was truncated and the next segment also starts above
// it, the later segments were never fsynced as a whole: they are moved aside
// (renamed with unflushedSuffix, kept for the operator, not served), as
// the tail is truncated (Kafka's recovery deletes them). Otherwise, when
// offsets do not continue from one segment into the next (a lost segment
// file below the recovery point), the gap is logged as an error and the later segments, which
// passed their own checks, are kept and served: a fetch of an offset in
// the gap gets the batches after it, as in a compacted log. Overlapping
// segments fail Open. Every truncation is logged with the segment,
// position, byte count and offsets involved.
//
// Finally the producer state is loaded from the newest valid snapshot at or
// below the recovered log end, and the headers of the batches after it are
// replayed; snapshots beyond the end or failing their CRC are deleted.

// unflushedSuffix, then a time in Unix milliseconds, renames the files of
// segments moved aside by recovery.
const unflushedSuffix = ".unflushed-"

// recoverWindow is the largest read buffer of recovery scans.
const recoverWindow = 1 << 20

// recoverBuf returns a read buffer for scanning n bytes of a file: n
// rounded up to a batch header, at most recoverWindow. A recovery of many
// small partitions (one record each, after a crash) allocated and zeroed
// 1 MiB per scan before: most of its time and memory.
func recoverBuf(n int64) []byte {
	return make([]byte, min(max(n, BatchHeaderLen), recoverWindow))
}

func (l *Log) recover(fresh bool) error {
	var entries []fs.DirEntry
	if !fresh { // fresh: the directory was just created, empty
		// (Options.Prepare may have moved it aside.)
		if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
			return storageErr(err)
		}
		if err := l.recoverLifecycleFiles(); err != nil {
			return err
		}
		var err error
		if entries, err = l.fs.ReadDir(l.dir); err != nil {
			return storageErr(err)
		}
	}
	var bases, snaps []int64
	indexFiles := map[int64][]string{}
	clean := false
	for _, e := range entries {
		name := e.Name()
		if b, ok := parseFileName(name, logExt); ok {
			bases = append(bases, b)
		} else if b, ok := parseFileName(name, snapshotExt); ok {
			snaps = append(snaps, b)
		} else if b, ok := parseFileName(name, indexExt); ok {
			indexFiles[b] = append(indexFiles[b], name)
		} else if b, ok := parseFileName(name, timeIndexExt); ok {
			indexFiles[b] = append(indexFiles[b], name)
		} else if name == cleanShutdownFile {
			clean = true
		} else if strings.HasSuffix(name, vfs.TempSuffix) {
			l.removeFile(name, "leftover temporary file")
		}
	}
	slices.Sort(bases)
	slices.Sort(snaps)
	for b, names := range indexFiles {
		if _, ok := slices.BinarySearch(bases, b); !ok {
			for _, n := range names {
				l.removeFile(n, "index without segment")
			}
		}
	}

	cfg := l.cfg.Load()
	decoded := map[int64]decodedSnapshot{}
	empty := len(bases) == 0 && !clean // a new log: see syncRecovered
	if len(bases) == 0 {
		seg, err := createSegment(l.fs, l.dir, 0)
		if err != nil {
			return storageErr(err)
		}
		l.segs = []*segment{seg}
		l.dirDirty = true
	} else {
		rp := int64(math.MaxInt64)
		if !clean {
			rp = bases[0]
			for i := len(snaps) - 1; i >= 0; i-- {
				if p, err := l.readSnapshot(snaps[i]); err == nil {
					decoded[snaps[i]] = p
					rp = snaps[i]
					break
				}
			}
			l.logger.Info("recovering log after unclean shutdown", "recoveryPoint", rp)
		}
		if err := l.recoverSegments(bases, rp, clean, cfg); err != nil {
			return err
		}
	}

	act := l.active()
	if err := act.ensureLoaded(l.logger, cfg.IndexIntervalBytes); err != nil {
		return storageErr(err)
	}
	act.created = l.now()
	act.resumeIndexing()
	l.next = act.next
	l.hw.Store(l.next)
	l.lso.Store(l.segs[0].base)
	if !fresh {
		if err := l.loadCheckpoint(); err != nil {
			return err
		}
	}

	if err := l.loadProducerState(snaps, decoded); err != nil {
		return err
	}
	if err := l.dropRemovedAborted(); err != nil {
		return err
	}
	if err := l.syncRecovered(clean, empty); err != nil {
		return err
	}
	l.synced.Store(l.next)
	return nil
}

// recoverSegments opens the segments with the given bases and checks or
// recovers each as described above. Nothing after a gap below the
// recovery point is deleted.
func (l *Log) recoverSegments(bases []int64, rp int64, clean bool, cfg *Config) error {
	for i, base := range bases {
		seg, fileSize, err := openSegment(l.fs, l.dir, base)
		if err != nil {
			return storageErr(err)
		}
		l.segs = append(l.segs, seg)
		last := i == len(bases)-1
		if clean || (!last && bases[i+1] <= rp) {
			if err := l.checkSegment(seg, fileSize, !clean, cfg); err != nil {
				return err
			}
		} else if err := l.recoverSegment(seg, fileSize, rp, cfg); err != nil {
			return err
		}
		if last {
			break
		}
		switch next := bases[i+1]; {
		case seg.next < next && !clean && next > rp:
			// A torn tail above the recovery point, with later
			// segments that start after it too: none of that was
			// fsynced as a whole (after a power loss the file system
			// may keep later writes and lose earlier ones), so it is
			// not served, as the torn tail is not (Kafka's recovery
			// deletes the unflushed segments after a truncated one;
			// Sluice moves them aside, renamed with unflushedSuffix, and
			// logs it). Serving them would leave a hole in acknowledged
			// but unflushed offsets that consumers skip without notice.
			suffix := fmt.Sprintf("%s%d", unflushedSuffix, l.now().UnixMilli())
			for _, b := range bases[i+1:] {
				l.logger.Error("moving aside an unflushed segment after a torn tail above the recovery point; its records are not served",
					"segment", fileName(b, logExt), "movedTo", fileName(b, logExt)+suffix, "recoveryPoint", rp, "tornAt", seg.next)
				for _, ext := range []string{logExt, indexExt, timeIndexExt} {
					name := filepath.Join(l.dir, fileName(b, ext))
					if err := l.fs.Rename(name, name+suffix); err != nil && !vfs.IsNotExist(err) {
						return storageErr(err)
					}
				}
				l.dirDirty = true
			}
			return nil
		case seg.next < next:
			// A lost segment file below the recovery point. The
			// following segments passed their checks: keep and serve
			// them; a fetch inside the gap gets the batches after it.
			l.logger.Error("offsets do not continue into the next segment: records are missing; keeping and serving the following segments",
				"segment", seg.name(), "nextOffset", seg.next, "nextSegment", fileName(next, logExt),
				"missingOffsets", next-seg.next)
		case seg.next > next:
			return diskCorruption(corruptf("log %s: segment %s holds offsets up to %d, past the start of the next segment %s; refusing to guess which copy is right",
				l.dir, seg.name(), seg.next-1, fileName(next, logExt)))
		}
		seg.finish()
	}
	return nil
}

// removeFile removes a file of the directory, logging why if why is set.
func (l *Log) removeFile(name, why string) {
	if why != "" {
		l.logger.Info("removing "+why, "file", name)
	}
	if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !vfs.IsNotExist(err) {
		l.logger.Warn("removing file", "file", name, "error", err)
	}
	l.dirDirty = true
}

// decodedSnapshot is a snapshot file's contents.
type decodedSnapshot struct {
	prod producerState
	txns txnState
}

func (l *Log) readSnapshot(off int64) (decodedSnapshot, error) {
	b, err := readFile(l.fs, filepath.Join(l.dir, fileName(off, snapshotExt)))
	if err != nil {
		return decodedSnapshot{}, err
	}
	p, t, err := decodeSnapshot(b)
	return decodedSnapshot{p, t}, err
}

// loadProducerState installs the newest valid snapshot at or below the log
// end and replays the batch headers after it.
func (l *Log) loadProducerState(snaps []int64, decoded map[int64]decodedSnapshot) error {
	from := l.lso.Load()
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		if off > l.next {
			l.removeFile(fileName(off, snapshotExt), "producer snapshot beyond the log end")
			continue
		}
		p, ok := decoded[off]
		if !ok && len(l.snaps) < 2 {
			var err error
			if p, err = l.readSnapshot(off); err != nil {
				l.logger.Warn("producer snapshot unusable", "offset", off, "error", err)
				l.removeFile(fileName(off, snapshotExt), "")
				continue
			}
		}
		if len(l.snaps) == 2 {
			l.removeFile(fileName(off, snapshotExt), "old producer snapshot")
			continue
		}
		if len(l.snaps) == 0 {
			l.prod, l.txns, from = p.prod, p.txns, off
		}
		l.snaps = append(l.snaps, off)
	}
	slices.Sort(l.snaps)
	if from >= l.next {
		return nil
	}
	cfg := l.cfg.Load()
	replayed := 0
	for _, seg := range l.segs {
		if seg.next <= from {
			continue
		}
		if err := seg.ensureLoaded(l.logger, cfg.IndexIntervalBytes); err != nil {
			return storageErr(err)
		}
		off, pos := seg.lookupOffset(max(from, seg.base))
		r := windowReader{f: seg.log, limit: seg.size.Load(), buf: recoverBuf(seg.size.Load() - pos)}
		_, _, err := scanBatches(&r, pos, off, false, func(h *BatchHeader, pos int64) {
			if h.BaseOffset >= from {
				marker := int16(-1)
				if h.Control() {
					if b, err := r.at(pos, h.Size()); err == nil {
						marker = MarkerType(b)
					}
					l.prod.applyMarker(h)
				} else {
					l.prod.update(h)
				}
				l.txns.apply(h, marker)
				replayed++
			}
		})
		if err != nil {
			if IsCorruption(err) {
				return err
			}
			return storageErr(err)
		}
	}
	l.logger.Info("replayed producer state", "fromOffset", from, "batches", replayed, "producers", len(l.prod))
	return nil
}

// syncRecovered makes what recovery changed durable and removes the
// clean-shutdown marker; the removal is made durable before the log first
// changes (markerGone), so that a crash from then on is seen as unclean,
// while loading a log to read it costs no fsync.
// A fresh log (a directory without segments, and so without data) leaves
// its directory to the first flush (dirDirty stays set): a crash before
// it loses nothing that the next Open does not create again, and creating
// many partitions costs no fsync each.
func (l *Log) syncRecovered(clean, fresh bool) error {
	for _, s := range l.segs {
		if s.dirty {
			if err := s.log.Sync(); err != nil {
				return storageErr(err)
			}
			s.dirty = false
		}
		if s != l.active() && s.indexesPending() {
			if err := s.persistIndexes(true); err != nil {
				return storageErr(err)
			}
		}
	}
	if clean {
		if err := l.fs.Remove(filepath.Join(l.dir, cleanShutdownFile)); err != nil && !vfs.IsNotExist(err) {
			return storageErr(err)
		}
		// Made durable before the first change to the log (lazy.go,
		// markerGone), or below if the directory is synced anyway.
		l.lz.markerPending.Store(true)
	}
	if l.dirDirty && !fresh {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr(err)
		}
		l.dirDirty = false
		l.lz.markerPending.Store(false)
	}
	return nil
}

// dropRemovedAborted forgets the aborted transactions, from a snapshot,
// whose abort marker the cleaner has removed since (see clean_txn.go): a
// read_committed consumer told of one would skip its producer's later
// batches, waiting for that marker. Each entry is checked by reading the
// batch header at its marker offset.
func (l *Log) dropRemovedAborted() error {
	if len(l.txns.aborted) == 0 {
		return nil
	}
	cfg := l.cfg.Load()
	lso := l.lso.Load()
	keep := l.txns.aborted[:0]
	for _, a := range l.txns.aborted {
		if a.LastOffset < lso || a.LastOffset >= l.next {
			keep = append(keep, a) // pruned at the next roll, or not ours to judge
			continue
		}
		seg := l.segmentFor(a.LastOffset)
		if err := seg.ensureLoaded(l.logger, cfg.IndexIntervalBytes); err != nil {
			return storageErr(err)
		}
		off, pos := seg.lookupOffset(a.LastOffset)
		r := windowReader{f: seg.log, limit: seg.size.Load(), buf: make([]byte, BatchHeaderLen)}
		found := false
		for pos < r.limit && off <= a.LastOffset {
			h, err := r.header(pos)
			if err != nil {
				return l.readErr(seg, pos, err)
			}
			if h.BaseOffset == a.LastOffset {
				found = h.Control() && h.ProducerID == a.ProducerID
				break
			}
			pos += int64(h.Size())
			off = h.LastOffset() + 1
		}
		if found {
			keep = append(keep, a)
		} else {
			l.logger.Info("forgetting aborted transaction whose marker was cleaned", "producerId", a.ProducerID, "markerOffset", a.LastOffset)
		}
	}
	clear(l.txns.aborted[len(keep):])
	l.txns.aborted = keep
	return nil
}
