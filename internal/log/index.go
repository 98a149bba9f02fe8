package log

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The two sparse indexes of a segment are kept in memory in exactly their
// file format, so persisting them is appending the new bytes to the file.
// Both files are append-only, unversioned sequences of fixed-size entries,
// big-endian, named after the segment:
//
// .index, 8 bytes per entry:
//
//	off width field
//	  0  4    relativeOffset u32  base offset of a batch - segment base offset
//	  4  4    position       u32  byte position of that batch in the .log
//
// An entry is added for a batch when at least index.interval.bytes were
// appended since the previous entry (position 0 is implied), so both
// columns strictly increase. Unlike Kafka's, entries name the batch's base
// offset, not its last offset.
//
// .timeindex, 12 bytes per entry:
//
//	off width field
//	  0  8    timestamp      i64  the segment's largest timestamp so far
//	  8  4    relativeOffset u32  base offset of the batch holding it - segment base offset
//
// An entry is added with each .index entry when the segment's largest
// timestamp grew since the last time entry, and once more when the segment
// stops being active (roll or Close), so that a finished segment's last time
// entry is its largest timestamp. Both columns strictly increase. Every
// record before the entry's batch has a smaller timestamp.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// noTimestamp is the running maximum of a segment holding no batch.
const noTimestamp = math.MinInt64

// indexer holds a segment's in-memory indexes and the state that decides
// when entries are added. The zero value is not ready: use newIndexer.
type indexer struct {
	idx             []byte // .index entries
	tidx            []byte // .timeindex entries
	bytesSinceEntry int64
	maxTs           int64 // largest batch maxTimestamp, noTimestamp if none
	maxTsOffset     int64 // base offset of the first batch with maxTs
}

func newIndexer() indexer { return indexer{maxTs: noTimestamp, maxTsOffset: -1} }

// add accounts for a batch of the segment with base offset segBase, written
// at pos.
func (x *indexer) add(segBase int64, h *BatchHeader, pos int64, interval int32) {
	if h.MaxTimestamp > x.maxTs {
		x.maxTs, x.maxTsOffset = h.MaxTimestamp, h.BaseOffset
	}
	if x.bytesSinceEntry >= int64(interval) {
		x.idx = binary.BigEndian.AppendUint32(x.idx, uint32(h.BaseOffset-segBase))
		x.idx = binary.BigEndian.AppendUint32(x.idx, uint32(pos))
		x.maybeAppendTime(segBase)
		x.bytesSinceEntry = 0
	}
	x.bytesSinceEntry += int64(h.Size())
}

// maybeAppendTime adds a time index entry for the running maximum if it grew
// since the last entry.
func (x *indexer) maybeAppendTime(segBase int64) {
	if x.maxTs == noTimestamp {
		return
	}
	if ts, _, ok := lastTimeEntry(x.tidx); ok && ts >= x.maxTs {
		return
	}
	x.tidx = binary.BigEndian.AppendUint64(x.tidx, uint64(x.maxTs))
	x.tidx = binary.BigEndian.AppendUint32(x.tidx, uint32(x.maxTsOffset-segBase))
}

// offsetEntries and timeEntries count entries.
func offsetEntries(idx []byte) int { return len(idx) / offsetEntrySize }
func timeEntries(tidx []byte) int  { return len(tidx) / timeEntrySize }

func offsetEntry(idx []byte, i int) (rel, pos uint32) {
	e := idx[i*offsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func timeEntry(tidx []byte, i int) (ts int64, rel uint32) {
	e := tidx[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

func lastTimeEntry(tidx []byte) (ts int64, rel uint32, ok bool) {
	n := timeEntries(tidx)
	if n == 0 {
		return 0, 0, false
	}
	ts, rel = timeEntry(tidx, n-1)
	return ts, rel, true
}

// search returns the largest i in [0, n) with le(i) true, or -1; le must be
// true for a prefix of the range.
func search(n int, le func(int) bool) int {
	lo, hi := 0, n // invariant: le true below lo, false at and above hi
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if le(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// floorOffset returns the entry with the largest relative offset <= rel,
// or (0, 0) (the implied entry for the segment start).
func floorOffset(idx []byte, rel uint32) (uint32, uint32) {
	i := search(offsetEntries(idx), func(i int) bool { r, _ := offsetEntry(idx, i); return r <= rel })
	if i < 0 {
		return 0, 0
	}
	return offsetEntry(idx, i)
}

// floorPosition returns the entry with the largest position <= pos, or
// (0, 0).
func floorPosition(idx []byte, pos uint32) (uint32, uint32) {
	i := search(offsetEntries(idx), func(i int) bool { _, p := offsetEntry(idx, i); return p <= pos })
	if i < 0 {
		return 0, 0
	}
	return offsetEntry(idx, i)
}

// floorTime returns the relative offset of the entry with the largest
// timestamp <= ts, or 0 when there is none.
func floorTime(tidx []byte, ts int64) uint32 {
	i := search(timeEntries(tidx), func(i int) bool { t, _ := timeEntry(tidx, i); return t <= ts })
	if i < 0 {
		return 0
	}
	_, rel := timeEntry(tidx, i)
	return rel
}

// checkOffsetIndex verifies the structure of an .index loaded from disk for
// a segment of logSize bytes holding relative offsets below relEnd.
func checkOffsetIndex(idx []byte, logSize int64, relEnd int64) error {
	if len(idx)%offsetEntrySize != 0 {
		return fmt.Errorf("offset index size %d is not a multiple of %d", len(idx), offsetEntrySize)
	}
	var prevRel, prevPos int64 = -1, -1
	for i := range offsetEntries(idx) {
		r, p := offsetEntry(idx, i)
		if int64(r) <= prevRel || int64(p) <= prevPos || int64(p) >= logSize || int64(r) >= relEnd {
			return fmt.Errorf("offset index entry %d (%d, %d) out of order or out of range", i, r, p)
		}
		prevRel, prevPos = int64(r), int64(p)
	}
	return nil
}

// checkTimeIndex verifies the structure of a .timeindex loaded from disk
// for a segment holding relative offsets below relEnd.
func checkTimeIndex(tidx []byte, relEnd int64) error {
	if len(tidx)%timeEntrySize != 0 {
		return fmt.Errorf("time index size %d is not a multiple of %d", len(tidx), timeEntrySize)
	}
	var prevTs int64 = noTimestamp
	var prevRel int64 = -1
	for i := range timeEntries(tidx) {
		t, r := timeEntry(tidx, i)
		if (i > 0 && t <= prevTs) || int64(r) <= prevRel || int64(r) >= relEnd {
			return fmt.Errorf("time index entry %d (%d, %d) out of order or out of range", i, t, r)
		}
		prevTs, prevRel = t, int64(r)
	}
	return nil
}
