package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pvWindow is one page's window, in Unix ms.
type pvWindow struct {
	page       string
	start, end int64
}

// TestStreamsPageViews is examples/pageviews' contract against the real
// broker with the example's own binary (exactly-once, its default): two
// workers share page-views' 4 partitions while views arrive out of order
// (some later than the grace period); one worker is killed with kill -9
// and restarted and the broker is killed with kill -9 and restarted while
// windows are open. A read_committed reader of page-view-counts then
// finds, for every window that closed, exactly one record, with the number
// of views of the window that arrived before it closed (computed from the
// page-views log itself, partition by partition), and no other record.
func TestStreamsPageViews(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pageviews")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-io/sluice/examples/pageviews").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const window, grace = 1000, 300 // ms
	s := startServer(t, "")
	ctx := ctxT(t, 3*time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "page-views"); err != nil {
		t.Fatal(err)
	}
	stateRoot := t.TempDir()
	worker := func(id string) *appProc {
		return startApp(t, id, bin, "--brokers", s.addr, "--instance-id", id, "--state-dir", filepath.Join(stateRoot, id),
			"--window", "1s", "--grace", "300ms", "worker")
	}
	a, b := worker("a"), worker("b")

	pages := make([]string, 12)
	for i := range pages {
		pages[i] = fmt.Sprintf("page-%d", i)
	}
	// Event time starts now (the broker's retention deletes older records)
	// at a window boundary, and runs ahead of the clock: 4 s per second.
	base := time.Now().UnixMilli() / window * window
	prod, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	et := base                                               // the largest view time produced; read after finish
	prods := startPaced(t, ctx, prod, func() []*kgo.Record { // about 200 views/s
		var rs []*kgo.Record
		for range 10 {
			et += 20
			ts := et - rng.Int64N(450) // out of order; sometimes past grace
			rs = append(rs, &kgo.Record{Topic: "page-views", Key: []byte(pages[rng.IntN(len(pages))]), Timestamp: time.UnixMilli(ts)})
		}
		return rs
	})
	after := prods.after
	after(300)
	a.signal(syscall.SIGKILL) // a worker dies with windows open
	after(300)
	a = worker("a")
	a.waitLog("worker started")
	after(300)
	s.kill9() // the broker dies with windows open
	s.start()
	after(300)
	prods.finish()
	// Every page views once more, well past the end plus grace of every
	// window so far: every partition's windows close.
	var rs []*kgo.Record
	flush := et + window + grace + 1
	for _, p := range pages {
		rs = append(rs, &kgo.Record{Topic: "page-views", Key: []byte(p), Timestamp: time.UnixMilli(flush)})
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_ = b

	want := pageViewsModel(t, ctx, s.addr, window, grace)
	got := readPageViewCounts(t, ctx, s.addr, want)
	bad := 0
	for w, n := range want {
		if c := got[w]; len(c) != 1 || c[0] != n {
			bad++
			if bad <= 20 {
				t.Errorf("%s [%d, %d): counts %v, want [%d]", w.page, w.start, w.end, c, n)
			}
		}
	}
	for w, c := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("%s [%d, %d): counts %v for a window that did not close", w.page, w.start, w.end, c)
		}
	}
	total := int64(0)
	for _, n := range want {
		total += n
	}
	t.Logf("%d windows closed, %d views counted, through kill -9 of a worker and of the broker", len(want), total)
}

// pageViewsModel reads page-views and computes, partition by partition,
// the final count of every window that closed: stream time is the largest
// timestamp so far; a view counts when stream time < its window's end +
// grace; a window closed when the final stream time >= end + grace.
func pageViewsModel(t *testing.T, ctx context.Context, addr string, window, grace int64) map[pvWindow]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "page-views")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("page-views"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	recs := map[int32][]*kgo.Record{}
	next := map[int32]int64{}
	for {
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if next[o.Partition] < o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		fs := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading page-views: %v", ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs[r.Partition] = append(recs[r.Partition], r)
			next[r.Partition] = r.Offset + 1
		})
	}
	out := map[pvWindow]int64{}
	for _, rs := range recs {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
		st := int64(-1 << 62)
		counts := map[pvWindow]int64{}
		for _, r := range rs {
			ts := r.Timestamp.UnixMilli()
			st = max(st, ts)
			s := ts - ts%window
			w := pvWindow{string(r.Key), s, s + window}
			if st < w.end+grace {
				counts[w]++
			}
		}
		for w, n := range counts {
			if st >= w.end+grace {
				out[w] = n
			}
		}
	}
	return out
}

// readPageViewCounts reads page-view-counts, read_committed, until every
// window of want has a record, then to the end of the topic.
func readPageViewCounts(t *testing.T, ctx context.Context, addr string, want map[pvWindow]int64) map[pvWindow][]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("page-view-counts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[pvWindow][]int64{}
	seen := map[int32]int64{} // next offset per partition
	missing := func() int {
		n := 0
		for w := range want {
			if len(got[w]) == 0 {
				n++
			}
		}
		return n
	}
	poll := func() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("page-view-counts: %d of %d windows never written", missing(), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			var c struct {
				WindowStart int64 `json:"window_start"`
				WindowEnd   int64 `json:"window_end"`
				Count       int64 `json:"count"`
			}
			if err := json.Unmarshal(r.Value, &c); err != nil {
				t.Errorf("page-view-counts %s@%d: value %q: %v", r.Key, r.Offset, r.Value, err)
				return
			}
			w := pvWindow{string(r.Key), c.WindowStart, c.WindowEnd}
			got[w] = append(got[w], c.Count)
		})
	}
	for missing() > 0 {
		poll()
	}
	// Then to the last stable offset: a duplicate written after the last
	// expected record would show.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, "page-view-counts")
	if err != nil {
		t.Fatal(err)
	}
	for {
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if seen[o.Partition] < o.Offset {
				done = false
			}
		})
		if done {
			return got
		}
		poll()
	}
}
