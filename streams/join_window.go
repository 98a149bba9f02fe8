package streams

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
)

// JoinWindow bounds a stream-stream join (Kafka Streams' JoinWindows): a
// left record at time t joins the right records of the same key with
// timestamps in [t-Before, t+After] (so a right record at t joins left
// records in [t-After, t+Before]).
//
// Grace is how long after a record's timestamp stream time (the largest
// timestamp the partition has seen on either side) may move on before the
// record is too late: a record with timestamp < stream time - Grace is
// dropped (counted in JoinStats.Late, logged at debug). A record without a
// partner is emitted by a left or outer join once no accepted record can
// join it any more: when stream time passes t+After+Grace for a left
// record (t+Before+Grace for a right one), Kafka Streams' window-close
// time; it then leaves the window store.
type JoinWindow struct {
	Before, After, Grace time.Duration
}

// JoinWindows returns a window of diff either way and no grace (Kafka
// Streams' JoinWindows.ofTimeDifferenceWithNoGrace).
func JoinWindows(diff time.Duration) JoinWindow { return JoinWindow{Before: diff, After: diff} }

// WithGrace returns w with grace g (JoinWindows.ofTimeDifferenceAndGrace).
func (w JoinWindow) WithGrace(g time.Duration) JoinWindow { w.Grace = g; return w }

// JoinStats counts a stream-stream join's dropped records.
type JoinStats struct {
	// Late is the number of records dropped for arriving later than the
	// window's grace.
	Late int64
}

// StreamJoin is a declared stream-stream join.
type StreamJoin struct {
	late atomic.Int64
}

// Stats returns the join's counters.
func (j *StreamJoin) Stats() JoinStats { return JoinStats{Late: j.late.Load()} }

// JoinStreams joins the records of two streams whose keys are equal and
// whose timestamps are within win (Kafka Streams' KStream-KStream join),
// sending joiner's results to out with the key and the larger of the two
// timestamps. InnerJoin emits only pairs; LeftJoin also emits each left
// record that found no partner before its window closed (joiner with bok
// false, at the record's timestamp); OuterJoin does the same for right
// records too. Records with a null key or value are skipped. Each side's
// buffered records live in a window store (an internal table, NAME-left
// and NAME-right, with its changelog), so they survive restarts and
// rebalances. The two topics must be co-partitioned.
func JoinStreams[K, A, B, R any](app *App, name string, left *Topic[K, A], right *Topic[K, B], win JoinWindow, kind JoinKind, joiner func(key K, a A, aok bool, b B, bok bool) R, out *Topic[K, R]) *StreamJoin {
	j := &StreamJoin{}
	ls := NewTable(app, name+"-left", left, codec.Bytes(), codec.Bytes())
	rs := NewTable(app, name+"-right", right, codec.Bytes(), codec.Bytes())
	sj := &streamJoin[K, A, B, R]{app: app, name: name, win: win, kind: kind, joiner: joiner, out: out, left: left, right: right,
		stores: [2]*tableCore{ls.spec.core, rs.spec.core}, parts: map[int32]*winPart{}, stats: j}
	app.register(func() error {
		if kind != InnerJoin && kind != LeftJoin && kind != OuterJoin {
			return fmt.Errorf("%w: join %s: unknown join kind %s", ErrTopology, name, kind)
		}
		if win.Before < 0 || win.After < 0 || win.Grace < 0 {
			return fmt.Errorf("%w: join %s: negative window bound", ErrTopology, name)
		}
		if left.spec == right.spec {
			return fmt.Errorf("%w: join %s: a self-join needs two topics", ErrTopology, name)
		}
		if err := app.declareJoin(name, left.spec, right.spec); err != nil {
			return err
		}
		app.joins.addHandler(left.spec, false, func(ctx context.Context, r *kgo.Record) error { return sj.process(ctx, 0, r) })
		app.joins.addHandler(right.spec, false, func(ctx context.Context, r *kgo.Record) error { return sj.process(ctx, 1, r) })
		return nil
	})
	return j
}

type streamJoin[K, A, B, R any] struct {
	app    *App
	name   string
	win    JoinWindow
	kind   JoinKind
	joiner func(key K, a A, aok bool, b B, bok bool) R
	out    *Topic[K, R]
	left   *Topic[K, A]
	right  *Topic[K, B]
	stores [2]*tableCore
	stats  *StreamJoin

	// parts is each partition's window index, touched only by the join
	// processor's goroutine of that partition (partition p always runs on
	// instance p mod joinInstances), so guarded per partition; the map
	// itself by mapMu.
	mapMu sync.Mutex
	parts map[int32]*winPart
}

