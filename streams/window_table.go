package streams

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// WindowOption configures NewWindowedTable.
type WindowOption[K, V any] func(*windowOpts[K, V])

type windowOpts[K, V any] struct {
	def      func() V
	merge    func(a, b V) V
	final    func(ctx context.Context, key K, w Window, v V) error
	onUpdate func(ctx context.Context, key K, w Window, v V) error
	relNow   bool
	configs  []TableOption[[]byte]
}

// WindowDefault sets the value a window starts from, and that reads of a
// missing window return (default: V's zero value).
func WindowDefault[K, V any](f func() V) WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.def = f }
}

// Merge combines the values of two sessions that a record bridges
// (Kafka Streams' Merger); session windows need it.
func Merge[K, V any](f func(a, b V) V) WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.merge = f }
}

// RelativeToNow makes WindowSet.Value read the window of the app's clock's
// time rather than the event's (Faust's relative_to_now()).
func RelativeToNow[K, V any]() WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.relNow = true }
}

// WindowChangelogConfig sets a config of the changelog topic when it is
// created (cleanup.policy is always compact).
func WindowChangelogConfig[K, V any](name, value string) WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.configs = append(o.configs, ChangelogConfig[[]byte](name, value)) }
}

// WindowedTable is a table of per-key windows over event time (Faust's
// Table(...).tumbling(...) / .hopping(...), Kafka Streams' windowed
// aggregations). An agent calls Update with the event's partition, key
// and time (Event.Timestamp: the record's timestamp, or the time EventTime
// takes from the value); reads go through Key, Faust's table[key].
//
// Stream time is, per partition, the largest event time given to Update
// (Kafka Streams' observed stream time); it is stored in the changelog with
// the batch, so a restarted or new owner does not reopen closed windows. A
// window accepts a record while stream time (the record's own time
// included) is before the window's end plus the grace period; a record
// that comes later for a window is dropped from it, counted in
// Stats.LateRecords (once per record) and logged at debug level. A window
// closes once stream time reaches its end plus grace (sessions: their end
// plus gap plus grace, as Kafka Streams'); with FinalResults its result is
// emitted then, once. Its state is deleted, from the store and with a
// tombstone in the changelog, once stream time reaches its end plus the
// Expires period (the grace period by default): an expired window is never
// returned again, by reads, iteration or a restore.
//
// Closing and expiry run at the end of each batch, in the batch (and in
// its transaction under ExactlyOnce), for the partitions the batch
// updated.
type WindowedTable[K, V any] struct {
	base  *Table[[]byte, []byte]
	wc    *windowCore
	app   *App
	key   codec.Codec[K]
	value codec.Codec[V]
	o     windowOpts[K, V]
}

// NewWindowedTable declares a windowed table named name, co-partitioned
// with source; its changelog is APPID-NAME-changelog.
func NewWindowedTable[K, V any](app *App, name string, source TopicRef, key codec.Codec[K], value codec.Codec[V], windows Windows, opts ...WindowOption[K, V]) *WindowedTable[K, V] {
	var o windowOpts[K, V]
	for _, f := range opts {
		f(&o)
	}
	base := NewTable(app, name, source, codec.Bytes(), codec.Bytes(), o.configs...)
	// Interactive queries render a window's value with the table's codec.
	base.spec.render = func(b []byte) (any, error) { return value.Decode(b) }
	t := &WindowedTable[K, V]{base: base, app: app, key: key, value: value, o: o}
	wc := &windowCore{tc: base.spec.core, win: windows}
	app.register(func() error {
		if err := windows.validate(); err != nil {
			return fmt.Errorf("%w: table %s: %w", ErrTopology, name, err)
		}
		if windows.kind == Session && o.merge == nil {
			return fmt.Errorf("%w: table %s: session windows need a Merge option", ErrTopology, name)
		}
		return nil
	})
	wc.grace = windows.GracePeriod().Milliseconds()
	wc.closeSpan, wc.retention, wc.keep = windows.closeSpan(), windows.retention(), windows.keep()
	if o.final != nil {
		wc.final = func(ctx context.Context, kb []byte, w Window, vb []byte) error {
			k, err := key.Decode(kb)
			if err != nil {
				return fmt.Errorf("streams: table %s: stored key: %w", name, err)
			}
			v, err := value.Decode(vb)
			if err != nil {
				return fmt.Errorf("streams: table %s: stored value: %w", name, err)
			}
			return o.final(ctx, k, w, v)
		}
	}
	base.spec.core.ext = wc
	t.wc = wc
	return t
}

