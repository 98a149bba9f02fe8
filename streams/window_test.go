package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// winRec is a test record: its key and its event time (ms), taken from the
// value by EventTime.
type winRec struct {
	Key string
	TS  int64
}

// finalRec is a final result as the test app emits it.
type finalRec struct {
	Start, End, Count int64
}

type winApp struct {
	app   *App
	in    *Topic[string, winRec]
	out   *Topic[string, finalRec]
	table *WindowedTable[string, int64]
	d     *Driver
}

func newWinApp(t *testing.T, g Guarantee, w Windows, parts int32, opts ...Option) *winApp {
	t.Helper()
	return newWinAppWith(t, w, parts, append([]Option{InMemoryState(), ProcessingGuarantee(g)}, opts...)...)
}

// newWinAppWith is newWinApp's app with only the options given (besides
// the poll size and a silent logger): newPebbleWinApp's tables are in
// Pebble.
func newWinAppWith(t *testing.T, w Windows, parts int32, opts ...Option) *winApp {
	t.Helper()
	opts = append([]Option{MaxPollRecords(7), Logger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	app, err := NewApp("win", opts...)
	if err != nil {
		t.Fatal(err)
	}
	in := EventTime(NewTopic(app, "events", codec.String(), codec.JSON[winRec](), Partitions(parts)),
		func(_ string, v winRec, _ time.Time) time.Time { return time.UnixMilli(v.TS) })
	out := NewTopic(app, "finals", codec.String(), codec.JSON[finalRec](), Partitions(1))
	table := NewWindowedTable(app, "counts", in, codec.String(), codec.JSON[int64](), w,
		Merge[string](func(a, b int64) int64 { return a + b }),
		FinalResults(func(ctx context.Context, key string, win Window, n int64) error {
			return out.Send(ctx, key, finalRec{win.Start.UnixMilli(), win.End.UnixMilli(), n})
		}))
	NewAgent(app, "count", in, func(ctx context.Context, s *Stream[string, winRec]) error {
		for ev := range s.Events() {
			if err := table.Update(ctx, ev.Partition, ev.Key, ev.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
				return err
			}
		}
		return nil
	})
	d, err := NewDriver(app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return &winApp{app: app, in: in, out: out, table: table, d: d}
}

func (a *winApp) send(t *testing.T, recs ...winRec) {
	t.Helper()
	for _, r := range recs {
		if err := a.in.Send(context.Background(), r.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.d.Process(); err != nil {
		t.Fatal(err)
	}
}

type winKey struct {
	key        string
	start, end int64
}

func (a *winApp) finals(t *testing.T) map[winKey][]int64 {
	t.Helper()
	evs, err := Output(a.d, a.out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[winKey][]int64{}
	for _, ev := range evs {
		k := winKey{ev.Key, ev.Value.Start, ev.Value.End}
		got[k] = append(got[k], ev.Value.Count)
	}
	return got
}

// open returns every window of the table with its value.
func (a *winApp) open(t *testing.T) map[winKey]int64 {
	t.Helper()
	got := map[winKey]int64{}
	for _, p := range a.table.wc.tc.ownedParts() {
		for k := range a.table.Keys(p) {
			for w, v := range a.table.Key(p, k, time.Time{}).Windows() {
				got[winKey{k, w.Start.UnixMilli(), w.End.UnixMilli()}] = v
			}
		}
	}
	if err := a.table.wc.tc.stickyErr(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestWindowBoundaries: tumbling windows of 10 ms. A record exactly at a
// window's end belongs to the next window and, with no grace, closes the
// previous one; a record for a closed window is late (dropped, counted);
// within grace an out-of-order record still counts.
func TestWindowBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w      Windows
		recs   []winRec
		finals map[winKey][]int64
		open   map[winKey]int64
		late   int64
	}{{
		name: "end is exclusive, no grace",
		w:    TumblingWindows(10 * time.Millisecond).Grace(0),
		recs: []winRec{{"a", 0}, {"a", 9}, {"a", 10}, {"a", 9}, {"a", 19}},
		// a@10 closes [0,10) with 2; a@9 after it is late.
		finals: map[winKey][]int64{{"a", 0, 10}: {2}},
		open:   map[winKey]int64{{"a", 10, 20}: 2},
		late:   1,
	}, {
		name: "grace admits out-of-order records until end plus grace",
		w:    TumblingWindows(10 * time.Millisecond).Grace(5 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 14}, {"a", 9}, {"a", 15}, {"a", 3}},
		// a@9 at stream time 14 < 15 counts; a@15 closes [0,10); a@3 is late.
		finals: map[winKey][]int64{{"a", 0, 10}: {2}},
		open:   map[winKey]int64{{"a", 10, 20}: 2},
		late:   1,
	}, {
		name: "hopping windows overlap",
		w:    HoppingWindows(10*time.Millisecond, 5*time.Millisecond).Grace(0),
		recs: []winRec{{"a", 7}, {"a", 12}, {"b", 14}},
		// a@7 is in [0,10) and [5,15); a@12 in [5,15) and [10,20); stream time 12 closes [0,10).
		finals: map[winKey][]int64{{"a", 0, 10}: {1}},
		open:   map[winKey]int64{{"a", 5, 15}: 2, {"a", 10, 20}: 1, {"b", 5, 15}: 1, {"b", 10, 20}: 1},
	}, {
		name: "sessions merge, and close at end plus gap plus grace",
		w:    SessionWindows(10 * time.Millisecond).Grace(20 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 20}, {"a", 10}, {"a", 60}},
		// a@10 bridges [0,1) and [20,21): one session [0,21) with 3.
		// a@60: stream time 60 >= 21+10+20 closes it.
		finals: map[winKey][]int64{{"a", 0, 21}: {3}},
		open:   map[winKey]int64{{"a", 60, 61}: 1},
	}, {
		name: "a closed session takes no record",
		w:    SessionWindows(10 * time.Millisecond).Grace(0),
		recs: []winRec{{"a", 0}, {"a", 30}, {"a", 20}, {"a", 10}, {"a", 52}},
		// a@30 closes [0,1) (1+10 <= 30); a@10 then joins [20,31) only.
		finals: map[winKey][]int64{{"a", 0, 1}: {1}, {"a", 10, 31}: {3}},
		open:   map[winKey]int64{{"a", 52, 53}: 1},
	}, {
		name: "session record late when its merged session is closed",
		w:    SessionWindows(10 * time.Millisecond).Grace(5 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 100}, {"a", 3}, {"b", 96}},
		// a@3 at stream time 100: its session [0,4) would close at 4+15 < 100: late.
		finals: map[winKey][]int64{{"a", 0, 1}: {1}},
		open:   map[winKey]int64{{"a", 100, 101}: 1, {"b", 96, 97}: 1},
		late:   1,
	}, {
		name: "sliding: a record exactly the time difference after another",
		w:    SlidingWindows(10 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 10}},
		// a@10: its left window [0,10] holds both; the right window of
		// a@0, [1,11], holds a@10; a@0's left window [-10,0] closes at 10.
		finals: map[winKey][]int64{{"a", -10, 1}: {1}},
		open:   map[winKey]int64{{"a", 0, 11}: 2, {"a", 1, 12}: 1},
	}, {
		name: "sliding: a record 1 ms past the time difference",
		w:    SlidingWindows(10 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 11}},
		// a@0's right window and a@11's left window are one: [1,11].
		finals: map[winKey][]int64{{"a", -10, 1}: {1}},
		open:   map[winKey]int64{{"a", 1, 12}: 1},
	}, {
		name: "sliding: late when even its right window is closed",
		w:    SlidingWindows(10 * time.Millisecond).Grace(0),
		recs: []winRec{{"a", 20}, {"a", 5}, {"a", 12}},
		// a@5: 5+1+10 <= 20, dropped. a@12: a@20's left window [10,20]
		// takes it, its own left window [2,12] is closed (late), its
		// right window [13,23] holds a@20.
		open: map[winKey]int64{{"a", 10, 21}: 2, {"a", 13, 24}: 1},
		late: 2,
	}, {
		name: "sliding: out of order within grace",
		w:    SlidingWindows(10 * time.Millisecond).Grace(20 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 14}, {"a", 3}},
		// Every window of {0, 3, 14}: left windows [-10,0], [-7,3],
		// [4,14], right windows [1,11] (of 0) and [4,14] (of 3).
		open: map[winKey]int64{{"a", -10, 1}: 1, {"a", -7, 4}: 2, {"a", 4, 15}: 1, {"a", 1, 12}: 1},
	}, {
		name: "sliding: out of order, its left window past grace",
		w:    SlidingWindows(10 * time.Millisecond).Grace(5 * time.Millisecond),
		recs: []winRec{{"a", 0}, {"a", 14}, {"a", 3}},
		// At stream time 14, a@3's left window [-7,3] is closed (4+5 <=
		// 14): a@3 goes only into a@0's right window [1,11] (created).
		finals: map[winKey][]int64{{"a", -10, 1}: {1}},
		open:   map[winKey]int64{{"a", 1, 12}: 1, {"a", 4, 15}: 1},
		late:   1,
	}} {
		for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
			t.Run(tc.name+"/"+g.String(), func(t *testing.T) {
				a := newWinApp(t, g, tc.w, 1)
				a.send(t, tc.recs...)
				if got := a.finals(t); !mapsEqual(got, tc.finals) {
					t.Errorf("final results %v, want %v", got, tc.finals)
				}
				if got := a.open(t); !mapsEqual(got, tc.open) {
					t.Errorf("windows %v, want %v", got, tc.open)
				}
				if got := a.app.Stats().LateRecords; got != tc.late {
					t.Errorf("late records %d, want %d", got, tc.late)
				}
			})
		}
	}
}

