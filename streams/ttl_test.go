package streams

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// TestTableTTL: a key not written for the TTL reads as missing at once, is
// deleted (a tombstone in the changelog) by the next batch, and a restore
// brings it back neither from the changelog nor from the local store; a
// key written since lives on, its write time surviving the restore.
func TestTableTTL(t *testing.T) {
	for _, st := range []string{"memory", "pebble"} {
		for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
			t.Run(st+"/"+g.String(), func(t *testing.T) {
				opts := []Option{ProcessingGuarantee(g), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))),
					Clock(func() time.Time { return time.Unix(1_000_000, 0) })}
				if st == "memory" {
					opts = append(opts, InMemoryState())
				} else {
					opts = append(opts, StateDir(t.TempDir()))
				}
				app, err := NewApp("ttl", opts...)
				if err != nil {
					t.Fatal(err)
				}
				in := NewTopic(app, "in", codec.String(), codec.JSON[int64](), Partitions(2))
				tbl := NewTable(app, "last", in, codec.String(), codec.JSON[int64](), TTL[int64](10*time.Second))
				NewAgent(app, "set", in, func(ctx context.Context, s *Stream[string, int64]) error {
					for ev := range s.Events() {
						if err := tbl.Set(ctx, ev.Partition, ev.Key, ev.Value); err != nil {
							return err
						}
					}
					return nil
				})
				d, err := NewDriver(app)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				ctx := context.Background()
				send := func(k string, v int64) {
					t.Helper()
					if err := in.Send(ctx, k, v); err != nil {
						t.Fatal(err)
					}
					if err := d.Process(); err != nil {
						t.Fatal(err)
					}
				}
				contents := func() map[string]int64 {
					t.Helper()
					m, err := TableContents(d, tbl)
					if err != nil {
						t.Fatal(err)
					}
					return m
				}
				restore := func() {
					t.Helper()
					d.w.requeueTables()
					if err := d.w.restorePending(ctx); err != nil {
						t.Fatal(err)
					}
				}
				send("a", 1)
				send("b", 1)
				if err := d.Advance(6 * time.Second); err != nil {
					t.Fatal(err)
				}
				send("b", 2)
				if err := d.Advance(5 * time.Second); err != nil { // a: 11 s old, b: 5 s
					t.Fatal(err)
				}
				if got := contents(); !mapsEqual(got, map[string]int64{"b": 2}) {
					t.Errorf("after 11 s: %v, want only b (a expired)", got)
				}
				send("c", 1) // a batch: a is deleted
				if tombstoned(t, d, tbl.Changelog(), "a") != true {
					t.Errorf("a not tombstoned in the changelog")
				}
				restore()
				if got := contents(); !mapsEqual(got, map[string]int64{"b": 2, "c": 1}) {
					t.Errorf("after a restore: %v, want b and c", got)
				}
				if err := d.Advance(6 * time.Second); err != nil { // b: 11 s old, c: 6 s
					t.Fatal(err)
				}
				send("d", 1)
				if !tombstoned(t, d, tbl.Changelog(), "b") {
					t.Errorf("b not tombstoned in the changelog after its TTL")
				}
				restore()
				if got := contents(); !mapsEqual(got, map[string]int64{"c": 1, "d": 1}) {
					t.Errorf("at the end: %v, want c and d", got)
				}
			})
		}
	}
}

// tombstoned reports whether the last changelog record of key (a JSON
// string key) is a tombstone.
func tombstoned(t *testing.T, d *Driver, changelog, key string) bool {
	t.Helper()
	rs, err := d.b.records(changelog)
	if err != nil {
		t.Fatal(err)
	}
	found, del := false, false
	for _, r := range rs {
		if string(r.Key) == key {
			found, del = true, r.Value == nil
		}
	}
	return found && del
}
