package streams

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// TimerFunc is a timer's body. Its sends are not part of a batch: they are
// acknowledged before they return (see Sink). An error stops the app
// (Run returns it).
type TimerFunc func(ctx context.Context) error

// timerSpec is a declared timer: next returns its first due time after t.
type timerSpec struct {
	name string
	next func(t time.Time) time.Time
	fn   TimerFunc
}

// leaderTopic is the internal topic whose only partition elects the worker
// that runs the app's timers (Faust's APPID-__assignor-__leader).
func leaderTopic(appID string) string { return appID + "-__leader" }

// Every declares a timer that calls fn every interval, on one worker of
// the app at a time (Faust's @app.timer(interval, on_leader=True)): the
// worker assigned the only partition of the internal topic APPID-__leader,
// which every worker subscribes to. The first call comes one interval after
// that worker became the leader; the interval is measured on the app's
// clock (the Clock option; the Driver's fake clock).
func Every(app *App, name string, interval time.Duration, fn TimerFunc) {
	declareTimer(app, name, fn, func() (func(time.Time) time.Time, error) {
		if interval <= 0 {
			return nil, fmt.Errorf("interval %v <= 0", interval)
		}
		return func(t time.Time) time.Time { return t.Add(interval) }, nil
	})
}

// Crontab declares a timer that calls fn at the times of a standard
// five-field cron spec ("*/5 * * * *"; descriptors such as "@hourly" and a
// "CRON_TZ=Europe/Paris " prefix too), in the app clock's time zone, on one
// worker of the app at a time, as Every (Faust's @app.crontab).
func Crontab(app *App, name string, spec string, fn TimerFunc) {
	declareTimer(app, name, fn, func() (func(time.Time) time.Time, error) {
		s, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, fmt.Errorf("cron spec %q: %w", spec, err)
		}
		return s.Next, nil
	})
}

func declareTimer(app *App, name string, fn TimerFunc, sched func() (func(time.Time) time.Time, error)) {
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: timer: %w", ErrTopology, err)
		}
		if fn == nil {
			return fmt.Errorf("%w: timer %s: nil function", ErrTopology, name)
		}
		next, err := sched()
		if err != nil {
			return fmt.Errorf("%w: timer %s: %w", ErrTopology, name, err)
		}
		for _, t := range app.timers {
			if t.name == name {
				return fmt.Errorf("%w: two timers named %q", ErrTopology, name)
			}
		}
		lt := leaderTopic(app.id)
		if _, ok := app.topics[lt]; !ok {
			app.topics[lt] = &topicSpec{name: lt, partitions: 1, internal: true}
		}
		app.timers = append(app.timers, &timerSpec{name: name, next: next, fn: fn})
		return nil
	})
}

// Now returns the time on the app's clock (the Clock option, or the
// Driver's fake clock).
func (a *App) Now() time.Time { return a.cfg.now() }

// timers runs the app's timers while this worker is the leader.
type timers struct {
	w      *worker
	mu     sync.Mutex
	cancel context.CancelFunc // non-nil while running
	wg     sync.WaitGroup
}

// start runs every timer in its own goroutine until stop.
func (ts *timers) start() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cancel != nil || len(ts.w.app.timers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(ts.w.ctx)
	ts.cancel = cancel
	ts.w.log.Info("streams: leader: starting timers", "timers", len(ts.w.app.timers))
	for _, t := range ts.w.app.timers {
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			ts.run(ctx, t)
		}()
	}
}

// stop stops the timers and waits for them.
func (ts *timers) stop() {
	ts.mu.Lock()
	cancel := ts.cancel
	ts.cancel = nil
	ts.mu.Unlock()
	if cancel != nil {
		cancel()
		ts.wg.Wait()
		ts.w.log.Info("streams: timers stopped")
	}
}

func (ts *timers) run(ctx context.Context, t *timerSpec) {
	now := ts.w.cfg.now
	due := t.next(now())
	for {
		timer := time.NewTimer(due.Sub(now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if err := ts.w.fire(ctx, t); err != nil {
			if ctx.Err() == nil {
				ts.w.fail(err)
			}
			return
		}
		due = t.next(due)
		if n := now(); due.Before(n) {
			due = t.next(n) // late (a slow call or a clock jump): skip the missed times
		}
	}
}

// fire calls a timer's function, turning a panic into an error.
func (w *worker) fire(ctx context.Context, t *timerSpec) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("streams: timer panicked", "timer", t.name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: timer %s panicked: %v", ErrAgentStopped, t.name, p)
		}
	}()
	if err := t.fn(ctx); err != nil {
		return fmt.Errorf("streams: timer %s: %w", t.name, err)
	}
	return nil
}
