package streams

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Driver runs an app in memory, with no broker: Faust's
// agent.test_context() and Kafka Streams' TopologyTestDriver. Its topics
// are in-memory logs (created as Run would create them), the worker owns
// every partition, and the worker's own batch cycle runs over them, so
// agents, tables, processing guarantees and decode-error handlers behave
// as against Kafka. Its clock is fake: time moves only by Advance.
//
//	d, err := streams.NewDriver(app)
//	defer d.Close()
//	lines.Send(ctx, "", "a b a")  // from outside an agent: into the log
//	err = d.Process()             // run batches until every input is consumed
//	out, err := streams.Output(d, counts)
//
// A Driver is not safe for concurrent use; agents reading in-memory
// Channels run on their own, not under Process.
type Driver struct {
	app   *App
	b     *memBroker
	w     *worker
	clock *fakeClock
	ctx   context.Context
	stop  context.CancelFunc
	once  sync.Once
	due   []time.Time // the next due time of each of app.timers
}

// fakeClock is the Driver's clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// NewDriver starts app in memory instead of Run. The fake clock starts at
// the app's clock's time (see the Clock option). The app cannot Run
// afterwards.
func NewDriver(app *App) (*Driver, error) {
	app.mu.Lock()
	if app.started {
		app.mu.Unlock()
		return nil, ErrStarted
	}
	app.started = true
	if app.declErr != nil {
		err := app.declErr
		app.mu.Unlock()
		return nil, err
	}
	clock := &fakeClock{t: app.cfg.now()}
	app.cfg.now = clock.now
	app.mem = newMemBroker(app)
	app.mu.Unlock()

	ctx, stop := context.WithCancel(context.Background())
	w, err := newWorker(ctx, app)
	if err != nil {
		stop()
		return nil, err
	}
	d := &Driver{app: app, b: app.mem, w: w, clock: clock, ctx: ctx, stop: stop}
	app.mu.Lock()
	app.w = w
	app.driver = d
	app.mu.Unlock()
	w.manualTimers = true
	d.due = make([]time.Time, len(app.timers))
	for i, t := range app.timers {
		d.due[i] = t.next(clock.now())
	}
	w.start()
	w.onAssigned(ctx, nil, w.tr.(*memTransport).assignment())
	if err := w.restorePending(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Now returns the fake clock's time.
func (d *Driver) Now() time.Time { return d.clock.now() }

// Process runs batches until every record of the topics the agents read
// has been processed (records the agents send to topics that agents read
// included), and returns the first error of an agent, a table or a
// decode-error handler, as Run would.
func (d *Driver) Process() error {
	for {
		n, err := d.w.step()
		if err != nil {
			return err
		}
		if d.ctx.Err() != nil {
			return fmt.Errorf("streams: driver closed: %w", d.ctx.Err())
		}
		if n == 0 {
			return nil
		}
	}
}

// Advance moves the fake clock forward by dur. The app's timers due on
// the way fire in time order, each at its due time (the clock reads it)
// and followed by Process; then Process runs at the new time. The Driver's
// worker is the app's leader: every timer fires.
func (d *Driver) Advance(dur time.Duration) error {
	target := d.clock.now().Add(dur)
	for {
		i := -1
		for j, due := range d.due {
			if !due.After(target) && (i < 0 || due.Before(d.due[i])) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		t := d.app.timers[i]
		d.clock.set(d.due[i])
		d.due[i] = t.next(d.due[i])
		if err := d.w.fire(d.ctx, t); err != nil {
			return err
		}
		if err := d.Process(); err != nil {
			return err
		}
	}
	d.clock.set(target)
	return d.Process()
}

// Close stops the agents and releases the app's tables.
func (d *Driver) Close() {
	d.once.Do(func() {
		d.w.shutdown()
		d.stop()
		d.app.mu.Lock()
		d.app.w = nil
		d.app.mu.Unlock()
	})
}

// Output returns every record of topic t that a read_committed consumer
// sees, decoded, in the order they were appended.
func Output[K, V any](d *Driver, t *Topic[K, V]) ([]Event[K, V], error) {
	rs, err := d.b.records(t.Name())
	if err != nil {
		return nil, err
	}
	out := make([]Event[K, V], 0, len(rs))
	for _, r := range rs {
		ev, err := t.decode(r)
		if err != nil {
			return nil, fmt.Errorf("streams: %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// TableContents returns every key and value of table t, all partitions
// merged (the Driver's worker owns them all).
func TableContents[K comparable, V any](d *Driver, t *Table[K, V]) (map[K]V, error) {
	tc := t.spec.core
	tc.mu.Lock()
	ps := make([]int32, 0, len(tc.parts))
	for p := range tc.parts {
		ps = append(ps, p)
	}
	tc.mu.Unlock()
	out := map[K]V{}
	for _, p := range ps {
		for k, v := range t.Items(p) {
			out[k] = v
		}
	}
	if err := tc.stickyErr(); err != nil {
		return nil, err
	}
	return out, nil
}
