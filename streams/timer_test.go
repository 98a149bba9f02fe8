package streams_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

func TestDriverTimers(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	app, err := streams.NewApp("timers", streams.Logger(quiet()), streams.InMemoryState(),
		streams.Clock(func() time.Time { return start }), streams.TopicPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	ticks := streams.NewTopic(app, "ticks", codec.String(), codec.String())
	seen := streams.NewTopic(app, "seen", codec.String(), codec.String())
	streams.Every(app, "every", time.Minute, func(ctx context.Context) error {
		return ticks.Send(ctx, "every", app.Now().Format(time.TimeOnly))
	})
	streams.Crontab(app, "cron", "*/5 * * * *", func(ctx context.Context) error {
		return ticks.Send(ctx, "cron", app.Now().Format(time.TimeOnly))
	})
	// An agent sees each tick before the next timer fires.
	streams.NewAgent(app, "echo", ticks, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			if err := seen.Send(ctx, ev.Key, ev.Value+"@"+ev.Timestamp.Format(time.TimeOnly)); err != nil {
				return err
			}
		}
		return nil
	})
	d := newDriver(t, app)
	if err := d.Advance(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	evs, err := streams.Output(d, seen)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Key+" "+ev.Value)
	}
	want := []string{
		"every 03:05:05@03:05:05", "cron 03:05:00@03:05:00",
		"every 03:06:05@03:06:05", "every 03:07:05@03:07:05", "every 03:08:05@03:08:05",
		"every 03:09:05@03:09:05", "cron 03:10:00@03:10:00", "every 03:10:05@03:10:05",
		"every 03:11:05@03:11:05", "every 03:12:05@03:12:05", "every 03:13:05@03:13:05",
		"every 03:14:05@03:14:05",
	}
	// Within one instant the order of timers is unspecified; 03:05:00 < 03:05:05.
	want[0], want[1] = want[1], want[0]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if !d.Now().Equal(start.Add(10 * time.Minute)) {
		t.Fatalf("clock %v, want %v", d.Now(), start.Add(10*time.Minute))
	}
}

func TestTimerErrors(t *testing.T) {
	app, err := streams.NewApp("bad", streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	streams.Crontab(app, "c", "not a cron spec", func(context.Context) error { return nil })
	if _, err := streams.NewDriver(app); !errors.Is(err, streams.ErrTopology) {
		t.Fatalf("NewDriver = %v, want ErrTopology for a bad cron spec", err)
	}

	app, _ = streams.NewApp("failing", streams.Logger(quiet()), streams.InMemoryState())
	boom := errors.New("boom")
	streams.Every(app, "e", time.Second, func(context.Context) error { return boom })
	d := newDriver(t, app)
	if err := d.Advance(time.Second); !errors.Is(err, boom) {
		t.Fatalf("Advance = %v, want the timer's error", err)
	}
}

// TestTimersRunOnOneWorker runs two workers of one app against a broker:
// the timer fires on the worker that owns partition 0 of APPID-__leader
// only, and moves to the other when that worker stops.
func TestTimersRunOnOneWorker(t *testing.T) {
	addr := embed.ForTest(t)
	type fire struct{ worker int }
	fires := make(chan fire, 1000)
	var apps []*streams.App
	for i := range 2 {
		app, err := streams.NewApp("leader", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState(),
			streams.InstanceID(fmt.Sprint("w", i)))
		if err != nil {
			t.Fatal(err)
		}
		streams.Every(app, "tick", 50*time.Millisecond, func(ctx context.Context) error {
			select {
			case fires <- fire{i}:
			default:
			}
			return nil
		})
		apps = append(apps, app)
	}
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, 2)
	errs := make([]error, 2)
	for i, app := range apps {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = app.Run(ctx) }()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	next := func() int {
		select {
		case f := <-fires:
			return f.worker
		case <-time.After(60 * time.Second):
			t.Fatal("no timer fired within 60 s")
		}
		return -1
	}
	// 40 firings: one worker's, or one worker's then the other's (the
	// leader partition may move once while the second worker joins);
	// two workers running the timer would interleave.
	var seq []int
	switches := 0
	for range 40 {
		w := next()
		if len(seq) > 0 && seq[len(seq)-1] != w {
			switches++
		}
		seq = append(seq, w)
	}
	if switches > 1 {
		t.Fatalf("timer ran on both workers at once: %v", seq)
	}
	leader := seq[len(seq)-1]
	cancels[leader]()
	// The other worker takes over once the group rebalances.
	for {
		if next() == 1-leader {
			break
		}
	}
	for range 10 {
		if w := next(); w != 1-leader {
			t.Fatalf("worker %d fired after it stopped", w)
		}
	}
}