// Name returns the table's name.
func (t *WindowedTable[K, V]) Name() string { return t.base.Name() }

// Changelog returns the name of the table's changelog topic.
func (t *WindowedTable[K, V]) Changelog() string { return t.base.Changelog() }

// Windows returns the table's window definition.
func (t *WindowedTable[K, V]) Windows() Windows { return t.wc.win }

func (t *WindowedTable[K, V]) zero() V {
	if t.o.def != nil {
		return t.o.def()
	}
	var v V
	return v
}

// Update applies f to key's value in every window of partition p that
// contains at and is still open (a missing window starts from the
// default), and advances p's stream time to at. A record too late for some
// of its windows is dropped from them (see WindowedTable); Update still
// returns nil. ctx must be the context the agent function got.
func (t *WindowedTable[K, V]) Update(ctx context.Context, p int32, key K, at time.Time, f func(V) V) error {
	kb, err := t.key.Encode(key)
	if err != nil {
		return fmt.Errorf("streams: table %s: key: %w", t.Name(), err)
	}
	fb := func(old []byte, has bool) ([]byte, error) {
		v := t.zero()
		if has {
			if v, err = t.value.Decode(old); err != nil {
				return nil, fmt.Errorf("streams: table %s partition %d: stored value: %w", t.Name(), p, err)
			}
		}
		nb, err := t.value.Encode(f(v))
		if err != nil {
			return nil, fmt.Errorf("streams: table %s: value: %w", t.Name(), err)
		}
		return nb, nil
	}
	var merge func(a, b []byte) ([]byte, error)
	if t.o.merge != nil {
		merge = func(a, b []byte) ([]byte, error) {
			va, err := t.value.Decode(a)
			if err != nil {
				return nil, err
			}
			vb, err := t.value.Decode(b)
			if err != nil {
				return nil, err
			}
			return t.value.Encode(t.o.merge(va, vb))
		}
	}
	var onUpdate func(m wmeta, vb []byte) error
	if t.o.onUpdate != nil {
		onUpdate = func(m wmeta, vb []byte) error {
			v, err := t.value.Decode(vb)
			if err != nil {
				return err
			}
			return t.o.onUpdate(ctx, key, msWindow(m.start, m.end), v)
		}
	}
	ts := at.UnixMilli()
	late, err := t.wc.update(ctx, p, kb, ts, fb, merge, onUpdate)
	if err != nil {
		return err
	}
	if late {
		t.app.stats.late.Add(1)
		t.app.metrics.addLate(t.Name())
		t.app.cfg.logger.Debug("streams: late record dropped from closed windows", "app", t.app.id, "table", t.Name(),
			"partition", p, "timestamp", ts, "stream_time", t.StreamTime(p).UnixMilli())
	}
	return nil
}

// StreamTime returns partition p's stream time (the zero Time before any
// record).
func (t *WindowedTable[K, V]) StreamTime(p int32) time.Time {
	t.wc.mu.Lock()
	defer t.wc.mu.Unlock()
	wp, err := t.wc.load(p)
	if err != nil {
		t.wc.tc.setErr(err)
		return time.Time{}
	}
	if wp.st == minStreamTime {
		return time.Time{}
	}
	return time.UnixMilli(wp.st).UTC()
}

// Get returns key's value in partition p's window starting at start.
func (t *WindowedTable[K, V]) Get(p int32, key K, start time.Time) (V, bool) {
	for w, v := range t.Key(p, key, start).Windows() {
		if w.Start.Equal(start) {
			return v, true
		}
	}
	return t.zero(), false
}

// Key is Faust's table[key]: key's windows in partition p, read relative to
// the event time at (pass the event's time, as Faust does implicitly).
func (t *WindowedTable[K, V]) Key(p int32, key K, at time.Time) WindowSet[K, V] {
	return WindowSet[K, V]{t: t, p: p, key: key, at: at}
}

