package streams

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AgentFunc is an agent's body: it ranges over s (s.Events or s.Take) until
// the stream ends, and returns an error to stop the app.
type AgentFunc[K, V any] func(ctx context.Context, s *Stream[K, V]) error

// AgentOption configures NewAgent.
type AgentOption func(*agentSpec)

// Concurrency runs n instances of the agent (default 1). Partition p of a
// topic goes to instance p mod n, so each partition stays in order. n < 1
// is an invalid declaration (Run returns ErrTopology).
func Concurrency(n int) AgentOption {
	return func(a *agentSpec) { a.concurrency = n }
}

// agentSpec is a declared agent, untyped, as the worker sees it.
type agentSpec struct {
	name        string
	sourceName  string
	topic       *topicSpec   // nil: reads an in-memory channel
	topics      []*topicSpec // further topics it reads (the join processor)
	concurrency int
	// start launches the agent's instances under the worker.
	start func(w *worker) agentRun
}

// agentRun is a running agent.
type agentRun interface {
	// deliver decodes r and queues it for its instance, adding one to b.
	deliver(ctx context.Context, r *kgo.Record, b *batch) error
	// stop closes the instances' inputs; the worker waits for them.
	stop()
}

// Agent is a declared agent. It is also a Sink: sending to an agent sends
// to its source (Faust's agent.send).
type Agent[K, V any] struct {
	app  *App
	spec *agentSpec
	src  Source[K, V]
}

// NewAgent declares an agent named name that runs fn over the events of
// src (Faust's @app.agent). Names are unique within an app.
func NewAgent[K, V any](app *App, name string, src Source[K, V], fn AgentFunc[K, V], opts ...AgentOption) *Agent[K, V] {
	spec := &agentSpec{name: name, sourceName: src.Name(), topic: src.kafkaTopic(), concurrency: 1}
	for _, o := range opts {
		o(spec)
	}
	ag := &Agent[K, V]{app: app, spec: spec, src: src}
	spec.start = func(w *worker) agentRun { return startAgent(w, ag, fn) }
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: agent: %w", ErrTopology, err)
		}
		if spec.concurrency < 1 {
			return fmt.Errorf("%w: agent %s: concurrency %d < 1", ErrTopology, name, spec.concurrency)
		}
		for _, other := range app.agents {
			if other.name == name {
				return fmt.Errorf("%w: two agents named %q", ErrTopology, name)
			}
		}
		app.agents = append(app.agents, spec)
		return nil
	})
	return ag
}

// Name returns the agent's name.
func (a *Agent[K, V]) Name() string { return a.spec.name }

// Send sends key and value to the agent's source (Faust's agent.send; fire
// and forget within a batch, see Sink).
func (a *Agent[K, V]) Send(ctx context.Context, key K, value V, headers ...Header) error {
	if ch := a.src.memory(); ch != nil {
		return ch.Send(ctx, key, value, headers...)
	}
	return a.src.(*Topic[K, V]).Send(ctx, key, value, headers...)
}

// runningAgent is an agent's instances and their inputs.
type runningAgent[K, V any] struct {
	w      *worker
	ag     *Agent[K, V]
	inputs []chan delivery[K, V]
	pumped bool // inputs are closed by pumpChannel, their only sender
	once   sync.Once
	// processed counts the events handed to the instances (nil: no
	// metrics).
	processed prometheus.Counter
}

func startAgent[K, V any](w *worker, ag *Agent[K, V], fn AgentFunc[K, V]) agentRun {
	ra := &runningAgent[K, V]{w: w, ag: ag, processed: w.app.metrics.processedCounter(ag.spec.name)}
	n := ag.spec.concurrency
	ctx := context.WithValue(w.ctx, agentCtxKey{}, &agentCtx{w: w, batched: ag.spec.topic != nil})
	if ch := ag.src.memory(); ch != nil {
		// In-memory channel: the instances share the channel's buffer.
		in := make(chan delivery[K, V])
		ra.inputs, ra.pumped = []chan delivery[K, V]{in}, true
		w.goAgent(func() { ra.pumpChannel(ctx, ch, in) })
		for i := 0; i < n; i++ {
			w.goAgent(func() { ra.runInstance(ctx, fn, in, false) })
		}
		return ra
	}
	for i := 0; i < n; i++ {
		in := make(chan delivery[K, V], 256)
		ra.inputs = append(ra.inputs, in)
		w.goAgent(func() { ra.runInstance(ctx, fn, in, true) })
	}
	return ra
}

