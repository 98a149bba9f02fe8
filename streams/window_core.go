package streams

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
)

// windowCore is a windowed table's windows on this worker, in bytes, over
// the table's tableCore (its store, batch overlay and changelog). Layout
// of the table's keys (changelog and store alike):
//
//	0x00 "st"                          stream time of the partition (8 bytes, Unix ms)
//	0x01 len(key) key start            a window of key (4-byte length, 8-byte start)
//
// and of a window's value: its end (8 bytes, Unix ms), a flags byte (1:
// its final result was emitted; 2: the time of its latest record follows,
// 8 bytes, Unix ms: sliding windows) and the value encoded by the table's
// codec.
//
// Per partition it keeps in memory the stream time and an index of every
// window (by key, and by the time it is next due to close or expire),
// built by one scan of the partition when first used and again after
// anything that may have made it stale (tableCore.gen).
type windowCore struct {
	tc        *tableCore
	win       Windows
	grace     int64 // ms
	closeSpan int64 // end + closeSpan: the window closes
	retention int64 // end + retention: the window is no longer read
	keep      int64 // end + keep: the window is deleted (>= retention)
	// final emits a window's final result (nil: no final results).
	final func(ctx context.Context, kb []byte, w Window, vb []byte) error

	mu    sync.Mutex
	gen   int64
	parts map[int32]*wpart
}

type wpart struct {
	st    int64 // stream time: the largest record time seen; math.MinInt64 before any
	dirty bool  // st changed in this batch
	byKey map[string][]wmeta
	due   dueHeap
}

type wmeta struct {
	start, end int64
	emitted    bool
	maxTs      int64 // sliding windows: the time of the window's latest record
}

var streamTimeKey = []byte{0x00, 's', 't'}

const windowKeyPrefix = 0x01

const minStreamTime = math.MinInt64

func windowKey(kb []byte, start int64) []byte {
	out := make([]byte, 1+4+len(kb)+8)
	out[0] = windowKeyPrefix
	binary.BigEndian.PutUint32(out[1:], uint32(len(kb)))
	copy(out[5:], kb)
	// The sign bit flipped: negative starts sort before positive ones.
	binary.BigEndian.PutUint64(out[5+len(kb):], uint64(start)^(1<<63))
	return out
}

func parseWindowKey(b []byte) (kb []byte, start int64, ok bool) {
	if len(b) < 1+4+8 || b[0] != windowKeyPrefix {
		return nil, 0, false
	}
	n := int(binary.BigEndian.Uint32(b[1:]))
	if len(b) != 1+4+n+8 {
		return nil, 0, false
	}
	return b[5 : 5+n], int64(binary.BigEndian.Uint64(b[5+n:]) ^ (1 << 63)), true
}

const (
	flagEmitted = 1
	flagMaxTs   = 2
)

// windowValue encodes m's value vb, with m's latest record time when
// withTs (sliding windows).
func windowValue(m wmeta, withTs bool, vb []byte) []byte {
	n := 9
	if withTs {
		n += 8
	}
	out := make([]byte, n+len(vb))
	binary.BigEndian.PutUint64(out, uint64(m.end))
	if m.emitted {
		out[8] |= flagEmitted
	}
	if withTs {
		out[8] |= flagMaxTs
		binary.BigEndian.PutUint64(out[9:], uint64(m.maxTs))
	}
	copy(out[n:], vb)
	return out
}

// parseWindowValue decodes a window's value: m without its start, and
// the value's bytes.
func parseWindowValue(b []byte) (m wmeta, vb []byte, ok bool) {
	if len(b) < 9 {
		return wmeta{}, nil, false
	}
	m.end, m.emitted = int64(binary.BigEndian.Uint64(b)), b[8]&flagEmitted != 0
	if b[8]&flagMaxTs == 0 {
		return m, b[9:], true
	}
	if len(b) < 17 {
		return wmeta{}, nil, false
	}
	m.maxTs = int64(binary.BigEndian.Uint64(b[9:]))
	return m, b[17:], true
}

// dueAt is when m next needs the sweep: its close when its final result
// is still to be emitted, else its expiry.
func (wc *windowCore) dueAt(m wmeta) int64 {
	if wc.final != nil && !m.emitted {
		return m.end + wc.closeSpan
	}
	return m.end + wc.keep
}

