package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sluice-io/sluice/streams"
)

// TestWordCountDriver runs the example's topology in memory, under both
// guarantees: every word's counts are 1, 2, 3, ... and the table holds
// the totals.
func TestWordCountDriver(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			app, err := streams.NewApp("wordcount", streams.InMemoryState(), streams.ProcessingGuarantee(g),
				streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			wc := Topology(app)
			d, err := streams.NewDriver(app)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			for _, l := range []string{"the cat", "the dog and the cat", "", "dog"} {
				if err := wc.Lines.Send(ctx, "", l); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Process(); err != nil {
				t.Fatal(err)
			}
			evs, err := streams.Output(d, wc.Counts)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int64{}
			for _, ev := range evs {
				if ev.Value != seen[ev.Key]+1 {
					t.Errorf("%s: count %d after %d", ev.Key, ev.Value, seen[ev.Key])
				}
				seen[ev.Key] = ev.Value
			}
			want := map[string]int64{"the": 3, "cat": 2, "dog": 2, "and": 1}
			table, err := streams.TableContents(d, wc.Table)
			if err != nil {
				t.Fatal(err)
			}
			for w, n := range want {
				if seen[w] != n || table[w] != n {
					t.Errorf("%s: last count %d, table %d, want %d", w, seen[w], table[w], n)
				}
			}
			if len(seen) != len(want) || len(table) != len(want) {
				t.Errorf("counts %v, table %v, want %v", seen, table, want)
			}
		})
	}
}