// winEntry is one buffered record.
type winEntry struct {
	side    int
	key     string
	ts      int64 // ms
	off     int64
	val     []byte
	matched bool
	gone    bool
	close   int64 // ms: the window-close time
}

// winPart is one partition's window stores, indexed in memory: entries by
// side and key, and by window-close time. It is rebuilt from the stores
// when they change under it (a restore, a discarded batch).
type winPart struct {
	owner   [2]*tablePart
	gens    [2]int64 // the tables' tc.gen when the index was built
	byKey   [2]map[string][]*winEntry
	closing closeHeap
	st      int64 // stream time, ms
	hasST   bool
}

type closeHeap []*winEntry

func (h closeHeap) Len() int { return len(h) }
func (h closeHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.close != b.close {
		return a.close < b.close
	}
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if a.side != b.side {
		return a.side < b.side
	}
	return a.off < b.off
}
func (h closeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *closeHeap) Push(x any)   { *h = append(*h, x.(*winEntry)) }
func (h *closeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// storeKey is a buffered record's key in its window store: the record
// key's length and bytes, its timestamp and its offset.
func storeKey(key []byte, ts, off int64) []byte {
	b := make([]byte, 0, 4+len(key)+16)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return binary.BigEndian.AppendUint64(b, uint64(off))
}

func parseStoreKey(b []byte) (key []byte, ts, off int64, ok bool) {
	if len(b) < 4 {
		return nil, 0, 0, false
	}
	n := int(binary.BigEndian.Uint32(b))
	if len(b) != 4+n+16 {
		return nil, 0, 0, false
	}
	return b[4 : 4+n], int64(binary.BigEndian.Uint64(b[4+n:])), int64(binary.BigEndian.Uint64(b[12+n:])), true
}

func (sj *streamJoin[K, A, B, R]) closeTime(side int, ts int64) int64 {
	reach := sj.win.After
	if side == 1 {
		reach = sj.win.Before
	}
	return ts + reach.Milliseconds() + sj.win.Grace.Milliseconds()
}

// index returns partition p's window index, rebuilt when stale.
func (sj *streamJoin[K, A, B, R]) index(p int32) (*winPart, error) {
	sj.mapMu.Lock()
	wp := sj.parts[p]
	if wp == nil {
		wp = &winPart{}
		sj.parts[p] = wp
	}
	sj.mapMu.Unlock()
	stale := false
	var owner [2]*tablePart
	var gens [2]int64
	for i, tc := range sj.stores {
		tc.mu.Lock()
		tp, err := tc.part(p)
		owner[i], gens[i] = tp, tc.gen.Load()
		tc.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if tp != wp.owner[i] || gens[i] != wp.gens[i] {
			stale = true
		}
	}
	if !stale {
		return wp, nil
	}
	*wp = winPart{owner: owner, gens: gens}
	for side, tc := range sj.stores {
		wp.byKey[side] = map[string][]*winEntry{}
		for k, v := range tc.items(p) {
			key, ts, off, ok := parseStoreKey(k)
			if !ok || len(v) < 1 {
				return nil, fmt.Errorf("streams: join %s: malformed window store entry", sj.name)
			}
			e := &winEntry{side: side, key: string(key), ts: ts, off: off, val: v[1:], matched: v[0] == 1, close: sj.closeTime(side, ts)}
			wp.byKey[side][e.key] = append(wp.byKey[side][e.key], e)
			heap.Push(&wp.closing, e)
			if !wp.hasST || ts > wp.st {
				wp.st, wp.hasST = ts, true
			}
		}
		if err := tc.stickyErr(); err != nil {
			return nil, err
		}
	}
	return wp, nil
}

func (sj *streamJoin[K, A, B, R]) put(ctx context.Context, p int32, e *winEntry) error {
	v := make([]byte, 1+len(e.val))
	if e.matched {
		v[0] = 1
	}
	copy(v[1:], e.val)
	return sj.stores[e.side].set(ctx, p, storeKey([]byte(e.key), e.ts, e.off), v, false)
}

func (sj *streamJoin[K, A, B, R]) process(ctx context.Context, side int, r *kgo.Record) error {
	if r.Key == nil || r.Value == nil {
		return nil
	}
	var derr error
	if side == 0 {
		_, derr = sj.left.decode(r)
	} else {
		_, derr = sj.right.decode(r)
	}
	if derr != nil {
		return decodeFailed(ctx, sj.name, r, derr)
	}
	p := r.Partition
	wp, err := sj.index(p)
	if err != nil {
		return err
	}
	ts := r.Timestamp.UnixMilli()
	if wp.hasST && ts < wp.st-sj.win.Grace.Milliseconds() {
		sj.stats.late.Add(1)
		sj.app.metrics.addLate(sj.name)
		if l := sj.app.cfg.logger; l.Enabled(ctx, -4) {
			l.Debug("streams: join dropped a late record", "join", sj.name, "topic", r.Topic, "partition", p, "offset", r.Offset, "timestamp", ts, "stream_time", wp.st)
		}
		return nil
	}
	if !wp.hasST || ts > wp.st {
		wp.st, wp.hasST = ts, true
	}
	// Windows closed by the new stream time: unmatched records of the
	// outer sides are emitted, and every closed record leaves its store.
	for wp.closing.Len() > 0 && wp.closing[0].close < wp.st {
		e := heap.Pop(&wp.closing).(*winEntry)
		if e.gone {
			continue
		}
		e.gone = true
		es := wp.byKey[e.side][e.key]
		if i := slices.Index(es, e); i >= 0 {
			es = slices.Delete(es, i, i+1)
		}
		if len(es) == 0 {
			delete(wp.byKey[e.side], e.key)
		} else {
			wp.byKey[e.side][e.key] = es
		}
		if err := sj.stores[e.side].set(ctx, p, storeKey([]byte(e.key), e.ts, e.off), nil, true); err != nil {
			return err
		}
		if !e.matched && (sj.kind == OuterJoin || sj.kind == LeftJoin && e.side == 0) {
			if err := sj.emit(ctx, e.side, []byte(e.key), e.val, nil, e.ts); err != nil {
				return err
			}
		}
	}
	// Join with the other side's records in the window.
	from, to := ts-sj.win.Before.Milliseconds(), ts+sj.win.After.Milliseconds()
	if side == 1 {
		from, to = ts-sj.win.After.Milliseconds(), ts+sj.win.Before.Milliseconds()
	}
	me := &winEntry{side: side, key: string(r.Key), ts: ts, off: r.Offset, val: r.Value, close: sj.closeTime(side, ts)}
	others := slices.Clone(wp.byKey[1-side][me.key])
	slices.SortStableFunc(others, func(a, b *winEntry) int {
		if a.ts != b.ts {
			return int(a.ts - b.ts)
		}
		return int(a.off - b.off)
	})
	for _, o := range others {
		if o.ts < from || o.ts > to {
			continue
		}
		me.matched = true
		if err := sj.emit(ctx, side, r.Key, r.Value, o.val, max(ts, o.ts)); err != nil {
			return err
		}
		if !o.matched {
			o.matched = true
			if sj.kind != InnerJoin {
				if err := sj.put(ctx, p, o); err != nil {
					return err
				}
			}
		}
	}
	wp.byKey[side][me.key] = append(wp.byKey[side][me.key], me)
	heap.Push(&wp.closing, me)
	return sj.put(ctx, p, me)
}

// emit sends joiner's result for a record of side (and, when other is not
// nil, its partner of the other side).
func (sj *streamJoin[K, A, B, R]) emit(ctx context.Context, side int, kb, val, other []byte, ts int64) error {
	key, err := sj.left.key.Decode(kb)
	if err != nil {
		return fmt.Errorf("streams: join %s: key: %w", sj.name, err)
	}
	lv, rv := val, other
	if side == 1 {
		lv, rv = other, val
	}
	var a A
	var b B
	if lv != nil {
		if a, err = sj.left.value.Decode(lv); err != nil {
			return fmt.Errorf("streams: join %s: left value: %w", sj.name, err)
		}
	}
	if rv != nil {
		if b, err = sj.right.value.Decode(rv); err != nil {
			return fmt.Errorf("streams: join %s: right value: %w", sj.name, err)
		}
	}
	return emit(ctx, sj.out, key, sj.joiner(key, a, lv != nil, b, rv != nil), false, time.UnixMilli(ts))
}