// load returns partition p's state, scanning it when not cached. Called
// with wc.mu held.
func (wc *windowCore) load(p int32) (*wpart, error) {
	tc := wc.tc
	if g := tc.gen.Load(); g != wc.gen || wc.parts == nil {
		wc.gen, wc.parts = g, map[int32]*wpart{}
	}
	if wp := wc.parts[p]; wp != nil {
		return wp, nil
	}
	tc.mu.Lock()
	_, err := tc.part(p)
	tc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	wp := &wpart{st: minStreamTime, byKey: map[string][]wmeta{}}
	for k, v := range tc.items(p) {
		if bytes.Equal(k, streamTimeKey) {
			if len(v) != 8 {
				return nil, fmt.Errorf("%w: table %s partition %d: stream time of %d bytes", ErrStoreCorrupt, tc.name, p, len(v))
			}
			wp.st = int64(binary.BigEndian.Uint64(v))
			continue
		}
		kb, start, ok := parseWindowKey(k)
		m, _, vok := parseWindowValue(v)
		if !ok || !vok {
			return nil, fmt.Errorf("%w: table %s partition %d: malformed window entry", ErrStoreCorrupt, tc.name, p)
		}
		m.start = start
		ks := string(kb)
		if ms, ok := wp.byKey[ks]; ok {
			wp.byKey[ks] = append(ms, m) // items are in key order: sorted by start
			wp.due = append(wp.due, due{at: wc.dueAt(m), k: ks, start: start})
			continue
		}
		wp.byKey[ks] = []wmeta{m}
		wp.due = append(wp.due, due{at: wc.dueAt(m), k: ks, start: start})
	}
	if err := tc.stickyErr(); err != nil {
		return nil, err
	}
	heap.Init(&wp.due)
	wc.parts[p] = wp
	return wp, nil
}

// find returns the index of the window of key starting at start.
func (wp *wpart) find(k string, start int64) (int, bool) {
	return slices.BinarySearchFunc(wp.byKey[k], start, func(m wmeta, s int64) int {
		switch {
		case m.start < s:
			return -1
		case m.start > s:
			return 1
		}
		return 0
	})
}

// put writes a window's value and indexes it.
func (wc *windowCore) put(ctx context.Context, p int32, wp *wpart, kb []byte, m wmeta, vb []byte) error {
	if err := wc.tc.set(ctx, p, windowKey(kb, m.start), windowValue(m, wc.win.kind == Sliding, vb), false); err != nil {
		return err
	}
	k := string(kb)
	i, found := wp.find(k, m.start)
	if found {
		old := wp.byKey[k][i]
		wp.byKey[k][i] = m
		if wc.dueAt(old) == wc.dueAt(m) {
			return nil
		}
	} else {
		wp.byKey[k] = slices.Insert(wp.byKey[k], i, m)
	}
	heap.Push(&wp.due, due{at: wc.dueAt(m), k: k, start: m.start})
	return nil
}

// del deletes a window (a tombstone in the changelog).
func (wc *windowCore) del(ctx context.Context, p int32, wp *wpart, k string, start int64) error {
	if err := wc.tc.set(ctx, p, windowKey([]byte(k), start), nil, true); err != nil {
		return err
	}
	if i, ok := wp.find(k, start); ok {
		wp.byKey[k] = slices.Delete(wp.byKey[k], i, i+1)
		if len(wp.byKey[k]) == 0 {
			delete(wp.byKey, k)
		}
	}
	return nil
}

// value reads a window's value bytes.
func (wc *windowCore) value(p int32, kb []byte, start int64) ([]byte, bool) {
	v, ok := wc.tc.get(p, windowKey(kb, start))
	if !ok {
		return nil, false
	}
	_, vb, ok := parseWindowValue(v)
	if !ok {
		wc.tc.setErr(fmt.Errorf("%w: table %s partition %d: malformed window value", ErrStoreCorrupt, wc.tc.name, p))
	}
	return vb, ok
}

// visible reports whether a window is still kept (not expired).
func (wc *windowCore) visible(wp *wpart, m wmeta) bool {
	return wp.st < m.end+wc.retention
}

// updateFunc computes a window's new value from its value (has: it
// exists).
type updateFunc func(old []byte, has bool) ([]byte, error)

