package streams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// wordcount declares the package doc's app: lines -> words (repartitioned
// by word) -> counts table -> word-counts.
func wordcount(t *testing.T, addr, stateDir string, g streams.Guarantee, extra ...streams.Option) *streams.App {
	t.Helper()
	opts := append([]streams.Option{
		streams.Brokers(addr), streams.StateDir(stateDir), streams.ProcessingGuarantee(g),
		streams.Logger(quiet()), streams.TopicPartitions(3),
	}, extra...)
	app, err := streams.NewApp("wc", opts...)
	if err != nil {
		t.Fatal(err)
	}
	lines := streams.NewTopic(app, "words-in", codec.String(), codec.String())
	words := streams.NewTopic(app, "wc-words", codec.String(), codec.String(), streams.Internal())
	out := streams.NewTopic(app, "word-counts", codec.String(), codec.JSON[int64]())
	counts := streams.NewTable(app, "counts", words, codec.String(), codec.JSON[int64]())
	streams.NewAgent(app, "split", lines, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			for _, w := range strings.Fields(ev.Value) {
				if err := words.Send(ctx, w, w); err != nil {
					return err
				}
			}
		}
		return nil
	})
	streams.NewAgent(app, "count", words, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			n := counts.Get(ev.Partition, ev.Key) + 1
			if err := counts.Set(ctx, ev.Partition, ev.Key, n); err != nil {
				return err
			}
			if err := out.Send(ctx, ev.Key, n); err != nil {
				return err
			}
		}
		return nil
	}, streams.Concurrency(2))
	return app
}

func produceLines(t *testing.T, addr, topic string, lines ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, l := range lines {
		rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(l)})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// readCounts reads word-counts (read_committed) until want records arrived
// and returns each word's sequence of counts.
func readCounts(t *testing.T, addr string, want int) map[string][]int64 {
	t.Helper()
	return readCountsUntil(t, addr, func(got map[string][]int64) bool {
		n := 0
		for _, seq := range got {
			n += len(seq)
		}
		return n >= want
	})
}

func maxCount(seq []int64) int64 {
	var m int64
	for _, c := range seq {
		m = max(m, c)
	}
	return m
}

// readCountsUntil reads word-counts (read_committed) from the start until
// done says the counts read so far are enough.
func readCountsUntil(t *testing.T, addr string, done func(map[string][]int64) bool) map[string][]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("word-counts"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	got := map[string][]int64{}
	for !done(got) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("counts read before the deadline are not enough: %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Errorf("count %q: %v", r.Value, err)
			}
			got[string(r.Key)] = append(got[string(r.Key)], c)
		})
	}
	return got
}

func runApp(t *testing.T, app *streams.App) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				err = errors.New("Run did not return within 60 s of cancel")
			}
			app.Close()
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func checkSequences(t *testing.T, got map[string][]int64, want map[string]int64) {
	t.Helper()
	for w, n := range want {
		seq := got[w]
		if int64(len(seq)) != n {
			t.Errorf("word %q: counts %v, want 1..%d", w, seq, n)
			continue
		}
		for i, c := range seq {
			if c != int64(i+1) {
				t.Errorf("word %q: counts %v, want 1..%d", w, seq, n)
				break
			}
		}
	}
	for w := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("unexpected word %q", w)
		}
	}
}

func TestWordCount(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			addr := embed.ForTest(t)
			createTopic(t, addr, "words-in", 3)
			produceLines(t, addr, "words-in", "a b c", "a b", "a")
			stop := runApp(t, wordcount(t, addr, t.TempDir(), g))
			got := readCounts(t, addr, 6)
			checkSequences(t, got, map[string]int64{"a": 3, "b": 2, "c": 1})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// A second run of the app (same state dir, then a fresh one) continues the
// counts: the table is restored from its store and from its changelog.
func TestTableRestore(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			addr := embed.ForTest(t)
			createTopic(t, addr, "words-in", 3)
			dir := t.TempDir()
			produceLines(t, addr, "words-in", "x y", "x")
			stop := runApp(t, wordcount(t, addr, dir, g))
			readCounts(t, addr, 3)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// Same state dir: local store plus changelog tail.
			produceLines(t, addr, "words-in", "x")
			stop = runApp(t, wordcount(t, addr, dir, g))
			readCounts(t, addr, 4)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// Empty state dir: everything from the changelog.
			produceLines(t, addr, "words-in", "x y")
			stop = runApp(t, wordcount(t, addr, t.TempDir(), g))
			want := map[string]int64{"x": 4, "y": 2}
			if g == streams.AtLeastOnce {
				// At-least-once may replay an input whose count was
				// already written (a rebalance on a loaded machine), so
				// a count can go past the total; nothing may be lost,
				// and the table never goes back or skips.
				got := readCountsUntil(t, addr, func(got map[string][]int64) bool {
					return maxCount(got["x"]) >= 4 && maxCount(got["y"]) >= 2
				})
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				for w := range want {
					for i, c := range got[w] {
						if c != int64(i+1) {
							t.Errorf("word %q: counts %v, want consecutive from 1", w, got[w])
							break
						}
					}
				}
				return
			}
			got := readCounts(t, addr, 6)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			checkSequences(t, got, want)
		})
	}
}

