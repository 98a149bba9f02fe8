package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-io/sluice/streams"
)

// TestPageViewsDriver runs the example's topology in memory (record
// timestamps are the Driver's fake clock): each window's final count is
// written once, when a record of its partition passes its end plus grace,
// and a view later than that is not counted.
func TestPageViewsDriver(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			start := time.UnixMilli(600_000) // a window boundary
			app, err := streams.NewApp("pageviews", streams.InMemoryState(), streams.ProcessingGuarantee(g),
				streams.TopicPartitions(1), streams.Clock(func() time.Time { return start }),
				streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			pv := Topology(app, time.Minute, 10*time.Second)
			d, err := streams.NewDriver(app)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			view := func(pages ...string) {
				t.Helper()
				for _, p := range pages {
					if err := pv.Views.Send(ctx, p, nil); err != nil {
						t.Fatal(err)
					}
				}
				if err := d.Process(); err != nil {
					t.Fatal(err)
				}
			}
			advance := func(dur time.Duration) {
				t.Helper()
				if err := d.Advance(dur); err != nil {
					t.Fatal(err)
				}
			}
			view("home", "home")
			advance(30 * time.Second)
			view("home", "about")
			advance(39 * time.Second) // 69 s: [0, 60 s) is still open (grace)
			view("about")
			out, err := streams.Output(d, pv.Counts)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 0 {
				t.Fatalf("final results before the window closed: %v", out)
			}
			advance(time.Second) // 70 s = end + grace: closes [0, 60 s)
			view("home")
			out, err = streams.Output(d, pv.Counts)
			if err != nil {
				t.Fatal(err)
			}
			s := start.UnixMilli()
			want := []string{"about {600000 660000 1}", "home {600000 660000 3}"}
			var got []string
			for _, ev := range out {
				got = append(got, ev.Key+" "+fmtCount(ev.Value))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("final results %v, want %v (window start %d)", got, want, s)
			}
			if open := pv.Table.Key(0, "about", d.Now()).Current(); open != 1 {
				t.Errorf("about's current window: %d, want 1", open)
			}
		})
	}
}

func fmtCount(c Count) string {
	return "{" + itoa(c.WindowStart) + " " + itoa(c.WindowEnd) + " " + itoa(c.Count) + "}"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestWindowFlags: --window and --grace are taken out of the arguments,
// the rest go to streams.MainArgs.
func TestWindowFlags(t *testing.T) {
	w, g := time.Minute, 10*time.Second
	rest, err := windowFlags([]string{"--brokers", "h:1", "--window", "2s", "-grace=300ms", "worker"}, &w, &g)
	if err != nil {
		t.Fatal(err)
	}
	if w != 2*time.Second || g != 300*time.Millisecond || !slices.Equal(rest, []string{"--brokers", "h:1", "worker"}) {
		t.Errorf("window %v grace %v rest %v", w, g, rest)
	}
	if _, err := windowFlags([]string{"--window", "0s"}, &w, &g); err == nil {
		t.Error("--window 0s accepted")
	}
	if _, err := windowFlags([]string{"--grace"}, &w, &g); err == nil {
		t.Error("--grace without a value accepted")
	}
}
