package streams

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrChannelClosed is returned by Put on a closed channel.
var ErrChannelClosed = errors.New("streams: channel closed")

// Channel is an in-memory channel of events, Faust's app.channel(): a
// bounded buffer that Put fills and an agent (or a range over Events)
// drains. It is not durable and not shared between processes; a Topic is
// the durable, partitioned channel.
type Channel[K, V any] struct {
	name string
	ch   chan Event[K, V]

	mu       sync.RWMutex // Put holds it shared, Close exclusively
	closed   bool
	seq      atomic.Int64
	done     chan struct{} // closed first by Close, to wake blocked Puts
	doneOnce sync.Once
}

// NewChannel returns a channel that buffers up to capacity events (Put
// blocks when it is full). Its name shows in logs and Agents.
func NewChannel[K, V any](name string, capacity int) *Channel[K, V] {
	if capacity < 0 {
		capacity = 0
	}
	return &Channel[K, V]{name: name, ch: make(chan Event[K, V], capacity), done: make(chan struct{})}
}

// Name returns the channel's name.
func (c *Channel[K, V]) Name() string { return c.name }

func (c *Channel[K, V]) kafkaTopic() *topicSpec { return nil }
func (c *Channel[K, V]) memory() *Channel[K, V] { return c }
func (c *Channel[K, V]) decode(*kgo.Record) (Event[K, V], error) {
	panic("streams: decode on a channel")
}

// Put adds an event, waiting while the buffer is full. It fails on a closed
// channel or when ctx is done.
func (c *Channel[K, V]) Put(ctx context.Context, ev Event[K, V]) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrChannelClosed
	}
	if ev.Topic == "" {
		ev.Topic = c.name
	}
	select {
	case c.ch <- ev:
		return nil
	case <-c.done:
		return ErrChannelClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send puts an event with key, value and headers (Channel is a Sink).
func (c *Channel[K, V]) Send(ctx context.Context, key K, value V, headers ...Header) error {
	return c.Put(ctx, Event[K, V]{Key: key, Value: value, Headers: headers, Offset: c.seq.Add(1)})
}

// Close ends the channel: readers see its buffered events, then the end.
func (c *Channel[K, V]) Close() {
	c.doneOnce.Do(func() { close(c.done) }) // blocked Puts return, releasing mu
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.ch)
	}
}

// Events ranges over the channel's events until it is closed or ctx is
// done, for reading a channel outside an agent.
func (c *Channel[K, V]) Events(ctx context.Context) func(func(Event[K, V]) bool) {
	return func(yield func(Event[K, V]) bool) {
		for {
			select {
			case ev, ok := <-c.ch:
				if !ok || !yield(ev) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}