// pumpChannel moves a channel's events to the agent's input until the
// channel closes or the worker stops.
func (ra *runningAgent[K, V]) pumpChannel(ctx context.Context, ch *Channel[K, V], in chan delivery[K, V]) {
	defer close(in)
	for ev := range ch.Events(ctx) {
		select {
		case in <- delivery[K, V]{ev: ev}:
			if ra.processed != nil {
				ra.processed.Inc()
			}
		case <-ctx.Done():
			return
		}
	}
}

// runInstance runs fn over one input. A topic-fed agent that returns while
// the worker runs, or any agent that panics, fails the worker.
func (ra *runningAgent[K, V]) runInstance(ctx context.Context, fn AgentFunc[K, V], in chan delivery[K, V], mustRun bool) {
	s := &Stream[K, V]{ctx: ctx, in: in}
	name := ra.ag.spec.name
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				at := "before its first event"
				if c := s.current; c != nil {
					at = fmt.Sprintf("at %s[%d]@%d", c.Topic, c.Partition, c.Offset)
				}
				ra.w.log.Error("streams: agent panicked", "agent", name, "at", at, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("%w: agent %s panicked %s: %v", ErrAgentStopped, name, at, p)
			}
		}()
		return fn(ctx, s)
	}()
	// Fail the worker before finishing the agent's last events, so the
	// batch holding them sees the failure and does not commit.
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		at := ""
		if c := s.current; c != nil {
			at = fmt.Sprintf(" at %s[%d]@%d", c.Topic, c.Partition, c.Offset)
		}
		if !errors.Is(err, ErrAgentStopped) {
			err = fmt.Errorf("%w: agent %s%s: %w", ErrAgentStopped, name, at, err)
		}
		ra.w.fail(err)
	case mustRun && ctx.Err() == nil:
		ra.w.fail(fmt.Errorf("%w: agent %s returned while its topic %s still has events", ErrAgentStopped, name, ra.ag.spec.sourceName))
	}
	s.finish()
	// Drain what is queued so the dispatcher never blocks on a dead
	// instance; the worker has failed, so their batch does not commit.
	for {
		select {
		case d, ok := <-in:
			if !ok {
				return
			}
			if d.done != nil {
				d.done()
			}
		case <-ctx.Done():
			return
		case <-ra.w.failed:
			return
		}
	}
}

func (ra *runningAgent[K, V]) deliver(ctx context.Context, r *kgo.Record, b *batch) error {
	ev, err := ra.ag.src.decode(r)
	if err != nil {
		if errors.Is(err, ErrRegistryUnavailable) {
			// Not the record's fault: fail the batch, do not skip it.
			return fmt.Errorf("streams: agent %s: %s[%d]@%d: %w", ra.ag.spec.name, r.Topic, r.Partition, r.Offset, err)
		}
		return ra.w.decodeError(ctx, ra.ag.spec.name, r, err)
	}
	in := ra.inputs[int(r.Partition)%len(ra.inputs)]
	b.add()
	select {
	case in <- delivery[K, V]{ev: ev, done: b.done}:
		if ra.processed != nil {
			ra.processed.Inc()
		}
		return nil
	case <-ra.w.failed:
		b.done()
		return ra.w.err()
	case <-ctx.Done():
		b.done()
		return ctx.Err()
	}
}

func (ra *runningAgent[K, V]) stop() {
	if ra.pumped {
		return // pumpChannel closes its input when the worker's ctx ends
	}
	ra.once.Do(func() {
		for _, in := range ra.inputs {
			close(in)
		}
	})
}

// sources lists the topics the agent reads.
func (s *agentSpec) sources() []*topicSpec {
	if s.topic == nil {
		return s.topics
	}
	return append([]*topicSpec{s.topic}, s.topics...)
}
