package streams

import (
	"context"
	"iter"
	"time"
)

// delivery is an event handed to an agent instance, with the function that
// tells the worker the agent is done with it.
type delivery[K, V any] struct {
	ev   Event[K, V]
	done func() // nil for channel events
}

// Stream is the sequence of events one agent instance reads. An event
// counts as processed when the agent asks for the next one (or, for Take,
// the next batch): that is when the worker may commit it.
type Stream[K, V any] struct {
	ctx     context.Context
	in      <-chan delivery[K, V]
	pending []func()
	current *Event[K, V]
}

// finish marks every event handed out as processed. The iterators call it
// when the agent asks for more; the events of an agent that stops (break,
// error, panic) are finished by runInstance only after the worker has
// failed, so their batch never commits.
func (s *Stream[K, V]) finish() {
	for _, d := range s.pending {
		if d != nil {
			d()
		}
	}
	s.pending = s.pending[:0]
	// current stays: a panic unwinding through the iterator runs finish,
	// and the agent's recover still names the event.
}

// next waits for the next delivery; ok is false at the end of the stream
// (ctx done or input closed), timedOut when timeout fired first.
func (s *Stream[K, V]) next(timeout <-chan time.Time) (d delivery[K, V], ok, timedOut bool) {
	select {
	case d, ok = <-s.in:
		return d, ok, false
	case <-s.ctx.Done():
		return d, false, false
	case <-timeout:
		return d, false, true
	}
}

// tryNext is next without waiting: timedOut when no delivery is ready.
func (s *Stream[K, V]) tryNext() (d delivery[K, V], ok, timedOut bool) {
	select {
	case d, ok = <-s.in:
		return d, ok, false
	default:
		return d, false, true
	}
}

// Events ranges over the stream's events, in order per partition. Breaking
// out of the loop ends the agent's reading; an agent that reads a topic
// must not stop while the app runs (Run fails with ErrAgentStopped).
func (s *Stream[K, V]) Events() iter.Seq[Event[K, V]] {
	return func(yield func(Event[K, V]) bool) {
		for {
			s.finish()
			d, ok, _ := s.next(nil)
			if !ok {
				return
			}
			s.pending = append(s.pending, d.done)
			s.current = &d.ev
			if !yield(d.ev) {
				return
			}
		}
	}
}

// Take ranges over batches of up to n events: a batch is yielded when it
// holds n events or within has passed since its first event (Faust's
// stream.take(n, within)); with within <= 0, as soon as no further event
// is waiting. Its events count as processed when the next batch is asked
// for, so a partial batch holds up the worker's commit for at most within.
func (s *Stream[K, V]) Take(n int, within time.Duration) iter.Seq[[]Event[K, V]] {
	if n < 1 {
		n = 1
	}
	return func(yield func([]Event[K, V]) bool) {
		for {
			s.finish()
			var buf []Event[K, V]
			var timer *time.Timer
			var timeout <-chan time.Time
			end := false
			for len(buf) < n {
				var d delivery[K, V]
				var ok, timedOut bool
				if within <= 0 && len(buf) > 0 {
					// Without a window, yield once no event is waiting:
					// a worker's batch must be able to end.
					d, ok, timedOut = s.tryNext()
				} else {
					d, ok, timedOut = s.next(timeout)
				}
				if timedOut {
					break
				}
				if !ok {
					end = true
					break
				}
				s.pending = append(s.pending, d.done)
				buf = append(buf, d.ev)
				if timer == nil && within > 0 {
					timer = time.NewTimer(within)
					timeout = timer.C
				}
			}
			if timer != nil {
				timer.Stop()
			}
			if len(buf) > 0 {
				s.current = &buf[len(buf)-1]
				if !yield(buf) {
					return
				}
			}
			if end {
				return
			}
		}
	}
}

// Filter yields the values of seq for which keep is true.
func Filter[T any](seq iter.Seq[T], keep func(T) bool) iter.Seq[T] {
	return func(yield func(T) bool) {
		for v := range seq {
			if keep(v) && !yield(v) {
				return
			}
		}
	}
}

// Map yields f of each value of seq.
func Map[T, U any](seq iter.Seq[T], f func(T) U) iter.Seq[U] {
	return func(yield func(U) bool) {
		for v := range seq {
			if !yield(f(v)) {
				return
			}
		}
	}
}

// FlatMap yields every value of f of each value of seq.
func FlatMap[T, U any](seq iter.Seq[T], f func(T) []U) iter.Seq[U] {
	return func(yield func(U) bool) {
		for v := range seq {
			for _, u := range f(v) {
				if !yield(u) {
					return
				}
			}
		}
	}
}

// Enumerate yields each value of seq with its index from 0 (Faust's
// stream.enumerate()).
func Enumerate[T any](seq iter.Seq[T]) iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		i := 0
		for v := range seq {
			if !yield(i, v) {
				return
			}
			i++
		}
	}
}