// WindowSet is one key's windows (Faust's WindowSet).
type WindowSet[K, V any] struct {
	t   *WindowedTable[K, V]
	p   int32
	key K
	at  time.Time
}

// Current returns the value of the window that contains the event time
// (for hopping windows, the most recent one; Faust's current()). For
// sliding windows of time difference d, the window at a time t is the one
// that holds exactly the records of [t-d, t] (the aggregate of the d up to
// t), the default when no record is there; Now and Delta alike.
func (s WindowSet[K, V]) Current() V { return s.valueAt(s.at) }

// Now returns the value of the window that contains the app clock's time
// (Faust's now()).
func (s WindowSet[K, V]) Now() V { return s.valueAt(s.t.app.cfg.now()) }

// Delta returns the value of the window that contained the event time
// less d (Faust's delta(d)).
func (s WindowSet[K, V]) Delta(d time.Duration) V { return s.valueAt(s.at.Add(-d)) }

// Value returns Current, or Now with RelativeToNow (Faust's value()).
func (s WindowSet[K, V]) Value() V {
	if s.t.o.relNow {
		return s.Now()
	}
	return s.Current()
}

func (s WindowSet[K, V]) valueAt(at time.Time) V {
	ts := at.UnixMilli()
	if s.t.wc.win.kind == Sliding {
		kb, err := s.t.key.Encode(s.key)
		if err != nil {
			s.t.wc.tc.setErr(fmt.Errorf("streams: table %s: key: %w", s.t.Name(), err))
			return s.t.zero()
		}
		start, ok := s.t.wc.slidingAt(s.p, kb, ts)
		if !ok {
			return s.t.zero()
		}
		v, _ := s.t.Get(s.p, s.key, time.UnixMilli(start))
		return v
	}
	var best *Window
	var bv V
	for w, v := range s.Windows() {
		if w.Start.UnixMilli() <= ts && ts < w.End.UnixMilli() && (best == nil || w.Start.After(best.Start)) {
			best, bv = &w, v
		}
	}
	if best == nil {
		return s.t.zero()
	}
	return bv
}

// Windows ranges over the key's windows that have not expired, oldest
// first, with their values.
func (s WindowSet[K, V]) Windows() iter.Seq2[Window, V] {
	return func(yield func(Window, V) bool) {
		t := s.t
		kb, err := t.key.Encode(s.key)
		if err != nil {
			t.wc.tc.setErr(fmt.Errorf("streams: table %s: key: %w", t.Name(), err))
			return
		}
		type wv struct {
			w  Window
			vb []byte
		}
		var out []wv
		t.wc.mu.Lock()
		wp, err := t.wc.load(s.p)
		if err != nil {
			t.wc.mu.Unlock()
			t.wc.tc.setErr(err)
			return
		}
		for _, m := range wp.byKey[string(kb)] {
			if !t.wc.visible(wp, m) {
				continue
			}
			if vb, ok := t.wc.value(s.p, kb, m.start); ok {
				out = append(out, wv{msWindow(m.start, m.end), vb})
			}
		}
		t.wc.mu.Unlock()
		for _, e := range out {
			v, err := t.value.Decode(e.vb)
			if err != nil {
				t.wc.tc.setErr(fmt.Errorf("streams: table %s partition %d: stored value: %w", t.Name(), s.p, err))
				return
			}
			if !yield(e.w, v) {
				return
			}
		}
	}
}

// Keys ranges over the keys of partition p that have windows not expired.
func (t *WindowedTable[K, V]) Keys(p int32) iter.Seq[K] {
	return func(yield func(K) bool) {
		t.wc.mu.Lock()
		wp, err := t.wc.load(p)
		if err != nil {
			t.wc.mu.Unlock()
			t.wc.tc.setErr(err)
			return
		}
		var kbs []string
		for k, ms := range wp.byKey {
			for _, m := range ms {
				if t.wc.visible(wp, m) {
					kbs = append(kbs, k)
					break
				}
			}
		}
		t.wc.mu.Unlock()
		slicesSortStrings(kbs)
		for _, kb := range kbs {
			k, err := t.key.Decode([]byte(kb))
			if err != nil {
				t.wc.tc.setErr(fmt.Errorf("streams: table %s: stored key: %w", t.Name(), err))
				return
			}
			if !yield(k) {
				return
			}
		}
	}
}