func TestChannelAgentToTopic(t *testing.T) {
	addr := embed.ForTest(t)
	app, err := streams.NewApp("chan", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	ch := streams.NewChannel[string, string]("greetings", 4)
	out := streams.NewTopic(app, "greetings-out", codec.String(), codec.String(), streams.Internal(), streams.Partitions(1))
	streams.NewAgent(app, "upper", ch, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			if err := out.Send(ctx, ev.Key, strings.ToUpper(ev.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	stop := runApp(t, app)
	ctx := context.Background()
	for i := range 5 {
		if err := ch.Send(ctx, strconv.Itoa(i), fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("greetings-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for len(got) < 5 && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := fmt.Sprintf("HELLO %d", i); v != want {
			t.Errorf("record %d = %q, want %q", i, v, want)
		}
	}
	if len(got) != 5 {
		t.Fatalf("got %d records, want 5", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// An agent that panics stops Run with the event's position in the error.
func TestAgentPanicStopsRun(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "in", 1)
	produceLines(t, addr, "in", "ok", "boom")
	app, err := streams.NewApp("panicky", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.String(), codec.String())
	streams.NewAgent(app, "p", in, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			if ev.Value == "boom" {
				panic("boom")
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = app.Run(ctx)
	if !errors.Is(err, streams.ErrAgentStopped) || !strings.Contains(err.Error(), "in[0]@1") {
		t.Fatalf("Run = %v, want ErrAgentStopped at in[0]@1", err)
	}
}

func TestDecodeErrorHandlers(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "nums", 1)
	produceLines(t, addr, "nums", "1", "x", "3")
	type result struct {
		sum int64
		err error
	}
	run := func(h func(*streams.App) streams.DecodeErrorHandler, id string) (result, *streams.App) {
		app, aerr := streams.NewApp(id, streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
		if aerr != nil {
			t.Fatal(aerr)
		}
		app.OnDecodeError(h(app))
		nums := streams.NewTopic(app, "nums", codec.String(), codec.JSON[int64]())
		var mu sync.Mutex
		var sum int64
		streams.NewAgent(app, "sum", nums, func(ctx context.Context, s *streams.Stream[string, int64]) error {
			for ev := range s.Events() {
				mu.Lock()
				sum += ev.Value
				mu.Unlock()
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		var err error
		// Until the batch of the three records commits, or Run fails.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(60 * time.Second)
	wait:
		for app.Stats().Batches == 0 {
			select {
			case err = <-done:
				break wait
			case <-tick.C:
			case <-deadline:
				t.Fatal("no batch committed within 60 s")
			}
		}
		cancel()
		if err == nil {
			err = <-done
		}
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		app.Close()
		mu.Lock()
		defer mu.Unlock()
		return result{sum, err}, app
	}
	r, app := run(func(*streams.App) streams.DecodeErrorHandler { return streams.SkipDecodeErrors() }, "skip")
	if r.err != nil || r.sum != 4 || app.Stats().DecodeErrors != 1 {
		t.Errorf("skip: sum %d err %v decode errors %d, want 4, nil, 1", r.sum, r.err, app.Stats().DecodeErrors)
	}
	r, _ = run(func(*streams.App) streams.DecodeErrorHandler { return streams.StopOnDecodeError() }, "stop")
	if r.err == nil || !strings.Contains(r.err.Error(), "nums[0]@1") {
		t.Errorf("stop: err %v, want the position nums[0]@1", r.err)
	}
	r, _ = run(func(a *streams.App) streams.DecodeErrorHandler { return streams.DeadLetter(a, "nums-dlq") }, "dlq")
	if r.err != nil || r.sum != 4 {
		t.Errorf("dead letter: sum %d err %v", r.sum, r.err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("nums-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var dl []*kgo.Record
	for len(dl) == 0 && ctx.Err() == nil {
		dl = append(dl, cl.PollFetches(ctx).Records()...)
	}
	if len(dl) != 1 || string(dl[0].Value) != "x" {
		t.Fatalf("dead letters %v, want the record \"x\"", dl)
	}
}

func TestCoPartitioningChecked(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "src", 2)
	createTopic(t, addr, "cp-t-changelog", 3)
	app, err := streams.NewApp("cp", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	src := streams.NewTopic(app, "src", codec.String(), codec.String())
	streams.NewTable(app, "t", src, codec.String(), codec.String())
	streams.NewAgent(app, "a", src, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for range s.Events() {
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = app.Run(ctx)
	if !errors.Is(err, streams.ErrTopology) || !strings.Contains(err.Error(), "cp-t-changelog has 3 partitions") || !strings.Contains(err.Error(), "src, which has 2") {
		t.Fatalf("Run = %v, want a co-partitioning error naming both topics", err)
	}
}
