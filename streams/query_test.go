package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// queryApp is a worker of an app holding the table "kv" of topic kv.
func queryApp(t *testing.T, addr, instance string) (*streams.App, *streams.Table[string, int64]) {
	t.Helper()
	app, err := streams.NewApp("iq", streams.Brokers(addr), streams.StateDir(t.TempDir()), streams.Logger(quiet()),
		streams.InstanceID(instance), streams.QueryServer("127.0.0.1:0", ""))
	if err != nil {
		t.Fatal(err)
	}
	topic := streams.NewTopic(app, "kv", codec.String(), codec.JSON[int64](), streams.Partitions(4))
	return app, streams.TableOf(app, "kv", topic)
}

func produceKV(t *testing.T, addr string, n int, v int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: "kv", Key: fmt.Appendf(nil, "key%d", i), Value: fmt.Appendf(nil, "%d", v)})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// groupSettled waits until group is Stable with members members, each
// with partitions when allAssigned.
func groupSettled(t *testing.T, cl *kgo.Client, group string, members int, allAssigned bool) {
	t.Helper()
	until(t, fmt.Sprintf("group %s stable with %d members", group, members), func() error {
		dgs, err := kadm.NewClient(cl).DescribeGroups(context.Background(), group)
		if err != nil {
			return err
		}
		g := dgs[group]
		if g.State != "Stable" || len(g.Members) != members {
			return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		for _, m := range g.Members {
			if a, ok := m.Assigned.AsConsumer(); allAssigned && (!ok || len(a.Topics) == 0) {
				return fmt.Errorf("member %s has no partitions", m.MemberID)
			}
		}
		return nil
	})
}

// until retries f (every 50 ms) until it returns nil or the deadline.
func until(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		<-tick.C
	}
}

func httpGet(addr, table, key string) (int, []byte, error) {
	resp, err := http.Get("http://" + addr + "/tables/" + table + "/" + url.PathEscape(key))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestInteractiveQueriesTwoWorkers(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "kv", 4)
	const keys = 24
	produceKV(t, addr, keys, 1)
	appA, tableA := queryApp(t, addr, "a")
	runApp(t, appA)
	ctx := context.Background()
	// Every key at A alone.
	for i := range keys {
		key := fmt.Sprintf("key%d", i)
		until(t, "A answers "+key, func() error {
			v, ok, err := tableA.Query(ctx, key)
			if err != nil || !ok || v != 1 {
				return fmt.Errorf("Query(%s) = %d %v %v", key, v, ok, err)
			}
			return nil
		})
	}

	appB, tableB := queryApp(t, addr, "b")
	runApp(t, appB)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groupSettled(t, cl, "iq", 2, true)
	// New values for every key: each worker's partitions get records, so
	// each restores and applies its share.
	produceKV(t, addr, keys, 2)
	for i := range keys {
		key := fmt.Sprintf("key%d", i)
		for _, w := range []struct {
			name  string
			app   *streams.App
			table *streams.Table[string, int64]
		}{{"A", appA, tableA}, {"B", appB, tableB}} {
			until(t, w.name+" answers "+key+" from Go", func() error {
				v, ok, err := w.table.Query(ctx, key)
				if err != nil && !errors.Is(err, streams.ErrQueryUnavailable) {
					t.Fatalf("%s: Query(%s): %v", w.name, key, err)
				}
				if err != nil || !ok || v != 2 {
					return fmt.Errorf("Query(%s) = %d %v %v", key, v, ok, err)
				}
				return nil
			})
			until(t, w.name+" answers "+key+" over HTTP", func() error {
				code, body, err := httpGet(w.app.QueryAddress(), "kv", key)
				if err != nil {
					return err
				}
				var v int64
				if code != http.StatusOK || json.Unmarshal(body, &v) != nil || v != 2 {
					return fmt.Errorf("GET %s: %d %s", key, code, body)
				}
				return nil
			})
		}
	}
	// A missing key and a missing table are 404 at either worker,
	// whichever owns the key's partition.
	for _, a := range []*streams.App{appA, appB} {
		for _, path := range [][2]string{{"kv", "nope"}, {"kv", "key999"}, {"nosuch", "key1"}} {
			code, body, err := httpGet(a.QueryAddress(), path[0], path[1])
			if err != nil || code != http.StatusNotFound {
				t.Errorf("GET %s/%s at %s: %d %s %v, want 404", path[0], path[1], a.QueryAddress(), code, body, err)
			}
		}
	}
	if v, ok, err := tableB.Query(ctx, "nope"); ok || err != nil {
		t.Errorf("Query(nope) = %d %v %v, want not found", v, ok, err)
	}
}
