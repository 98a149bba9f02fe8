package log

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Verification of stored data.
//
// Recovery CRC-checks only what it cannot vouch for (see recover.go), so a
// segment checked cheaply at Open may hold a batch damaged on disk since it
// was written. Each segment therefore tracks which of its bytes have had
// their CRCs checked: everything at or after trustFrom (bytes this process
// appended or recovery verified) and the ranges in verified. Read checks the
// batches it is about to serve that are in neither, once: later reads of the
// same range go straight to sendfile. Scrub does the same in the background,
// at the rate the broker gives it (log.scrubber.io.max.bytes.per.second).
//
// A batch found damaged is never served: a read that starts at it fails
// with ErrDiskCorruption (CORRUPT_MESSAGE), and a read that reaches it stops
// before it. Each damaged batch is logged once and counted (Log.Corruptions).
// Nothing is truncated or deleted: the data was acknowledged, and what to do
// with it is an operator's decision.

// ErrDiskCorruption marks corruption found in data the log stored, as
// opposed to a corrupt produced batch (both are IsCorruption; only stored
// data is IsDiskCorruption).
var ErrDiskCorruption = errors.New("data corruption on disk")

// IsDiskCorruption reports whether err reports damaged data in the log's
// files, found by recovery, a read or the scrubber.
func IsDiskCorruption(err error) bool { return errors.Is(err, ErrDiskCorruption) }

// diskCorruption marks err (a corruption error) as found on disk.
func diskCorruption(err error) error {
	if err == nil || IsDiskCorruption(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDiskCorruption, err)
}

// verifyState is a segment's record of checked byte ranges and of the
// damaged batches found in them.
type verifyState struct {
	mu      sync.Mutex
	checked [][2]int64     // disjoint, sorted, batch-aligned [from, to) ranges
	bad     map[int64]bool // positions of batches found damaged (inside checked ranges)
	nbad    atomic.Int32   // len(bad), for the lock-free fast path
}

// isVerified reports whether [from, to) was checked and holds no damaged
// batch.
func (s *segment) isVerified(from, to int64) bool {
	v := &s.verify
	if v.nbad.Load() == 0 && from >= s.trustFrom.Load() {
		return true // the common case: no lock
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for p := range v.bad {
		if p >= from && p < to {
			return false
		}
	}
	if from >= s.trustFrom.Load() {
		return true
	}
	i, found := slices.BinarySearchFunc(v.checked, from, func(r [2]int64, p int64) int {
		switch {
		case r[1] <= p:
			return -1
		case r[0] > p:
			return 1
		}
		return 0
	})
	if !found {
		return false
	}
	end := v.checked[i][1]
	return to <= end || end >= s.trustFrom.Load()
}

// markChecked records [from, to) as checked.
func (s *segment) markChecked(from, to int64) {
	if from >= to {
		return
	}
	v := &s.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	rs := append(v.checked, [2]int64{from, to})
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r[0] <= last[1] {
			last[1] = max(last[1], r[1])
		} else {
			out = append(out, r)
		}
	}
	v.checked = out
	if out[0][0] == 0 && out[0][1] >= s.trustFrom.Load() {
		s.trustFrom.Store(0) // all checked: reads take the fast path
	}
}

// firstUnchecked returns the first unchecked range [from, to) below
// trustFrom; from is -1 when everything was checked.
func (s *segment) firstUnchecked() (from, to int64) {
	trust := s.trustFrom.Load()
	v := &s.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	pos := int64(0)
	for _, r := range v.checked {
		if r[0] > pos {
			return pos, min(r[0], trust)
		}
		pos = max(pos, r[1])
	}
	if pos >= trust {
		return -1, -1
	}
	return pos, trust
}

// isBad reports whether the batch at pos was found damaged.
func (s *segment) isBad(pos int64) bool {
	if s.verify.nbad.Load() == 0 {
		return false
	}
	s.verify.mu.Lock()
	defer s.verify.mu.Unlock()
	return s.verify.bad[pos]
}