// update advances p's stream time to ts (ms) and applies f to every
// window of ts still open; merge combines session values. onUpdate, when
// set, sees every window written. It reports whether the record was
// dropped from any of its windows as late.
func (wc *windowCore) update(ctx context.Context, p int32, kb []byte, ts int64, f updateFunc,
	merge func(a, b []byte) ([]byte, error), onUpdate func(m wmeta, vb []byte) error) (late bool, err error) {
	if ac, ok := ctx.Value(agentCtxKey{}).(*agentCtx); !ok || !ac.batched || ac.w.cur.Load() == nil {
		// Checked before stream time moves: a refused update changes nothing.
		return false, fmt.Errorf("streams: table %s: updates must come from an agent reading a topic, in a batch (pass the agent's ctx)", wc.tc.name)
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wp, err := wc.load(p)
	if err != nil {
		return false, err
	}
	if ts > wp.st {
		wp.st, wp.dirty = ts, true
	}
	switch wc.win.kind {
	case Session:
		return wc.updateSession(ctx, p, wp, kb, ts, f, merge, onUpdate)
	case Sliding:
		return wc.updateSliding(ctx, p, wp, kb, ts, f, onUpdate)
	}
	size := wc.win.size.Milliseconds()
	for _, s := range wc.win.timeWindowsFor(ts) {
		m := wmeta{start: s, end: s + size}
		if wp.st >= m.end+wc.grace {
			late = true
			continue
		}
		old, has := wc.value(p, kb, s)
		nv, err := f(old, has)
		if err != nil {
			return late, err
		}
		if err := wc.put(ctx, p, wp, kb, m, nv); err != nil {
			return late, err
		}
		if onUpdate != nil {
			if err := onUpdate(m, nv); err != nil {
				return late, err
			}
		}
	}
	return late, nil
}

func (wc *windowCore) updateSession(ctx context.Context, p int32, wp *wpart, kb []byte, ts int64, f updateFunc,
	merge func(a, b []byte) ([]byte, error), onUpdate func(m wmeta, vb []byte) error) (bool, error) {
	gap := wc.win.gap.Milliseconds()
	k := string(kb)
	// The open sessions within gap of ts (closed ones, emitted or about to
	// be, never take new records).
	var over []wmeta
	ms, me := ts, ts // merged session, end inclusive
	for _, m := range wp.byKey[k] {
		if m.start <= ts+gap && m.end-1 >= ts-gap && wp.st < m.end+wc.closeSpan {
			over = append(over, m)
			ms, me = min(ms, m.start), max(me, m.end-1)
		}
	}
	if wp.st >= me+1+wc.grace {
		return true, nil
	}
	var cur []byte
	has := false
	for _, m := range over {
		vb, ok := wc.value(p, kb, m.start)
		if !ok {
			continue
		}
		if !has {
			cur, has = vb, true
			continue
		}
		if merge == nil {
			return false, fmt.Errorf("streams: table %s: a record bridges two sessions and the table has no Merge option", wc.tc.name)
		}
		var err error
		if cur, err = merge(cur, vb); err != nil {
			return false, err
		}
	}
	nv, err := f(cur, has)
	if err != nil {
		return false, err
	}
	for _, m := range over {
		if m.start != ms {
			if err := wc.del(ctx, p, wp, k, m.start); err != nil {
				return false, err
			}
		}
	}
	m := wmeta{start: ms, end: me + 1}
	if err := wc.put(ctx, p, wp, kb, m, nv); err != nil {
		return false, err
	}
	if onUpdate != nil {
		return false, onUpdate(m, nv)
	}
	return false, nil
}

// beforeCommit closes and expires what the batch's stream time passed,
// emitting final results, and persists the stream times that moved: all
// within the batch, so a window's final result, its deletion and the
// offsets of the records that closed it commit together.
func (wc *windowCore) beforeCommit(ctx context.Context) error {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if g := wc.tc.gen.Load(); g != wc.gen {
		wc.gen, wc.parts = g, map[int32]*wpart{}
		return nil
	}
	ps := make([]int32, 0, len(wc.parts))
	for p := range wc.parts {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		if err := wc.sweep(ctx, p, wc.parts[p]); err != nil {
			return err
		}
	}
	return nil
}

func (wc *windowCore) sweep(ctx context.Context, p int32, wp *wpart) error {
	for len(wp.due) > 0 && wp.due[0].at <= wp.st {
		d := heap.Pop(&wp.due).(due)
		i, ok := wp.find(d.k, d.start)
		if !ok {
			continue // deleted (merged session)
		}
		m := wp.byKey[d.k][i]
		if wc.dueAt(m) != d.at {
			continue // stale: the window moved on (a session grew)
		}
		kb := []byte(d.k)
		if wc.final != nil && !m.emitted {
			vb, ok := wc.value(p, kb, m.start)
			if !ok {
				return wc.tc.stickyErr()
			}
			if err := wc.final(ctx, kb, msWindow(m.start, m.end), vb); err != nil {
				return err
			}
			m.emitted = true
			if m.end+wc.keep > wp.st {
				if err := wc.put(ctx, p, wp, kb, m, vb); err != nil {
					return err
				}
				continue
			}
		}
		if err := wc.del(ctx, p, wp, d.k, m.start); err != nil {
			return err
		}
	}
	if wp.dirty {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(wp.st))
		if err := wc.tc.set(ctx, p, streamTimeKey, b[:], false); err != nil {
			return err
		}
		wp.dirty = false
	}
	return nil
}

// due is a window due to close or expire at a time (Unix ms).
type due struct {
	at    int64
	k     string
	start int64
}

// dueHeap orders by time, then key and start, so a sweep emits in a
// deterministic order.
type dueHeap []due

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].k != h[j].k {
		return h[i].k < h[j].k
	}
	return h[i].start < h[j].start
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