func mapsEqual[K comparable, V any](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || fmt.Sprint(v) != fmt.Sprint(w) {
			return false
		}
	}
	return true
}

// winModel is the specification the tests hold the table to: per
// partition, records in order, stream time their running maximum.
type winModel struct {
	w      Windows
	st     map[int32]int64
	counts map[int32]map[winKey]int64 // time windows, or sessions (end exclusive)
	maxTs  map[int32]map[winKey]int64 // sliding windows: their latest record's time
	late   int64
}

func newWinModel(w Windows) *winModel {
	return &winModel{w: w, st: map[int32]int64{}, counts: map[int32]map[winKey]int64{}}
}

func (m *winModel) add(p int32, r winRec) {
	if m.counts[p] == nil {
		m.counts[p] = map[winKey]int64{}
		m.st[p] = r.TS
	}
	st := max(m.st[p], r.TS)
	m.st[p] = st
	grace := m.w.GracePeriod().Milliseconds()
	cs := m.counts[p]
	if m.w.kind == Sliding {
		m.addSliding(p, r, st)
		return
	}
	if m.w.kind != Session {
		size, adv := m.w.size.Milliseconds(), m.w.advance.Milliseconds()
		late := false
		for s := r.TS - r.TS%adv; s > r.TS-size; s -= adv { // TS >= 0 in the tests
			if st >= s+size+grace {
				late = true
				continue
			}
			cs[winKey{r.Key, s, s + size}]++
		}
		if late {
			m.late++
		}
		return
	}
	gap := m.w.gap.Milliseconds()
	lo, hi := r.TS, r.TS
	n := int64(1)
	var merged []winKey
	for k, c := range cs {
		closed := st >= k.end+gap+grace
		if k.key == r.Key && !closed && k.start <= r.TS+gap && k.end-1 >= r.TS-gap {
			lo, hi = min(lo, k.start), max(hi, k.end-1)
			n += c
			merged = append(merged, k)
		}
	}
	if st >= hi+1+grace {
		m.late++
		return
	}
	for _, k := range merged {
		delete(cs, k)
	}
	cs[winKey{r.Key, lo, hi + 1}] = n
}

