package compat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStreamsWordCount is examples/wordcount's contract against the real
// broker with the example's own binary: two workers share the partitions,
// one is killed with kill -9 and restarted mid-stream, a third joins and
// leaves, the broker is killed with kill -9 and restarted; with
// exactly-once, a read_committed reader of word-counts then sees, for
// every word, the counts 1, 2, ..., n with no repeat and no gap; with
// at-least-once, no count is lost.
func TestStreamsWordCount(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-io/sluice/examples/wordcount").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, g := range []string{"exactly-once", "at-least-once"} {
		t.Run(g, func(t *testing.T) { wordcountContract(t, bin, g) })
	}
}

func wordcountContract(t *testing.T, bin, guarantee string) {
	s := startServer(t, "")
	ctx := ctxT(t, 5*time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "words-in"); err != nil {
		t.Fatal(err)
	}
	stateRoot := t.TempDir()
	worker := func(id string) *appProc {
		return startApp(t, id, bin, "--brokers", s.addr, "--guarantee", guarantee, "--instance-id", id,
			"--state-dir", filepath.Join(stateRoot, id), "worker")
	}
	a, b := worker("a"), worker("b")

	// Lines of three words from a vocabulary of 26, produced without pause
	// while workers and the broker are killed and restarted.
	vocab := make([]string, 26)
	for i := range vocab {
		vocab[i] = string(rune('a'+i)) + "w"
	}
	want := map[string]int64{}
	prod, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	prods := startPaced(t, ctx, prod, func() []*kgo.Record { // about 200 lines/s
		var rs []*kgo.Record
		for range 10 {
			var ws []string
			for range 3 {
				w := vocab[rng.IntN(len(vocab))]
				ws = append(ws, w)
				want[w]++
			}
			rs = append(rs, &kgo.Record{Topic: "words-in", Value: []byte(strings.Join(ws, " "))})
		}
		return rs
	})
	after := prods.after
	after(300)
	a.signal(syscall.SIGKILL) // a worker dies mid-stream
	after(300)
	a = worker("a") // and comes back with its state dir
	a.waitLog("worker started")
	after(300)
	c := worker("c") // a third joins ...
	c.waitLog("partitions assigned")
	after(300)
	c.signal(syscall.SIGTERM) // ... and leaves cleanly
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker c exited %d after SIGTERM:\n%s", code, c.output())
	}
	after(300)
	s.kill9() // the broker dies
	s.start()
	after(300)
	prods.finish()
	_ = b

	total := int64(0)
	for _, n := range want {
		total += n
	}
	got := readWordCounts(t, ctx, s.addr, want, guarantee == "exactly-once")
	for w, n := range want {
		seq := got[w]
		switch guarantee {
		case "exactly-once":
			ok := int64(len(seq)) == n
			for i, c := range seq {
				ok = ok && c == int64(i+1)
			}
			if !ok {
				t.Errorf("word %s: counts %v, want 1..%d exactly once each", w, seq, n)
			}
		default:
			seen := map[int64]bool{}
			for _, c := range seq {
				seen[c] = true
			}
			for i := int64(1); i <= n; i++ {
				if !seen[i] {
					t.Errorf("word %s: count %d never written (counts %v)", w, i, seq)
					break
				}
			}
		}
	}
	t.Logf("%s: %d words counted through kill -9 of a worker and of the broker", guarantee, total)
}

// readWordCounts reads word-counts until every word reached its expected
// count (read_committed when committed is set) and returns each word's
// counts in order.
func readWordCounts(t *testing.T, ctx context.Context, addr string, want map[string]int64, committed bool) map[string][]int64 {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics("word-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string][]int64{}
	done := func() bool {
		for w, n := range want {
			seq := got[w]
			if len(seq) == 0 || seq[len(seq)-1] < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("word-counts never reached the expected counts: %s", summarize(got, want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Errorf("word-counts %s@%d: value %q: %v", r.Key, r.Offset, r.Value, err)
				return
			}
			got[string(r.Key)] = append(got[string(r.Key)], n)
		})
	}
	return got
}

func summarize(got map[string][]int64, want map[string]int64) string {
	var b strings.Builder
	for w, n := range want {
		last := int64(0)
		if seq := got[w]; len(seq) > 0 {
			last = seq[len(seq)-1]
		}
		fmt.Fprintf(&b, "%s %d/%d ", w, last, n)
	}
	return b.String()
}
