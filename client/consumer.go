package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a consumed record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Timestamp is the producer's timestamp (or the broker's, for topics
	// with message.timestamp.type=LogAppendTime).
	Timestamp time.Time
}

// KeyString is the key as a string.
func (r Record) KeyString() string { return string(r.Key) }

// ValueString is the value as a string.
func (r Record) ValueString() string { return string(r.Value) }

type offsetKind int

const (
	offBeginning offsetKind = iota
	offEnd
	offAbsolute
	offFromBeginning
	offFromEnd
	offCommitted
)

// Offset is where a stream starts.
type Offset struct {
	kind  offsetKind
	n     int64
	group string
}

// Beginning starts at the oldest record.
func Beginning() Offset { return Offset{kind: offBeginning} }

// End starts after the newest record: only records produced from now on.
func End() Offset { return Offset{kind: offEnd} }

// Absolute starts at offset n of every partition.
func Absolute(n int64) Offset { return Offset{kind: offAbsolute, n: n} }

// FromBeginning starts n records after the oldest one.
func FromBeginning(n int64) Offset { return Offset{kind: offFromBeginning, n: n} }

// FromEnd starts n records before the end (the last n records).
func FromEnd(n int64) Offset { return Offset{kind: offFromEnd, n: n} }

// Committed consumes as a member of group from its committed offsets
// (from the beginning where none is committed), committing as it goes.
func Committed(group string) Offset { return Offset{kind: offCommitted, group: group} }

func (o Offset) kgo() kgo.Offset {
	switch o.kind {
	case offEnd:
		return kgo.NewOffset().AtEnd()
	case offAbsolute:
		return kgo.NewOffset().At(o.n)
	case offFromBeginning:
		return kgo.NewOffset().AtStart().Relative(o.n)
	case offFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-o.n)
	default:
		return kgo.NewOffset().AtStart()
	}
}

// Consumer reads one topic.
type Consumer struct {
	c          *Client
	topic      string
	partitions []int32
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer) error

// Partitions limits the consumer to some partitions (default: all).
func Partitions(ps ...int32) ConsumerOption {
	return func(c *Consumer) error {
		for _, p := range ps {
			if p < 0 {
				return fmt.Errorf("partition %d is negative", p)
			}
		}
		c.partitions = append(c.partitions, ps...)
		return nil
	}
}

// Consumer creates a consumer of topic.
func (c *Client) Consumer(topic string, opts ...ConsumerOption) (*Consumer, error) {
	if topic == "" {
		return nil, errors.New("client: consumer needs a topic")
	}
	cs := &Consumer{c: c, topic: topic}
	for _, o := range opts {
		if err := o(cs); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return cs, nil
}

// Stream yields records from off until ctx is done or the loop stops.
// Fetch errors are yielded too; the stream goes on after them unless the
// loop breaks.
func (cs *Consumer) Stream(ctx context.Context, off Offset) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		var opts []kgo.Opt
		switch {
		case off.kind == offCommitted:
			if len(cs.partitions) > 0 {
				yield(Record{}, errors.New("client: a group consumer reads every partition the group assigns it"))
				return
			}
			opts = append(opts, kgo.ConsumeTopics(cs.topic), kgo.ConsumerGroup(off.group),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		case len(cs.partitions) > 0:
			parts := map[int32]kgo.Offset{}
			for _, p := range cs.partitions {
				parts[p] = off.kgo()
			}
			opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cs.topic: parts}))
		default:
			opts = append(opts, kgo.ConsumeTopics(cs.topic), kgo.ConsumeResetOffset(off.kgo()))
		}
		cl, err := cs.c.kgoClient(opts...)
		if err != nil {
			yield(Record{}, err)
			return
		}
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			for _, e := range fs.Errors() {
				if errors.Is(e.Err, context.Canceled) {
					return
				}
				if !yield(Record{}, fmt.Errorf("client: fetching %s[%d]: %w", e.Topic, e.Partition, e.Err)) {
					return
				}
			}
			for it := fs.RecordIter(); !it.Done(); {
				if !yield(fromKgo(it.Next()), nil) {
					return
				}
			}
		}
	}
}

// Channel runs Stream in a goroutine and delivers its records on the
// returned channel, which is closed when ctx is done; the first fetch
// error ends the stream and is returned by the err function after the
// channel closes.
func (cs *Consumer) Channel(ctx context.Context, off Offset) (<-chan Record, func() error) {
	ch := make(chan Record, 64)
	var streamErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for rec, err := range cs.Stream(ctx, off) {
			if err != nil {
				streamErr = err
				return
			}
			select {
			case ch <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, func() error { <-done; return streamErr }
}

func fromKgo(r *kgo.Record) Record {
	rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return rec
}
