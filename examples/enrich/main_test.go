package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-io/sluice/streams"
)

// TestEnrichDriver runs the example's topology in memory: orders get the
// customer their key had when they were processed, or null.
func TestEnrichDriver(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			app, err := streams.NewApp("enrich", streams.InMemoryState(), streams.ProcessingGuarantee(g),
				streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			e := Topology(app)
			d, err := streams.NewDriver(app)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			send := func(tp *streams.Topic[string, json.RawMessage], k, v string, ms int) {
				t.Helper()
				if err := streams.SendAt(d, tp, k, json.RawMessage(v), t0.Add(time.Duration(ms)*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			send(e.Customers, "c1", `{"name":"Ada"}`, 1)
			send(e.Orders, "c1", `{"id":1}`, 2)
			send(e.Orders, "c2", `{"id":2}`, 3)
			send(e.Customers, "c1", `{"name":"Ada L."}`, 4)
			send(e.Orders, "c1", `{"id":3}`, 5)
			if err := d.Process(); err != nil {
				t.Fatal(err)
			}
			evs, err := streams.Output(d, e.Enriched)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"c1": {`{"order":{"id":1},"customer":{"name":"Ada"}}`, `{"order":{"id":3},"customer":{"name":"Ada L."}}`},
				"c2": {`{"order":{"id":2},"customer":null}`},
			}
			got := map[string][]string{}
			for _, ev := range evs {
				b, _ := json.Marshal(ev.Value)
				got[ev.Key] = append(got[ev.Key], string(b))
			}
			for k, w := range want {
				if len(got[k]) != len(w) {
					t.Fatalf("%s: got %v, want %v", k, got[k], w)
				}
				for i := range w {
					if got[k][i] != w[i] {
						t.Errorf("%s[%d]: got %s, want %s", k, i, got[k][i], w[i])
					}
				}
			}
		})
	}
}
