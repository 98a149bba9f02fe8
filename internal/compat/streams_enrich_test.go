package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStreamsEnrich is examples/enrich's contract against the real broker
// with the example's binary, at least once: customers are produced first,
// then orders (some for customers that do not exist) while the worker is
// killed with kill -9 and restarted on its state dir. Every order must
// appear in orders-enriched with its customer's record, or null for a
// missing customer, and the orders of each customer in the order they were
// produced (a replay after the kill may repeat a suffix: first appearances
// are checked).
func TestStreamsEnrich(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "enrich")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-io/sluice/examples/enrich").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := startServer(t, "")
	ctx := ctxT(t, 2*time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	if _, err := adm.CreateTopic(ctx, 4, 1, map[string]*string{"cleanup.policy": &compact}, "customers"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const customers, keys, orders = 40, 50, 2000
	custJSON := func(i int) string { return fmt.Sprintf(`{"id":"c%d","name":"customer %d"}`, i, i) }
	var crs []*kgo.Record
	for i := range customers {
		crs = append(crs, &kgo.Record{Topic: "customers", Key: fmt.Appendf(nil, "c%d", i), Value: []byte(custJSON(i))})
	}
	if err := cl.ProduceSync(ctx, crs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	queryAddr := freePort(t)
	worker := func() *appProc {
		return startApp(t, "a", bin, "--brokers", s.addr, "--instance-id", "a", "--state-dir", state,
			"--query-listen", queryAddr, "--session-timeout", "6s", "worker")
	}
	began := time.Now()
	w := worker()
	w.waitLog("partitions assigned")
	t.Logf("worker up after %v", time.Since(began).Round(time.Millisecond))

	seqs := make([]int, keys)
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i += 50 {
			var rs []*kgo.Record
			for n := i; n < min(i+50, to); n++ {
				k := (n * 7) % keys
				rs = append(rs, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "c%d", k),
					Value: fmt.Appendf(nil, `{"n":%d,"seq":%d}`, n, seqs[k])})
				seqs[k]++
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, orders/2)
	w.waitLog("partitions assigned")
	// Kill the worker once it has written some of the output.
	waitRecords(t, ctx, s.addr, "orders-enriched", 200)
	w.signal(syscall.SIGKILL)
	t.Logf("killed after %v", time.Since(began).Round(time.Millisecond))
	produce(orders/2, orders)
	worker() // restarted on its state dir (stopped by its cleanup)

	rd, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("orders-enriched"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	type enriched struct {
		Order struct {
			N   int `json:"n"`
			Seq int `json:"seq"`
		} `json:"order"`
		Customer json.RawMessage `json:"customer"`
	}
	seen := map[int]bool{}
	next := make([]int, keys) // next seq expected to appear first per key
	dups := 0
	for len(seen) < orders {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d orders enriched in time", len(seen), orders)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var e enriched
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Errorf("orders-enriched %s@%d: %q: %v", r.Key, r.Offset, r.Value, err)
				return
			}
			var k int
			if _, err := fmt.Sscanf(string(r.Key), "c%d", &k); err != nil || k != (e.Order.N*7)%keys {
				t.Errorf("order %d under key %q", e.Order.N, r.Key)
				return
			}
			want := "null"
			if k < customers {
				want = custJSON(k)
			}
			if string(e.Customer) != want {
				t.Errorf("order %d of %s: customer %s, want %s", e.Order.N, r.Key, e.Customer, want)
			}
			if seen[e.Order.N] {
				dups++
				return
			}
			seen[e.Order.N] = true
			if e.Order.Seq != next[k] {
				t.Errorf("key %s: order seq %d appeared first where %d was expected", r.Key, e.Order.Seq, next[k])
			}
			next[k] = e.Order.Seq + 1
		})
	}
	t.Logf("every order enriched after %v", time.Since(began).Round(time.Millisecond))
	// The worker serves its customers table (interactive queries).
	for _, c := range []struct {
		key  string
		code int
		body string
	}{{"c3", 200, custJSON(3)}, {"c45", 404, ""}} {
		resp, err := http.Get("http://" + queryAddr + "/tables/customers/" + c.key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || c.code == 200 && string(body) != c.body {
			t.Errorf("GET /tables/customers/%s: %d %s, want %d %s", c.key, resp.StatusCode, body, c.code, c.body)
		}
	}
	t.Logf("%d orders enriched through a kill -9 of the worker (%d repeated by the replay, at least once)", orders, dups)
}

// waitRecords waits until topic holds at least n records.
func waitRecords(t *testing.T, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records in time", topic, got, n)
		}
		got += fs.NumRecords()
	}
}
