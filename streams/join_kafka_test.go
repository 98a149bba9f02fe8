package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// readTopic reads topic from the start until n records arrived.
func readTopic(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records in time", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func produceStrings(t *testing.T, addr, topic string, ts time.Time, kvs ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := 0; i < len(kvs); i += 2 {
		r := &kgo.Record{Topic: topic, Key: []byte(kvs[i]), Value: []byte(kvs[i+1]), Timestamp: ts}
		if kvs[i+1] == "" {
			r.Value = nil
		}
		rs = append(rs, r)
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestJoinStreamsSurvivesRestart: left records buffered by a worker that
// then stops are joined by the next worker (in-memory state: it has only
// the window store's changelog to restore them from).
func TestJoinStreamsSurvivesRestart(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			addr := embed.ForTest(t)
			createTopic(t, addr, "left", 2)
			createTopic(t, addr, "right", 2)
			newApp := func() *streams.App {
				app, err := streams.NewApp("ssr", streams.Brokers(addr), streams.InMemoryState(), streams.Logger(quiet()), streams.ProcessingGuarantee(g))
				if err != nil {
					t.Fatal(err)
				}
				lt := streams.NewTopic(app, "left", codec.String(), codec.String())
				rt := streams.NewTopic(app, "right", codec.String(), codec.String())
				out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
				streams.JoinStreams(app, "ss", lt, rt, streams.JoinWindows(time.Minute), streams.InnerJoin, joiner, out)
				return app
			}
			t0 := time.Now().Truncate(time.Millisecond)
			var kvs []string
			for i := range 10 {
				kvs = append(kvs, fmt.Sprintf("k%d", i), fmt.Sprintf("L%d", i))
			}
			produceStrings(t, addr, "left", t0, kvs...)
			stop := runApp(t, newApp())
			readTopic(t, addr, "ssr-ss-left-changelog", 10) // buffered and logged
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			runApp(t, newApp())
			kvs = kvs[:0]
			for i := range 10 {
				kvs = append(kvs, fmt.Sprintf("k%d", i), fmt.Sprintf("R%d", i))
			}
			produceStrings(t, addr, "right", t0.Add(time.Second), kvs...)
			got := map[string]joined{}
			for _, r := range readTopic(t, addr, "out", 10) {
				var j joined
				if err := json.Unmarshal(r.Value, &j); err != nil {
					t.Fatal(err)
				}
				got[string(r.Key)] = j
			}
			for i := range 10 {
				k := fmt.Sprintf("k%d", i)
				if want := (joined{L: fmt.Sprintf("L%d", i), LK: true, R: fmt.Sprintf("R%d", i), RK: true}); got[k] != want {
					t.Errorf("%s: %+v, want %+v", k, got[k], want)
				}
			}
		})
	}
}

// TestGlobalTableKafka: a worker loads a global table before processing,
// then follows its updates with its own reader.
func TestGlobalTableKafka(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "products", 3)
	createTopic(t, addr, "orders", 2)
	produceStrings(t, addr, "products", time.Now(), "p1", "apple", "p2", "pear")
	produceStrings(t, addr, "orders", time.Now(), "o1", "p1", "o2", "p2", "o3", "p3")
	app, err := streams.NewApp("gt", streams.Brokers(addr), streams.StateDir(t.TempDir()), streams.Logger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	orders := streams.NewTopic(app, "orders", codec.String(), codec.String())
	products := streams.NewGlobalTable(app, "products", streams.NewTopic(app, "products", codec.String(), codec.String()))
	out := streams.NewTopic(app, "out", codec.String(), codec.JSON[joined]())
	streams.JoinGlobal(app, "g", orders, products, func(_ string, p string) string { return p }, streams.LeftJoin,
		func(_ string, p, name string, found bool) joined { return joined{L: p, LK: true, R: name, RK: found} }, out)
	runApp(t, app)
	want := map[string]joined{
		"o1": {L: "p1", LK: true, R: "apple", RK: true},
		"o2": {L: "p2", LK: true, R: "pear", RK: true},
		"o3": {L: "p3", LK: true},
	}
	check := func(rs []*kgo.Record) {
		t.Helper()
		for _, r := range rs {
			var j joined
			if err := json.Unmarshal(r.Value, &j); err != nil {
				t.Fatal(err)
			}
			if w, ok := want[string(r.Key)]; ok && j != w {
				t.Errorf("%s: %+v, want %+v", r.Key, j, w)
			}
		}
	}
	check(readTopic(t, addr, "out", 3))
	// An update reaches the running worker's copy.
	produceStrings(t, addr, "products", time.Now(), "p3", "plum", "p1", "")
	until(t, "the update reaches the global table", func() error {
		v, ok, err := products.Lookup("p3")
		_, ok1, _ := products.Lookup("p1")
		if err != nil || !ok || v != "plum" || ok1 {
			return fmt.Errorf("p3 = %q %v %v, p1 present %v", v, ok, err, ok1)
		}
		return nil
	})
	produceStrings(t, addr, "orders", time.Now(), "o4", "p3", "o5", "p1")
	want["o4"] = joined{L: "p3", LK: true, R: "plum", RK: true}
	want["o5"] = joined{L: "p1", LK: true}
	check(readTopic(t, addr, "out", 5))
}
