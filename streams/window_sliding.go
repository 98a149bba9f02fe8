package streams

import (
	"context"
	"fmt"
	"sort"
)

// Sliding windows (Kafka Streams' SlidingWindows, KIP-450, after its
// KStreamSlidingWindowAggregate). With time difference d, a key's windows
// are [s, s+d], both ends inclusive (End = s+d+1 as a Window), and exist
// only where they start or end at a record of the key: a record at t has
// its left window [t-d, t] and, while a later record falls in it, its
// right window [t+1, t+1+d]. Each window keeps the time of its latest
// record (maxTs) besides its value, which is how a new record finds the
// records around it without any record being stored.
//
// A record at t (stream time already advanced to cover it):
//
//   - is late, and changes nothing, when its right window would be closed
//     too: t+1+d+grace <= stream time;
//   - goes into every existing window that contains it and is open, newest
//     start first; the newest one, read before the update, is the
//     aggregate of the records after t within d of it (the value its right
//     window starts from);
//   - finds the previous record of the key (the latest before t) from the
//     maxTs of the window ending at t or of the latest one ending before
//     it; when that record's right window does not exist yet and contains
//     t, it is created with t alone in it (no other record falls between
//     the two);
//   - creates its left window when it does not exist: from the latest
//     window ending before t when the previous record is within d of t
//     (that window holds exactly the records of [t-d, t)), else from the
//     default, then t applied;
//   - creates its right window, when it does not exist and records after t
//     fall in it, as a copy of the aggregate above (t is not in it).
//
// Windows that start before t-2d cannot matter (a window that ends before
// t-d holds nothing of [t-d, t] and no previous record whose right window
// contains t), so only those are read; Windows.keep keeps them long enough.

// updateSliding applies a record at ts to key kb's sliding windows; late
// reports that the record was left out of at least one of its windows.
func (wc *windowCore) updateSliding(ctx context.Context, p int32, wp *wpart, kb []byte, ts int64, f updateFunc,
	onUpdate func(m wmeta, vb []byte) error) (late bool, err error) {
	d := wc.win.size.Milliseconds()
	if ts+1+d+wc.grace <= wp.st {
		return true, nil
	}
	k := string(kb)
	// A new window, with ts as its latest record.
	window := func(start int64) wmeta { return wmeta{start: start, end: start + d + 1, maxTs: ts} }
	get := func(m wmeta) ([]byte, error) {
		vb, ok := wc.value(p, kb, m.start)
		if ok {
			return vb, nil
		}
		if err := wc.tc.stickyErr(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: table %s partition %d: indexed window missing from the store", ErrStoreCorrupt, wc.tc.name, p)
	}
	open := func(m wmeta) bool { return wp.st < m.end+wc.grace }
	write := func(m wmeta, vb []byte) error {
		if err := wc.put(ctx, p, wp, kb, m, vb); err != nil {
			return err
		}
		if onUpdate != nil {
			return onUpdate(m, vb)
		}
		return nil
	}
	// apply puts f of old (or of the default, without has) into m, with
	// ts as one of its records, unless m is closed.
	apply := func(m wmeta, old []byte, has bool) error {
		if !open(m) {
			late = true
			return nil
		}
		nv, err := f(old, has)
		if err != nil {
			return err
		}
		m.maxTs = max(m.maxTs, ts)
		return write(m, nv)
	}

	// The key's windows starting in [ts-2d, ts+1], newest first (a copy:
	// writes below change the index).
	all := wp.byKey[k]
	lo := sort.Search(len(all), func(i int) bool { return all[i].start >= ts-2*d })
	hi := sort.Search(len(all), func(i int) bool { return all[i].start > ts+1 })
	near := append([]wmeta(nil), all[lo:hi]...)

	var (
		leftAgg                []byte // the latest window ending before ts
		hasLeftAgg             bool
		rightAgg               []byte // the newest window containing ts, before ts
		rightMaxTs             int64
		hasRightAgg            bool
		leftExists, rightExist bool
		prevTs                 int64 // the previous record's time
		hasPrev                bool
	)
scan:
	for i := len(near) - 1; i >= 0; i-- {
		m := near[i]
		endIncl := m.end - 1
		switch {
		case m.start == ts+1:
			rightExist = true
		case endIncl > ts: // contains ts
			vb, err := get(m)
			if err != nil {
				return late, err
			}
			if !hasRightAgg {
				rightAgg, rightMaxTs, hasRightAgg = vb, m.maxTs, true
			}
			if err := apply(m, vb, true); err != nil {
				return late, err
			}
		case endIncl == ts: // ts's left window
			leftExists = true
			vb, err := get(m)
			if err != nil {
				return late, err
			}
			if err := apply(m, vb, true); err != nil {
				return late, err
			}
			if m.maxTs >= ts {
				// A record at ts came before: the windows around ts
				// exist already.
				return late, nil
			}
			prevTs, hasPrev = m.maxTs, true
		default: // ends before ts
			vb, err := get(m)
			if err != nil {
				return late, err
			}
			leftAgg, hasLeftAgg = vb, true
			prevTs, hasPrev = m.maxTs, true
			break scan
		}
	}

	// The previous record's right window, when ts is its first record.
	if hasPrev {
		if _, exists := wp.find(k, prevTs+1); !exists && prevTs+1+d >= ts {
			if err := apply(window(prevTs+1), nil, false); err != nil {
				return late, err
			}
		}
	}
	// ts's left window.
	if !leftExists {
		m := window(ts - d)
		if hasPrev && hasLeftAgg && prevTs >= ts-d {
			err = apply(m, leftAgg, true)
		} else {
			err = apply(m, nil, false)
		}
		if err != nil {
			return late, err
		}
	}
	// ts's right window, when records after ts fall in it.
	if !rightExist && hasRightAgg && rightMaxTs > ts {
		m := window(ts + 1)
		m.maxTs = rightMaxTs
		if err := write(m, rightAgg); err != nil {
			return late, err
		}
	}
	return late, nil
}

// slidingAt returns the start of key kb's window in partition p that holds
// exactly the records of [ts-d, ts], when there is one: with r the latest
// record at or before ts, the window whose latest record is r that starts
// latest at or before ts-d (r's left window, or the right window of the
// latest record before ts-d). None when no record of [ts-d, ts] is in a
// window still kept for reads.
func (wc *windowCore) slidingAt(p int32, kb []byte, ts int64) (int64, bool) {
	d := wc.win.size.Milliseconds()
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wp, err := wc.load(p)
	if err != nil {
		wc.tc.setErr(err)
		return 0, false
	}
	ms := wp.byKey[string(kb)]
	r, found := int64(0), false
	for _, m := range ms {
		if wc.visible(wp, m) && m.maxTs <= ts && (!found || m.maxTs > r) {
			r, found = m.maxTs, true
		}
	}
	if !found || r < ts-d {
		return 0, false
	}
	start, ok := int64(0), false
	for _, m := range ms { // by start
		if m.start > ts-d {
			break
		}
		if wc.visible(wp, m) && m.maxTs == r {
			start, ok = m.start, true
		}
	}
	return start, ok
}
