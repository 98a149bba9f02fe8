package streams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

func newDriver(t *testing.T, app *streams.App) *streams.Driver {
	t.Helper()
	d, err := streams.NewDriver(app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestDriverWordCount(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			app := wordcount(t, "unused:9092", t.TempDir(), g, streams.InMemoryState(), streams.Clock(func() time.Time { return start }))
			d := newDriver(t, app)
			lines := streams.NewTopic(app, "words-in", codec.String(), codec.String()) // same declaration, shared
			out := streams.NewTopic(app, "word-counts", codec.String(), codec.JSON[int64]())
			ctx := context.Background()
			for _, l := range []string{"a b a", "c a", "b"} {
				if err := lines.Send(ctx, "", l); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Process(); err != nil {
				t.Fatal(err)
			}
			evs, err := streams.Output(d, out)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]int64{}
			for _, ev := range evs {
				got[ev.Key] = append(got[ev.Key], ev.Value)
				if !ev.Timestamp.Equal(start) {
					t.Errorf("timestamp %v, want the fake clock's %v", ev.Timestamp, start)
				}
			}
			checkSequences(t, got, map[string]int64{"a": 3, "b": 2, "c": 1})

			// More input after a clock step: counts continue from the table.
			if err := d.Advance(time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := lines.Send(ctx, "", "a"); err != nil {
				t.Fatal(err)
			}
			if err := d.Process(); err != nil {
				t.Fatal(err)
			}
			evs, _ = streams.Output(d, out)
			last := evs[len(evs)-1]
			if last.Key != "a" || last.Value != 4 || !last.Timestamp.Equal(start.Add(time.Hour)) {
				t.Errorf("last output %+v, want a=4 at %v", last, start.Add(time.Hour))
			}
			counts := app.Tables()[0]
			if counts.Name != "counts" {
				t.Fatalf("tables %v", app.Tables())
			}
			if s := app.Stats(); s.Batches == 0 || s.Events != 4+7 {
				t.Errorf("stats %+v, want 11 events (4 lines, 7 words) in batches", s)
			}
		})
	}
}

func TestDriverTableContents(t *testing.T) {
	app, err := streams.NewApp("tc", streams.Logger(quiet()), streams.InMemoryState(), streams.TopicPartitions(4))
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.String(), codec.String())
	tab := streams.NewTable(app, "last", in, codec.String(), codec.String())
	streams.NewAgent(app, "keep", in, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			var err error
			if ev.Value == "" {
				err = tab.Delete(ctx, ev.Partition, ev.Key)
			} else {
				err = tab.Set(ctx, ev.Partition, ev.Key, ev.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	d := newDriver(t, app)
	ctx := context.Background()
	for _, kv := range [][2]string{{"k1", "a"}, {"k2", "b"}, {"k1", "c"}, {"k3", "d"}, {"k2", ""}} {
		if err := in.Send(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Process(); err != nil {
		t.Fatal(err)
	}
	got, err := streams.TableContents(d, tab)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["k1"] != "c" || got["k3"] != "d" {
		t.Fatalf("table = %v, want k1=c k3=d", got)
	}
	cl := streams.NewTopic(app, tab.Changelog(), codec.String(), codec.String())
	evs, err := streams.Output(d, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 {
		t.Fatalf("changelog has %d records, want 5", len(evs))
	}
}

func TestDriverAgentPanic(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			app, err := streams.NewApp("panicky", streams.Logger(quiet()), streams.InMemoryState(), streams.ProcessingGuarantee(g), streams.TopicPartitions(1))
			if err != nil {
				t.Fatal(err)
			}
			in := streams.NewTopic(app, "in", codec.String(), codec.String())
			out := streams.NewTopic(app, "out", codec.String(), codec.String())
			streams.NewAgent(app, "p", in, func(ctx context.Context, s *streams.Stream[string, string]) error {
				for ev := range s.Events() {
					if ev.Value == "boom" {
						panic("boom")
					}
					if err := out.Send(ctx, "", ev.Value); err != nil {
						return err
					}
				}
				return nil
			})
			d := newDriver(t, app)
			ctx := context.Background()
			in.Send(ctx, "", "ok")
			in.Send(ctx, "", "boom")
			err = d.Process()
			if !errors.Is(err, streams.ErrAgentStopped) || !strings.Contains(err.Error(), "in[0]@1") {
				t.Fatalf("Process = %v, want ErrAgentStopped at in[0]@1", err)
			}
			evs, err := streams.Output(d, out)
			if err != nil {
				t.Fatal(err)
			}
			// Exactly-once: the failed batch's send is aborted with it.
			want := 1
			if g == streams.ExactlyOnce {
				want = 0
			}
			if len(evs) != want {
				t.Fatalf("out has %d records, want %d", len(evs), want)
			}
		})
	}
}