// closed and open split the model's windows by the final stream time.
func (m *winModel) split() (closed map[winKey][]int64, open map[winKey]int64) {
	closed, open = map[winKey][]int64{}, map[winKey]int64{}
	span := m.w.closeSpan()
	for p, cs := range m.counts {
		for k, c := range cs {
			if m.st[p] >= k.end+span {
				closed[k] = []int64{c}
			} else {
				open[k] = c
			}
		}
	}
	return closed, open
}

// TestWindowsAgainstModel: random keys and out-of-order event times, in
// batches of random sizes, over 3 partitions; the final results, the open
// windows and the late count match the model for every kind of window,
// under both guarantees, and again after the tables are restored from
// their changelogs mid-stream.
func TestWindowsAgainstModel(t *testing.T) {
	ms := time.Millisecond
	kinds := map[string]Windows{
		"tumbling":          TumblingWindows(100 * ms).Grace(0),
		"tumbling-grace":    TumblingWindows(100 * ms).Grace(40 * ms),
		"hopping":           HoppingWindows(100*ms, 30*ms).Grace(20 * ms),
		"hopping-advance=1": HoppingWindows(10*ms, 1*ms).Grace(5 * ms),
		"session":           SessionWindows(25 * ms).Grace(0),
		"session-grace":     SessionWindows(25 * ms).Grace(30 * ms),
		"sliding":           SlidingWindows(100 * ms),
		"sliding-grace":     SlidingWindows(60 * ms).Grace(50 * ms),
	}
	for name, w := range kinds {
		for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
			for seed := uint64(1); seed <= 3; seed++ {
				t.Run(fmt.Sprintf("%s/%s/%d", name, g, seed), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(seed, 99))
					a := newWinApp(t, g, w, 3)
					var recs []winRec
					cur := int64(1000)
					for range 400 {
						cur += rng.Int64N(12)
						ts := cur - rng.Int64N(150) // out of order, sometimes past grace
						if rng.IntN(50) == 0 {
							cur += 300 // a jump closes many windows at once
						}
						recs = append(recs, winRec{Key: string(rune('a' + rng.IntN(5))), TS: max(ts, 0)})
					}
					for len(recs) > 0 {
						n := min(1+rng.IntN(40), len(recs))
						a.send(t, recs[:n]...)
						recs = recs[n:]
						if rng.IntN(4) == 0 {
							// The worker's tables restore from their changelogs
							// (as after a restart): nothing closed reopens.
							a.d.w.requeueTables()
							if err := a.d.w.restorePending(context.Background()); err != nil {
								t.Fatal(err)
							}
						}
					}
					model := newWinModel(w)
					evs, err := Output(a.d, a.in)
					if err != nil {
						t.Fatal(err)
					}
					for _, ev := range evs {
						model.add(ev.Partition, ev.Value)
					}
					wantClosed, wantOpen := model.split()
					if got := a.finals(t); !mapsEqual(got, wantClosed) {
						t.Errorf("final results:\n got %v\nwant %v", got, wantClosed)
					}
					if got := a.open(t); !mapsEqual(got, wantOpen) {
						t.Errorf("open windows:\n got %v\nwant %v", got, wantOpen)
					}
					if got := a.app.Stats().LateRecords; got != model.late {
						t.Errorf("late records %d, want %d", got, model.late)
					}
					if len(wantClosed) == 0 || model.late == 0 {
						t.Errorf("the input closed %d windows and had %d late records: not a test", len(wantClosed), model.late)
					}
				})
			}
		}
	}
}

