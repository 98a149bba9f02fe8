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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// windowQueryApp is a worker of an app counting the events of topic ev
// (value: the event time in Unix ms) in 1 s tumbling windows, and holding
// the plain table "plain" too.
func windowQueryApp(t *testing.T, addr, instance string) (*streams.App, *streams.WindowedTable[string, int64]) {
	t.Helper()
	app, err := streams.NewApp("wiq", streams.Brokers(addr), streams.StateDir(t.TempDir()), streams.Logger(quiet()),
		streams.InstanceID(instance), streams.QueryServer("127.0.0.1:0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ev := streams.EventTime(streams.NewTopic(app, "ev", codec.String(), codec.JSON[int64](), streams.Partitions(4)),
		func(_ string, ms int64, _ time.Time) time.Time { return time.UnixMilli(ms) })
	table := streams.NewWindowedTable(app, "counts", ev, codec.String(), codec.JSON[int64](),
		streams.TumblingWindows(time.Second).Grace(time.Hour))
	streams.NewTable(app, "plain", ev, codec.String(), codec.JSON[int64]())
	streams.NewAgent(app, "count", ev, func(ctx context.Context, s *streams.Stream[string, int64]) error {
		for e := range s.Events() {
			if err := table.Update(ctx, e.Partition, e.Key, e.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
				return err
			}
		}
		return nil
	})
	return app, table
}

// produceEvents sends, for each of keys keys, events at 1000, 1500 and
// 2500 ms: the key's window [1000, 2000) counts 2, [2000, 3000) counts 1.
func produceEvents(t *testing.T, addr string, keys int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range keys {
		for _, ms := range []int64{1000, 1500, 2500} {
			rs = append(rs, &kgo.Record{Topic: "ev", Key: fmt.Appendf(nil, "key%d", i), Value: fmt.Appendf(nil, "%d", ms)})
		}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func httpGetQuery(addr, table, key, query string) (int, []byte, error) {
	resp, err := http.Get("http://" + addr + "/tables/" + table + "/" + url.PathEscape(key) + "?" + query)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type httpWindow struct {
	Start int64 `json:"window_start"`
	End   int64 `json:"window_end"`
	Value int64 `json:"value"`
}

func TestInteractiveQueriesWindowedTwoWorkers(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "ev", 4)
	appA, tableA := windowQueryApp(t, addr, "a")
	runApp(t, appA)
	appB, tableB := windowQueryApp(t, addr, "b")
	runApp(t, appB)
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groupSettled(t, cl, "wiq", 2, true)
	const keys = 16
	produceEvents(t, addr, keys)
	want := []httpWindow{{1000, 2000, 2}, {2000, 3000, 1}}
	for i := range keys {
		key := fmt.Sprintf("key%d", i)
		for _, w := range []struct {
			name  string
			app   *streams.App
			table *streams.WindowedTable[string, int64]
		}{{"A", appA, tableA}, {"B", appB, tableB}} {
			// Every key at both workers: one owns it, the other forwards.
			until(t, w.name+" lists "+key+"'s windows from Go", func() error {
				ws, err := w.table.QueryWindows(ctx, key)
				if err != nil && !errors.Is(err, streams.ErrQueryUnavailable) {
					t.Fatalf("%s: QueryWindows(%s): %v", w.name, key, err)
				}
				if err != nil || len(ws) != 2 || ws[0].Value != 2 || ws[1].Value != 1 ||
					ws[0].Window.Start.UnixMilli() != 1000 || ws[1].Window.End.UnixMilli() != 3000 {
					return fmt.Errorf("QueryWindows(%s) = %v %v", key, ws, err)
				}
				return nil
			})
			if v, ok, err := w.table.Query(ctx, key, time.UnixMilli(2000)); err != nil || !ok || v != 1 {
				t.Errorf("%s: Query(%s, 2000) = %d %v %v, want 1", w.name, key, v, ok, err)
			}
			if v, ok, err := w.table.Query(ctx, key, time.UnixMilli(3000)); err != nil || ok {
				t.Errorf("%s: Query(%s, 3000) = %d %v %v, want not found", w.name, key, v, ok, err)
			}
			code, body, err := httpGet(w.app.QueryAddress(), "counts", key)
			var list []httpWindow
			if err != nil || code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
				t.Errorf("%s: GET counts/%s: %d %s %v, want %v", w.name, key, code, body, err, want)
			}
			code, body, err = httpGetQuery(w.app.QueryAddress(), "counts", key, "window=1000")
			var one httpWindow
			if err != nil || code != http.StatusOK || json.Unmarshal(body, &one) != nil || one != want[0] {
				t.Errorf("%s: GET counts/%s?window=1000: %d %s %v, want %v", w.name, key, code, body, err, want[0])
			}
		}
	}
	// Missing windows and keys are 404, bad requests 400, at either worker.
	for _, a := range []*streams.App{appA, appB} {
		for path, wantCode := range map[string]int{
			"counts/key1?window=1001": http.StatusNotFound,
			"counts/nope":             http.StatusNotFound,
			"counts/key1?window=x":    http.StatusBadRequest,
			"plain/key1?window=1000":  http.StatusBadRequest,
			"nosuch/key1?window=1000": http.StatusNotFound,
		} {
			resp, err := http.Get("http://" + a.QueryAddress() + "/tables/" + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != wantCode {
				t.Errorf("GET %s at %s: %d, want %d", path, a.QueryAddress(), resp.StatusCode, wantCode)
			}
		}
	}
	if ws, err := tableB.QueryWindows(ctx, "nope"); err != nil || len(ws) != 0 {
		t.Errorf("QueryWindows(nope) = %v %v, want none", ws, err)
	}
}
