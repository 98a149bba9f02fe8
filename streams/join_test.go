package streams_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

var joinEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// joined is a join result as the tests' joiners build it.
type joined struct {
	L  string `json:"l"`
	LK bool   `json:"lk"`
	R  string `json:"r"`
	RK bool   `json:"rk"`
}

// outRec is one output record: a value, or a tombstone (Del).
type outRec struct {
	Key string
	Val joined
	Del bool
	TS  int64
}

// readOut returns the records of topic name, tombstones included.
func readOut(t *testing.T, d *streams.Driver, app *streams.App, name string) []outRec {
	t.Helper()
	raw := streams.NewTopic(app, name, codec.String(), codec.Bytes())
	evs, err := streams.Output(d, raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []outRec
	for _, ev := range evs {
		o := outRec{Key: ev.Key, Del: ev.Value == nil, TS: ev.Timestamp.Sub(joinEpoch).Milliseconds()}
		if !o.Del {
			if err := json.Unmarshal(ev.Value, &o.Val); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, o)
	}
	return out
}

// byKey groups records per key, keeping their order: the order a join
// promises (one key's results stay in one partition, in order).
func byKey(rs []outRec) map[string][]outRec {
	m := map[string][]outRec{}
	for _, r := range rs {
		m[r.Key] = append(m[r.Key], r)
	}
	return m
}

func sameOutput(t *testing.T, got, want []outRec) {
	t.Helper()
	g, w := byKey(got), byKey(want)
	for k := range w {
		if !slices.Equal(g[k], w[k]) {
			t.Errorf("key %s:\n got %v\nwant %v", k, g[k], w[k])
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("key %s: unexpected %v", k, g[k])
		}
	}
}

func newJoinApp(t *testing.T, g streams.Guarantee) *streams.App {
	t.Helper()
	app, err := streams.NewApp("j", streams.InMemoryState(), streams.Logger(quiet()), streams.TopicPartitions(3),
		streams.ProcessingGuarantee(g), streams.Clock(func() time.Time { return joinEpoch }))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// step is one input record of a property test: on side 0 (left) or 1
// (right), a value or a tombstone (Del), at a timestamp.
type step struct {
	Side int
	Key  string
	Val  string
	Del  bool
	TS   int64
}

// randomSteps interleaves n records of both sides over a few keys, with
// increasing timestamps (jitter > 0: timestamps may go back by up to
// jitter ms per side, out of order).
func randomSteps(r *rand.Rand, n int, dels bool) []step {
	var out []step
	for i := range n {
		s := step{Side: r.IntN(2), Key: fmt.Sprintf("k%d", r.IntN(5)), Val: fmt.Sprintf("v%d", i), TS: int64(i+1) * 10}
		if dels && r.IntN(5) == 0 {
			s.Del = true
		}
		out = append(out, s)
	}
	return out
}

// feed sends steps to the two topics, running the Driver at random points
// so batches hold random runs of the interleaving.
func feed(t *testing.T, r *rand.Rand, d *streams.Driver, l, rt *streams.Topic[string, string], steps []step) {
	t.Helper()
	for _, s := range steps {
		tp := l
		if s.Side == 1 {
			tp = rt
		}
		ts := joinEpoch.Add(time.Duration(s.TS) * time.Millisecond)
		var err error
		if s.Del {
			err = streams.SendTombstoneAt(d, tp, s.Key, ts)
		} else {
			err = streams.SendAt(d, tp, s.Key, s.Val, ts)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(4) == 0 {
			if err := d.Process(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := d.Process(); err != nil {
		t.Fatal(err)
	}
}

func joiner(_ string, l string, lk bool, r string, rk bool) joined {
	return joined{L: l, LK: lk, R: r, RK: rk}
}

// modelStreamTable is the stream-table join over the steps in timestamp
// order: side 0 is the stream, side 1 the table's topic.
func modelStreamTable(steps []step, kind streams.JoinKind) []outRec {
	table := map[string]string{}
	var out []outRec
	for _, s := range steps {
		if s.Side == 1 {
			if s.Del {
				delete(table, s.Key)
			} else {
				table[s.Key] = s.Val
			}
			continue
		}
		v, ok := table[s.Key]
		if !ok && kind == streams.InnerJoin {
			continue
		}
		out = append(out, outRec{Key: s.Key, Val: joined{L: s.Val, LK: true, R: v, RK: ok}, TS: s.TS})
	}
	return out
}

func TestJoinStreamTableProperty(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		for _, kind := range []streams.JoinKind{streams.InnerJoin, streams.LeftJoin} {
			t.Run(g.String()+"/"+kind.String(), func(t *testing.T) {
				for seed := range uint64(30) {
					r := rand.New(rand.NewPCG(seed, 1))
					app := newJoinApp(t, g)
					orders := streams.NewTopic(app, "orders", codec.String(), codec.String())
					custTopic := streams.NewTopic(app, "customers", codec.String(), codec.String())
					out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
					cust := streams.TableOf(app, "customers", custTopic)
					streams.JoinStreamTable(app, "enrich", orders, cust, kind, func(k, o, c string, found bool) joined {
						return joiner(k, o, true, c, found)
					}, out)
					d := newDriver(t, app)
					steps := randomSteps(r, 60, true)
					for i := range steps { // stream records are never tombstones here
						if steps[i].Side == 0 {
							steps[i].Del = false
						}
					}
					feed(t, r, d, orders, custTopic, steps)
					sameOutput(t, readOut(t, d, app, "out"), modelStreamTable(steps, kind))
					if t.Failed() {
						t.Fatalf("seed %d", seed)
					}
					// The table holds the topic's latest values.
					want := map[string]string{}
					for _, s := range steps {
						if s.Side == 1 && s.Del {
							delete(want, s.Key)
						} else if s.Side == 1 {
							want[s.Key] = s.Val
						}
					}
					got, err := streams.TableContents(d, cust)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Fatalf("seed %d: table %v, want %v", seed, got, want)
					}
					for k, v := range want {
						if got[k] != v {
							t.Fatalf("seed %d: table %v, want %v", seed, got, want)
						}
					}
					d.Close()
				}
			})
		}
	}
}

// modelTables is the table-table join over the steps in order.
func modelTables(steps []step, kind streams.JoinKind) []outRec {
	tabs := [2]map[string]string{{}, {}}
	var out []outRec
	for _, s := range steps {
		if s.Del {
			delete(tabs[s.Side], s.Key)
		} else {
			tabs[s.Side][s.Key] = s.Val
		}
		a, aok := tabs[0][s.Key]
		b, bok := tabs[1][s.Key]
		self, other := aok, bok
		if s.Side == 1 {
			self, other = bok, aok
		}
		o := outRec{Key: s.Key, TS: s.TS}
		switch kind {
		case streams.InnerJoin:
			if !other {
				continue
			}
			o.Del = !self
		case streams.LeftJoin:
			if !aok && s.Side == 1 {
				continue
			}
			o.Del = !aok
		case streams.OuterJoin:
			o.Del = !aok && !bok
		}
		if !o.Del {
			o.Val = joined{L: a, LK: aok, R: b, RK: bok}
		}
		out = append(out, o)
	}
	return out
}

func TestJoinTablesProperty(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		for _, kind := range []streams.JoinKind{streams.InnerJoin, streams.LeftJoin, streams.OuterJoin} {
			t.Run(g.String()+"/"+kind.String(), func(t *testing.T) {
				for seed := range uint64(30) {
					r := rand.New(rand.NewPCG(seed, 2))
					app := newJoinApp(t, g)
					lt := streams.NewTopic(app, "left", codec.String(), codec.String())
					rt := streams.NewTopic(app, "right", codec.String(), codec.String())
					out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
					streams.JoinTables(app, "tt", streams.TableOf(app, "l", lt), streams.TableOf(app, "r", rt), kind, joiner, out)
					d := newDriver(t, app)
					steps := randomSteps(r, 60, true)
					feed(t, r, d, lt, rt, steps)
					sameOutput(t, readOut(t, d, app, "out"), modelTables(steps, kind))
					if t.Failed() {
						t.Fatalf("seed %d", seed)
					}
					d.Close()
				}
			})
		}
	}
}

func TestJoinCopartitioningError(t *testing.T) {
	app := newJoinApp(t, streams.AtLeastOnce)
	orders := streams.NewTopic(app, "orders", codec.String(), codec.String(), streams.Partitions(8))
	custTopic := streams.NewTopic(app, "customers", codec.String(), codec.String(), streams.Partitions(4))
	out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
	streams.JoinStreamTable(app, "enrich", orders, streams.TableOf(app, "customers", custTopic), streams.LeftJoin,
		func(k, o, c string, found bool) joined { return joined{} }, out)
	_, err := streams.NewDriver(app)
	if !errors.Is(err, streams.ErrTopology) {
		t.Fatalf("NewDriver: %v, want ErrTopology", err)
	}
	want := "join enrich: topics orders (8 partitions) and customers (4 partitions) are not co-partitioned"
	if err == nil || !containsStr(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || containsStr(s[1:], sub)))
}
