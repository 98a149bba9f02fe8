package streams_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

// wstep is a stream-stream test input: a record of side 0 or 1, sent as
// the seq-th record of its topic, processed in batch Batch.
type wstep struct {
	step
	Off   int64
	Batch int
}

type wentry struct {
	wstep
	matched, gone bool
	close         int64
}

// modelStreamJoin is the stream-stream join of one partition: each batch's
// records merged by timestamp (left topic first on ties, each topic in
// offset order), then processed one by one by the rules of JoinWindow.
func modelStreamJoin(steps []wstep, win streams.JoinWindow, kind streams.JoinKind) (out []outRec, late int) {
	before, after, grace := win.Before.Milliseconds(), win.After.Milliseconds(), win.Grace.Milliseconds()
	var order []wstep
	for b := 0; ; b++ {
		var sides [2][]wstep
		any := false
		for _, s := range steps {
			if s.Batch == b {
				sides[s.Side] = append(sides[s.Side], s)
				any = true
			}
		}
		if !any {
			break
		}
		for len(sides[0])+len(sides[1]) > 0 {
			i := 0
			if len(sides[0]) == 0 || len(sides[1]) > 0 && sides[1][0].TS < sides[0][0].TS {
				i = 1
			}
			order = append(order, sides[i][0])
			sides[i] = sides[i][1:]
		}
	}
	var live []*wentry
	var st int64
	hasST := false
	val := func(side int, v string) (string, bool, string, bool) {
		if side == 0 {
			return v, true, "", false
		}
		return "", false, v, true
	}
	for _, s := range order {
		if hasST && s.TS < st-grace {
			late++
			continue
		}
		if !hasST || s.TS > st {
			st, hasST = s.TS, true
		}
		var closed []*wentry
		for _, e := range live {
			if !e.gone && e.close < st {
				closed = append(closed, e)
			}
		}
		slices.SortFunc(closed, func(a, b *wentry) int {
			for _, d := range []int64{a.close - b.close, a.TS - b.TS, int64(a.Side - b.Side), a.Off - b.Off} {
				if d != 0 {
					return int(d)
				}
			}
			return 0
		})
		for _, e := range closed {
			e.gone = true
			if !e.matched && (kind == streams.OuterJoin || kind == streams.LeftJoin && e.Side == 0) {
				l, lk, r, rk := val(e.Side, e.Val)
				out = append(out, outRec{Key: e.Key, Val: joined{L: l, LK: lk, R: r, RK: rk}, TS: e.TS})
			}
		}
		from, to := s.TS-before, s.TS+after
		if s.Side == 1 {
			from, to = s.TS-after, s.TS+before
		}
		var partners []*wentry
		for _, e := range live {
			if !e.gone && e.Side != s.Side && e.Key == s.Key && e.TS >= from && e.TS <= to {
				partners = append(partners, e)
			}
		}
		slices.SortStableFunc(partners, func(a, b *wentry) int {
			if a.TS != b.TS {
				return int(a.TS - b.TS)
			}
			return int(a.Off - b.Off)
		})
		me := &wentry{wstep: s}
		for _, e := range partners {
			me.matched, e.matched = true, true
			l, r := s.Val, e.Val
			if s.Side == 1 {
				l, r = e.Val, s.Val
			}
			out = append(out, outRec{Key: s.Key, Val: joined{L: l, LK: true, R: r, RK: true}, TS: max(s.TS, e.TS)})
		}
		reach := after
		if s.Side == 1 {
			reach = before
		}
		me.close = s.TS + reach + grace
		live = append(live, me)
	}
	return out, late
}

func TestJoinStreamsProperty(t *testing.T) {
	wins := []streams.JoinWindow{
		streams.JoinWindows(30 * time.Millisecond),
		streams.JoinWindows(20 * time.Millisecond).WithGrace(40 * time.Millisecond),
		{Before: 0, After: 50 * time.Millisecond, Grace: 10 * time.Millisecond},
	}
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		for _, kind := range []streams.JoinKind{streams.InnerJoin, streams.LeftJoin, streams.OuterJoin} {
			t.Run(g.String()+"/"+kind.String(), func(t *testing.T) {
				lateSeen := 0
				for seed := range uint64(40) {
					r := rand.New(rand.NewPCG(seed, 3))
					win := wins[int(seed)%len(wins)]
					app := newJoinApp(t, g)
					lt := streams.NewTopic(app, "left", codec.String(), codec.String(), streams.Partitions(1))
					rt := streams.NewTopic(app, "right", codec.String(), codec.String(), streams.Partitions(1))
					out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
					sj := streams.JoinStreams(app, "ss", lt, rt, win, kind, joiner, out)
					d := newDriver(t, app)
					var steps []wstep
					var offs [2]int64
					batch := 0
					for i := range 80 {
						s := wstep{step: step{Side: r.IntN(2), Key: fmt.Sprintf("k%d", r.IntN(3)), Val: fmt.Sprintf("v%d", i),
							TS: 1000 + int64(i)*7 + int64(r.IntN(60)) - 30}}
						s.Off, s.Batch = offs[s.Side], batch
						offs[s.Side]++
						steps = append(steps, s)
						tp := lt
						if s.Side == 1 {
							tp = rt
						}
						if err := streams.SendAt(d, tp, s.Key, s.Val, joinEpoch.Add(time.Duration(s.TS)*time.Millisecond)); err != nil {
							t.Fatal(err)
						}
						if r.IntN(4) == 0 {
							if err := d.Process(); err != nil {
								t.Fatal(err)
							}
							batch++
						}
					}
					if err := d.Process(); err != nil {
						t.Fatal(err)
					}
					got := readOut(t, d, app, "out")
					want, late := modelStreamJoin(steps, win, kind)
					sameOutput(t, got, want)
					if n := sj.Stats().Late; n != int64(late) {
						t.Errorf("late %d, model %d", n, late)
					}
					lateSeen += late
					if t.Failed() {
						t.Fatalf("seed %d window %+v", seed, win)
					}
					d.Close()
				}
				if lateSeen == 0 {
					t.Fatal("no seed had a late record: the test does not exercise grace")
				}
			})
		}
	}
}
