package streams

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// addSliding is the model of sliding windows for TestWindowsAgainstModel:
// Kafka Streams' algorithm (KStreamSlidingWindowAggregate) in its
// forward-iteration form (processInOrder; the table follows the reverse
// one), over a plain map of windows that are never deleted.
func (m *winModel) addSliding(p int32, r winRec, st int64) {
	if m.maxTs == nil {
		m.maxTs = map[int32]map[winKey]int64{}
	}
	if m.maxTs[p] == nil {
		m.maxTs[p] = map[winKey]int64{}
	}
	cs, mx := m.counts[p], m.maxTs[p]
	d, grace, t := m.w.size.Milliseconds(), m.w.GracePeriod().Milliseconds(), r.TS
	closeTime := st - grace
	if t+1+d <= closeTime {
		m.late++
		return
	}
	late := false
	win := func(start int64) winKey { return winKey{r.Key, start, start + d + 1} }
	update := func(k winKey, count int64, has bool, maxTs int64) {
		if k.end-1 < closeTime {
			late = true
			return
		}
		if !has {
			count = 0
		}
		cs[k] = count + 1
		mx[k] = max(maxTs, t)
	}
	var starts []int64
	for k := range cs {
		if k.key == r.Key && k.start >= t-2*d && k.start <= t+1 {
			starts = append(starts, k.start)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	var (
		leftAgg, rightAgg, rightMax int64
		hasRight                    bool
		leftDone, rightDone         bool
		prev                        int64
		hasPrev                     bool
		seen                        = map[int64]bool{}
	)
	for _, s := range starts {
		k := win(s)
		seen[s] = true
		end := s + d
		switch {
		case end < t:
			leftAgg, prev, hasPrev = cs[k], mx[k], true
		case end == t:
			leftDone = true
			if mx[k] < t {
				prev, hasPrev = mx[k], true
			}
			update(k, cs[k], true, mx[k])
		case s <= t:
			rightAgg, rightMax, hasRight = cs[k], mx[k], true
			update(k, cs[k], true, mx[k])
		default:
			rightDone = true
		}
	}
	if hasPrev && !seen[prev+1] && prev+1+d >= t {
		update(win(prev+1), 0, false, t)
	}
	if !leftDone {
		if hasPrev && t-d <= prev {
			update(win(t-d), leftAgg, true, t)
		} else {
			update(win(t-d), 0, false, t)
		}
	}
	if !rightDone && hasRight && rightMax > t {
		cs[win(t+1)], mx[win(t+1)] = rightAgg, rightMax
	}
	if late {
		m.late++
	}
}

// TestSlidingWindowsContents: with no record late, a key's sliding
// windows are exactly the left window [t-d, t] of each of its records and
// the right window [t+1, t+1+d] of each record that has a later one
// within it, each counting the records in it; and WindowSet reads at any
// time t the count of the records in [t-d, t]. Records arrive out of
// order, in batches, with restores in between.
func TestSlidingWindowsContents(t *testing.T) {
	const d = 20
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			a := newWinApp(t, ExactlyOnce, SlidingWindows(d*time.Millisecond).Grace(time.Hour), 1)
			var recs []winRec
			for range 300 {
				recs = append(recs, winRec{Key: string(rune('a' + rng.IntN(3))), TS: rng.Int64N(600) - 100})
			}
			all := recs
			for len(recs) > 0 {
				n := min(1+rng.IntN(30), len(recs))
				a.send(t, recs[:n]...)
				recs = recs[n:]
				if rng.IntN(3) == 0 {
					a.d.w.requeueTables()
					if err := a.d.w.restorePending(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			times := map[string][]int64{}
			for _, r := range all {
				times[r.Key] = append(times[r.Key], r.TS)
			}
			in := func(key string, lo, hi int64) (n int64) {
				for _, ts := range times[key] {
					if lo <= ts && ts <= hi {
						n++
					}
				}
				return n
			}
			want := map[winKey]int64{}
			for key, ts := range times {
				for _, x := range ts {
					want[winKey{key, x - d, x + 1}] = in(key, x-d, x)
					if in(key, x+1, x+1+d) > 0 {
						want[winKey{key, x + 1, x + 2 + d}] = in(key, x+1, x+1+d)
					}
				}
			}
			if got := a.open(t); !mapsEqual(got, want) {
				for k, v := range want {
					if got[k] != v {
						t.Errorf("window %v: %d, want %d", k, got[k], v)
					}
				}
				for k, v := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("window %v: %d, want none", k, v)
					}
				}
			}
			if n := a.app.Stats().LateRecords; n != 0 {
				t.Errorf("%d late records, want 0", n)
			}
			for key := range times {
				for at := int64(-130); at < 540; at++ {
					got := a.table.Key(0, key, time.UnixMilli(at)).Current()
					if w := in(key, at-d, at); got != w {
						t.Fatalf("%s: Current() at %d = %d, want %d (records in [%d, %d])", key, at, got, w, at-d, at)
					}
				}
			}
		})
	}
}

// TestSlidingWindowsQuery: sliding windows are queried like the others,
// as [start, start+d] with End start+d+1; closed ones are not returned.
func TestSlidingWindowsQuery(t *testing.T) {
	a := newWinApp(t, AtLeastOnce, SlidingWindows(10*time.Millisecond), 1)
	ctx := context.Background()
	a.send(t, winRec{"a", 0}, winRec{"a", 10})
	ws, err := a.table.QueryWindows(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := []WindowValue[int64]{{msWindow(0, 11), 2}, {msWindow(1, 12), 1}}
	if fmt.Sprint(ws) != fmt.Sprint(want) {
		t.Errorf("QueryWindows(a) = %v, want %v ([-10, 0] closed at stream time 10)", ws, want)
	}
	if v, ok, err := a.table.Query(ctx, "a", time.UnixMilli(1)); err != nil || !ok || v != 1 {
		t.Errorf("Query(a, 1) = %d %v %v, want 1", v, ok, err)
	}
	if got := SlidingWindows(time.Hour).GracePeriod(); got != 0 {
		t.Errorf("default grace of sliding windows %v, want 0 (Kafka Streams' ofTimeDifferenceWithNoGrace)", got)
	}
}