// reportCorrupt logs and counts the damaged batch at pos of seg, once; it
// returns err marked as disk corruption.
func (l *Log) reportCorrupt(seg *segment, pos int64, err error) error {
	err = diskCorruption(err)
	v := &seg.verify
	v.mu.Lock()
	first := !v.bad[pos]
	if first {
		if v.bad == nil {
			v.bad = map[int64]bool{}
		}
		v.bad[pos] = true
		v.nbad.Add(1)
	}
	v.mu.Unlock()
	if first {
		l.corruptions.Add(1)
		l.logger.Error("corrupt data in log segment; not serving it (restore the partition from a backup, or delete the records up to past it with DeleteRecords)",
			"segment", seg.name(), "position", pos, "error", err)
	}
	return err
}

// Corruptions is the number of distinct damaged batches found in this log's
// files since Open by reads and the scrubber (recovery refuses to open a log
// with damage it cannot vouch for). It only grows; the broker sums it over
// its logs (Broker.Corruptions) for its metrics.
func (l *Log) Corruptions() int64 { return l.corruptions.Load() }

// verifyWindow is the read buffer of verification; larger batches get a
// buffer of their own.
const verifyWindow = 256 << 10

// checkBatches CRC-checks the batches from from (a batch start) on, until
// the first one ending past to (or at limit), calling bad for a damaged
// one. A damaged batch whose framing holds is stepped over unless stop is
// set; one whose framing is broken ends the walk, since nothing after it
// can be located. It returns where it stopped and whether the framing was
// broken there.
func checkBatches(r *windowReader, from, to int64, stop bool, bad func(pos int64, err error)) (pos int64, broken bool, err error) {
	pos = from
	for pos < r.limit && (pos < to || pos == from) {
		h, err := r.header(pos)
		framed := err == nil
		if err == nil {
			var b []byte
			if b, err = r.at(pos, h.Size()); err == nil {
				err = checkCRC(b)
			}
		}
		if err != nil {
			if !IsCorruption(err) {
				return pos, false, err
			}
			bad(pos, err)
			if !framed || stop {
				return pos, !framed, nil
			}
		}
		pos += int64(h.Size())
	}
	return pos, false, nil
}

// verifyRange checks the CRCs of the whole batches in [from, to) of seg
// unless they were checked and found good already. It returns the end of
// the leading run of good batches: to when all are good. A damaged first
// batch is an ErrDiskCorruption error.
func (l *Log) verifyRange(seg *segment, from, to int64) (int64, error) {
	if seg.isVerified(from, to) {
		return to, nil
	}
	r := windowReader{f: seg.log, limit: to, buf: make([]byte, verifyWindow)}
	var first error
	end, _, err := checkBatches(&r, from, to, true, func(pos int64, err error) {
		first = l.reportCorrupt(seg, pos, fmt.Errorf("batch at position %d of %s: %w", pos, seg.name(), err))
	})
	if err != nil {
		return from, storageErr(err)
	}
	seg.markChecked(from, end)
	if first != nil && end == from {
		return from, first
	}
	return end, nil
}

// Scrub checks the CRCs of about budget bytes of batches that neither
// recovery nor a read has checked yet, oldest segment first, and returns
// the bytes checked (0 when everything was checked). Damage is reported as
// by reads (logged once, counted) and is not an error; an I/O error is.
func (l *Log) Scrub(budget int64) (int64, error) {
	if !l.enterLoaded() {
		return 0, nil // scrubbed once loaded (lazy.go)
	}
	defer l.leaveLoaded()
	var done int64
	for done < budget {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return done, ErrClosed
		}
		var seg *segment
		var from, to int64
		for _, s := range l.segs {
			if from, to = s.firstUnchecked(); from >= 0 {
				seg = s
				seg.pin()
				break
			}
		}
		l.mu.RUnlock()
		if seg == nil {
			return done, nil
		}
		r := windowReader{f: seg.log, limit: to, buf: make([]byte, verifyWindow)}
		end, broken, err := checkBatches(&r, from, from+budget-done, false, func(pos int64, err error) {
			l.reportCorrupt(seg, pos, fmt.Errorf("batch at position %d of %s: %w", pos, seg.name(), err))
		})
		seg.release()
		if err != nil {
			return done, storageErr(err)
		}
		if broken {
			end = to // nothing more can be located in this range
		}
		seg.markChecked(from, end)
		done += end - from
	}
	return done, nil
}