// TestWindowSetReads: Faust's reads of a key's windows.
func TestWindowSetReads(t *testing.T) {
	a := newWinApp(t, ExactlyOnce, HoppingWindows(10*time.Millisecond, 5*time.Millisecond).Grace(100*time.Millisecond), 1)
	a.send(t, winRec{"a", 1}, winRec{"a", 7}, winRec{"a", 7}, winRec{"a", 12})
	at := time.UnixMilli(12)
	ws := a.table.Key(0, "a", at)
	// Windows: [0,10)=3, [5,15)=3, [10,20)=1.
	if got := ws.Current(); got != 1 {
		t.Errorf("Current() = %d, want 1 (the most recent window of 12: [10,20))", got)
	}
	if got := ws.Delta(6 * time.Millisecond); got != 3 {
		t.Errorf("Delta(6ms) = %d, want 3 (the window [5,15) of 6)", got)
	}
	if got := ws.Value(); got != 1 {
		t.Errorf("Value() = %d, want Current()", got)
	}
	a.d.clock.set(time.UnixMilli(3)) // the app's clock: Now reads its window
	if got := ws.Now(); got != 3 {
		t.Errorf("Now() at 3 ms = %d, want 3 ([0,10))", got)
	}
	var starts []int64
	for w := range ws.Windows() {
		starts = append(starts, w.Start.UnixMilli())
	}
	if !slices.Equal(starts, []int64{-5, 0, 5, 10}) {
		t.Errorf("windows of a start at %v, want [-5 0 5 10]", starts)
	}
	if v, ok := a.table.Get(0, "a", time.UnixMilli(5)); !ok || v != 3 {
		t.Errorf("Get([5,15)) = %d, %v", v, ok)
	}
	if got := a.table.StreamTime(0).UnixMilli(); got != 12 {
		t.Errorf("stream time %d, want 12", got)
	}
}

