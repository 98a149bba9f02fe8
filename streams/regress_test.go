package streams_test

// Regression tests for defects a review of the package found; each failed
// before its fix.

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// A transaction left open on a changelog (a zombie's) holds the last
// stable offset below writes the owner committed after it: a restore must
// wait for that transaction rather than treat the store as "ahead" and
// rebuild it from the stable prefix (the count went 1, 2, 2).
func TestRestoreWaitsForOpenTransactionOnChangelog(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "words-in", 3)
	dir := t.TempDir()
	ctx := context.Background()
	produceLines(t, addr, "words-in", "x")
	stop := runApp(t, wordcount(t, addr, dir, streams.ExactlyOnce))
	readCounts(t, addr, 1)

	z, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("zombie"),
		kgo.TransactionTimeout(10*time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if err := z.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if err := z.ProduceSync(ctx, &kgo.Record{Topic: "wc-counts-changelog", Partition: p, Key: []byte("zombie"), Value: []byte("1")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceLines(t, addr, "words-in", "x") // committed by the running worker, after the open transaction
	readCounts(t, addr, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The restarted worker restores while the zombie's transaction is
	// open; the zombie aborts once the restore has begun.
	restoring := make(chan struct{})
	var once sync.Once
	logger := slog.New(hookHandler{msg: "streams: restoring table partition", fn: func() { once.Do(func() { close(restoring) }) }})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-restoring:
		case <-time.After(90 * time.Second):
			t.Errorf("no restore began within 90 s")
		}
		if err := z.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Errorf("aborting the zombie: %v", err)
		}
	}()
	produceLines(t, addr, "words-in", "x")
	stop = runApp(t, wordcount(t, addr, dir, streams.ExactlyOnce, streams.Logger(logger)))
	got := readCounts(t, addr, 3)
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkSequences(t, got, map[string]int64{"x": 3})
}

// hookHandler calls fn for every log record whose message is msg.
type hookHandler struct {
	msg string
	fn  func()
}

func (h hookHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	return nil
}
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h hookHandler) WithGroup(string) slog.Handler      { return h }

// oneTopicApp is an app with one agent over a one-partition topic "in".
func oneTopicApp(t *testing.T, addr, id string, fn func(ctx context.Context, s *streams.Stream[string, string]) error) *streams.App {
	t.Helper()
	app, err := streams.NewApp(id, streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.String(), codec.String(), streams.Partitions(1))
	streams.NewAgent(app, "a", in, fn)
	return app
}

func waitBatches(t *testing.T, app *streams.App, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for app.Stats().Batches < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches committed within 60 s, want %d (%+v)", app.Stats().Batches, n, app.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polls a condition with a deadline
	}
}

// Take without a window yields what is waiting instead of holding the
// batch (and the worker) forever.
func TestTakeWithoutWindowEndsBatches(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "in", 1)
	var mu sync.Mutex
	var sizes []int
	app := oneTopicApp(t, addr, "take", func(ctx context.Context, s *streams.Stream[string, string]) error {
		for b := range s.Take(5, 0) {
			mu.Lock()
			sizes = append(sizes, len(b))
			mu.Unlock()
		}
		return nil
	})
	produceLines(t, addr, "in", "a", "b")
	stop := runApp(t, app)
	waitBatches(t, app, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != 2 {
		t.Fatalf("Take yielded batches %v, want 2 events in all", sizes)
	}
}

// A table write refused (outside a batch) leaves the table unchanged, and
// a failed read outside a batch does not fail the next batch.
func TestRefusedTableWriteChangesNothing(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "in", 1)
	app, err := streams.NewApp("refused", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.String(), codec.String(), streams.Partitions(1))
	tbl := streams.NewTable(app, "t", in, codec.String(), codec.JSON[int64]())
	var mu sync.Mutex
	var seen []int64
	agentCtx := make(chan context.Context, 1)
	streams.NewAgent(app, "a", in, func(ctx context.Context, s *streams.Stream[string, string]) error {
		select {
		case agentCtx <- ctx:
		default:
		}
		for ev := range s.Events() {
			n := tbl.Get(ev.Partition, "k") + 1
			if err := tbl.Set(ctx, ev.Partition, "k", n); err != nil {
				return err
			}
			mu.Lock()
			seen = append(seen, n)
			mu.Unlock()
		}
		return nil
	})
	produceLines(t, addr, "in", "a")
	stop := runApp(t, app)
	waitBatches(t, app, 1)
	if err := tbl.Set(<-agentCtx, 0, "k", 100); err == nil {
		t.Fatal("a table write between batches was accepted")
	}
	_ = tbl.Get(7, "k") // not owned: logged, not the next batch's failure
	produceLines(t, addr, "in", "b")
	waitBatches(t, app, 2)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
		t.Fatalf("counts %v, want [1 2]", seen)
	}
}

// A table on a GroupBy output (changelog -> repartition topic -> source):
// topics are created in dependency order whatever their names.
func TestTableOnGroupByOutput(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "src", 2)
	app, err := streams.NewApp("gb", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	src := streams.NewTopic(app, "src", codec.String(), codec.String())
	byWord := streams.GroupBy(app, src, "words", codec.String(), func(ev streams.Event[string, string]) string { return ev.Value })
	counts := streams.NewTable(app, "counts", byWord, codec.String(), codec.JSON[int64]())
	var mu sync.Mutex
	last := map[string]int64{}
	streams.NewAgent(app, "count", byWord, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			n := counts.Get(ev.Partition, ev.Key) + 1
			if err := counts.Set(ctx, ev.Partition, ev.Key, n); err != nil {
				return err
			}
			mu.Lock()
			last[ev.Key] = n
			mu.Unlock()
		}
		return nil
	})
	produceLines(t, addr, "src", "p", "q", "p")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		ok := last["p"] == 2 && last["q"] == 1
		mu.Unlock()
		if ok {
			break
		}
		select {
		case err := <-done:
			cancel()
			if errors.Is(err, streams.ErrTopology) || err != nil {
				t.Fatalf("Run: %v", err)
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %v within 60 s, want p=2 q=1", last)
		}
		time.Sleep(10 * time.Millisecond) // polls a condition with a deadline
	}
	cancel()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatal(err)
	}
	app.Close()
}
