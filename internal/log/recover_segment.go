package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkSegment is the cheap check of a segment recovery vouches for (see
// above); verify adds CRC checks of the scanned batches. Indexes failing it
// are rebuilt; data failing it is an error.
func (l *Log) checkSegment(seg *segment, fileSize int64, verify bool, cfg *Config) error {
	seg.size.Store(fileSize)
	r := windowReader{f: seg.log, limit: fileSize, buf: recoverBuf(fileSize)}
	tailMax := int64(noTimestamp)
	lastPos := int64(-1)
	track := func(h *BatchHeader, pos int64) { tailMax, lastPos = max(tailMax, h.MaxTimestamp), pos }

	var why error
	startPos, startOff := int64(0), seg.base
	if rel, pos, err := l.lastEntry(seg.path+indexExt, offsetEntrySize); err != nil {
		why = err
	} else if pos >= 0 {
		if int64(pos) >= fileSize {
			why = fmt.Errorf("last offset index entry points at %d, beyond the file (%d bytes)", pos, fileSize)
		} else {
			startPos, startOff = int64(pos), seg.base+rel
		}
	}
	end, next, err := scanBatches(&r, startPos, startOff, verify, track)
	if err != nil && startPos > 0 && IsCorruption(err) {
		why = fmt.Errorf("batches after the last offset index entry do not line up: %w", err)
		tailMax = noTimestamp
		end, next, err = scanBatches(&r, 0, seg.base, verify, track)
	}
	if err != nil {
		if !IsCorruption(err) {
			return storageErr(err)
		}
		return diskCorruption(fmt.Errorf("log %s: segment %s is damaged at position %d (offset %d, %d bytes from there on) though it was fsynced; not truncating durable data: %w",
			l.dir, seg.name(), end, next, fileSize-end, err))
	}
	seg.next = next
	if verify {
		seg.markChecked(startPos, end)
	}
	// The indexer adds an entry at the first batch starting
	// IndexIntervalBytes or more after the previous one, so a batch that
	// far after the last entry means a truncated or emptied index (or a
	// changed interval): reads would scan from its last entry.
	if why == nil && lastPos-startPos >= int64(cfg.IndexIntervalBytes) {
		why = fmt.Errorf("offset index ends at position %d, but a batch starts at %d", startPos, lastPos)
	}

	if why == nil {
		ts, rel, err := l.lastEntry(seg.path+timeIndexExt, timeEntrySize)
		switch {
		case err != nil:
			why = err
		case rel < 0 && next != seg.base:
			why = errors.New("time index is empty")
		case rel >= 0 && (seg.base+rel >= next || ts < tailMax):
			why = fmt.Errorf("last time index entry (%d, %d) does not cover the segment", ts, rel)
		case rel >= 0:
			seg.ix.maxTs, seg.ix.maxTsOffset = ts, seg.base+rel
		}
	}
	if why == nil {
		return nil
	}
	l.logger.Warn("rebuilding segment indexes", "segment", seg.name(), "reason", why)
	ix, err := buildIndexes(seg.log, seg.base, end, cfg.IndexIntervalBytes)
	if err != nil {
		return storageErr(err)
	}
	seg.setIndexes(ix)
	return nil
}

// lastEntry returns the last entry of an index file with entries of the
// given width: for .index (relative offset, position), for .timeindex
// (timestamp, relative offset). An empty file gives (-1, -1); a missing or
// malformed one an error.
func (l *Log) lastEntry(name string, width int) (int64, int64, error) {
	f, err := l.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if fi.Size()%int64(width) != 0 {
		return 0, 0, fmt.Errorf("%s: size %d is not a multiple of %d", filepath.Base(name), fi.Size(), width)
	}
	if fi.Size() == 0 {
		return -1, -1, nil
	}
	b := make([]byte, width)
	if _, err := f.ReadAt(b, fi.Size()-int64(width)); err != nil {
		return 0, 0, err
	}
	if width == offsetEntrySize {
		rel, pos := offsetEntry(b, 0)
		return int64(rel), int64(pos), nil
	}
	ts, rel := timeEntry(b, 0)
	return ts, int64(rel), nil
}

// recoverSegment verifies every batch of seg, truncates the file before
// the first bad one and rebuilds the indexes. A bad batch below the
// recovery point rp was fsynced: that is an error, not a torn tail.
func (l *Log) recoverSegment(seg *segment, fileSize, rp int64, cfg *Config) error {
	ix := newIndexer()
	r := windowReader{f: seg.log, limit: fileSize, buf: recoverBuf(fileSize)}
	end, next, err := scanBatches(&r, 0, seg.base, true, func(h *BatchHeader, pos int64) {
		ix.add(seg.base, h, pos, cfg.IndexIntervalBytes)
	})
	if err != nil {
		if !IsCorruption(err) {
			return storageErr(err)
		}
		if next < rp {
			return diskCorruption(fmt.Errorf("log %s: segment %s is damaged at position %d (offset %d, %d bytes from there on), below the recovery point %d: that data was fsynced; not truncating it: %w",
				l.dir, seg.name(), end, next, fileSize-end, rp, err))
		}
		l.logger.Warn("truncating torn or corrupt log tail",
			"segment", seg.name(), "position", end, "bytes", fileSize-end,
			"firstLostOffset", next, "reason", err)
		if err := seg.log.Truncate(end); err != nil {
			return storageErr(err)
		}
	}
	seg.size.Store(end)
	seg.trustFrom.Store(0) // every batch was checked
	seg.next = next
	seg.setIndexes(ix)
	seg.dirty = true // fsynced by syncRecovered
	return nil
}