// TestWindowExpiryTombstones: with Expires longer than grace, a closed
// window stays readable (and emits its final result once) until it
// expires; then it is gone from reads and iteration, its changelog ends
// with a tombstone, and a restore does not bring it back.
func TestWindowExpiryTombstones(t *testing.T) {
	w := TumblingWindows(10 * time.Millisecond).Grace(0).Expires(50 * time.Millisecond)
	a := newWinApp(t, ExactlyOnce, w, 1)
	a.send(t, winRec{"a", 1}, winRec{"a", 2}, winRec{"b", 15})
	if got := a.finals(t); !mapsEqual(got, map[winKey][]int64{{"a", 0, 10}: {2}}) {
		t.Fatalf("finals %v", got)
	}
	if v, ok := a.table.Get(0, "a", time.UnixMilli(0)); !ok || v != 2 {
		t.Fatalf("closed window before expiry: %d %v, want 2 true", v, ok)
	}
	a.send(t, winRec{"b", 30})
	a.d.w.requeueTables()
	if err := a.d.w.restorePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.send(t, winRec{"b", 40}) // still no second final result after the restore
	if got := a.finals(t)[winKey{"a", 0, 10}]; !slices.Equal(got, []int64{2}) {
		t.Fatalf("final results of a@[0,10) after restore: %v, want [2]", got)
	}
	a.send(t, winRec{"b", 60}) // 60 >= 10 + 50: [0,10) expires
	if _, ok := a.table.Get(0, "a", time.UnixMilli(0)); ok {
		t.Errorf("expired window still returned by Get")
	}
	for k := range a.table.Keys(0) {
		if k == "a" {
			t.Errorf("expired key a still returned by Keys")
		}
	}
	// The changelog's last record for the window is a tombstone.
	rs, err := a.d.b.records(a.table.Changelog())
	if err != nil {
		t.Fatal(err)
	}
	var last []byte
	found := false
	for _, r := range rs {
		if kb, start, ok := parseWindowKey(r.Key); ok && string(kb) == "a" && start == 0 {
			last, found = r.Value, true
		}
	}
	if !found || last != nil {
		t.Errorf("changelog of window a@0: found %v, last value %q, want a tombstone", found, last)
	}
	a.d.w.requeueTables()
	if err := a.d.w.restorePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.table.Get(0, "a", time.UnixMilli(0)); ok {
		t.Errorf("expired window back after a restore")
	}
}

// TestWindowedTableDeclarations: invalid windows, and session windows
// without Merge, are topology errors; an update from outside an agent is
// refused and moves no stream time.
func TestWindowedTableDeclarations(t *testing.T) {
	for name, w := range map[string]Windows{
		"zero size":           TumblingWindows(0),
		"advance over size":   HoppingWindows(time.Second, 2*time.Second),
		"negative grace":      TumblingWindows(time.Second).Grace(-time.Second),
		"expires below grace": TumblingWindows(time.Second).Grace(time.Minute).Expires(time.Second),
		"sub-millisecond":     TumblingWindows(time.Microsecond),
		"session, no merge":   SessionWindows(time.Second),
		"negative time diff":  SlidingWindows(-time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			app, err := NewApp("decl", InMemoryState(), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			in := NewTopic(app, "in", codec.String(), codec.String())
			NewWindowedTable(app, "w", in, codec.String(), codec.JSON[int64](), w)
			if _, err := NewDriver(app); !errors.Is(err, ErrTopology) {
				t.Errorf("NewDriver = %v, want ErrTopology", err)
			}
		})
	}
	a := newWinApp(t, AtLeastOnce, TumblingWindows(10*time.Millisecond).Grace(0), 1)
	a.send(t, winRec{"a", 5})
	if err := a.table.Update(context.Background(), 0, "a", time.UnixMilli(100), func(n int64) int64 { return n + 1 }); err == nil {
		t.Error("Update outside an agent accepted")
	}
	if got := a.table.StreamTime(0).UnixMilli(); got != 5 {
		t.Errorf("stream time %d after a refused update, want 5", got)
	}
	if got := (Windows{}).GracePeriod(); got != DefaultGrace {
		t.Errorf("default grace of zero-size windows %v", got)
	}
	if got := TumblingWindows(time.Hour).GracePeriod(); got != 23*time.Hour {
		t.Errorf("default grace of 1 h windows %v, want 23h (Kafka Streams: 24 h less the size)", got)
	}
	if got := SessionWindows(25 * time.Hour).GracePeriod(); got != 0 {
		t.Errorf("default grace of a 25 h gap %v, want 0", got)
	}
}

// TestEmitOnUpdate: every change of every window is emitted, right after
// it, with the window's new value; late records emit nothing.
func TestEmitOnUpdate(t *testing.T) {
	app, err := NewApp("upd", InMemoryState(), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	in := EventTime(NewTopic(app, "events", codec.String(), codec.JSON[winRec](), Partitions(1)),
		func(_ string, v winRec, _ time.Time) time.Time { return time.UnixMilli(v.TS) })
	out := NewTopic(app, "updates", codec.String(), codec.JSON[finalRec](), Partitions(1))
	table := NewWindowedTable(app, "counts", in, codec.String(), codec.JSON[int64](),
		HoppingWindows(10*time.Millisecond, 5*time.Millisecond).Grace(0),
		EmitOnUpdate(func(ctx context.Context, key string, w Window, n int64) error {
			return out.Send(ctx, key, finalRec{w.Start.UnixMilli(), w.End.UnixMilli(), n})
		}))
	NewAgent(app, "count", in, func(ctx context.Context, s *Stream[string, winRec]) error {
		for ev := range s.Events() {
			if err := table.Update(ctx, ev.Partition, ev.Key, ev.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
				return err
			}
		}
		return nil
	})
	d, err := NewDriver(app)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, r := range []winRec{{"a", 7}, {"a", 8}, {"a", 20}, {"a", 9}} {
		if err := in.Send(context.Background(), r.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Process(); err != nil {
		t.Fatal(err)
	}
	evs, err := Output(d, out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s%v", ev.Key, ev.Value))
	}
	want := []string{"a{0 10 1}", "a{5 15 1}", "a{0 10 2}", "a{5 15 2}", "a{15 25 1}", "a{20 30 1}"}
	if !slices.Equal(got, want) {
		t.Errorf("updates %v, want %v (a@9 comes after stream time 20: late)", got, want)
	}
}
