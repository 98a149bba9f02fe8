package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
)

// Event is one record of a stream, decoded.
type Event[K, V any] struct {
	Key       K
	Value     V
	Headers   []Header
	Timestamp time.Time
	// Topic, Partition and Offset locate the record; for events of an
	// in-memory Channel, Topic is the channel's name and Partition and
	// Offset are 0 and the event's sequence number.
	Topic     string
	Partition int32
	Offset    int64
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Sink is anything events can be sent to: a Topic, a Channel or an Agent.
type Sink[K, V any] interface {
	// Send delivers key and value. To a Topic from inside an agent that
	// reads a topic (ctx is the one its function got), the send is part
	// of the current batch's effects: acknowledged before the batch's
	// offsets commit (AtLeastOnce), or in its transaction (ExactlyOnce).
	// A send to a Channel (or to an agent reading one) is only buffered in
	// memory: it is not durable, and not part of any batch.
	Send(ctx context.Context, key K, value V, headers ...Header) error
}

// Source is what an agent reads: a Topic or a Channel.
type Source[K, V any] interface {
	// Name is the topic's or the channel's name.
	Name() string
	kafkaTopic() *topicSpec // nil for in-memory channels
	memory() *Channel[K, V] // nil for topics
	decode(r *kgo.Record) (Event[K, V], error)
}

// topicSpec is a topic as the app declared it (untyped).
type topicSpec struct {
	name        string
	partitions  int32 // 0: the app's default when created; any when checked
	replication int16 // 0: the app's default
	configs     map[string]*string
	internal    bool       // the app's own: created on demand
	copartOf    *topicSpec // partitions taken from this topic (changelogs, repartition topics)
}

// TopicOption configures NewTopic.
type TopicOption func(*topicSpec)

// Partitions declares the topic's partition count: it is created with it,
// or Run fails when the existing topic has another.
func Partitions(n int32) TopicOption { return func(t *topicSpec) { t.partitions = n } }

// Replication sets the replication factor the topic is created with.
func Replication(n int16) TopicOption { return func(t *topicSpec) { t.replication = n } }

// Config sets a topic config the topic is created with
// (e.g. Config("retention.ms", "3600000")).
func Config(name, value string) TopicOption {
	return func(t *topicSpec) {
		if t.configs == nil {
			t.configs = map[string]*string{}
		}
		v := value
		t.configs[name] = &v
	}
}

// Internal marks a topic as the app's own: Reset deletes it. (Run creates
// every declared topic that is missing, internal or not, with its declared
// partitions, or the app's TopicPartitions.)
func Internal() TopicOption { return func(t *topicSpec) { t.internal = true } }

// Topic is a Kafka topic with typed keys and values, the named channel of
// Faust: its partitions are shared out among the workers of an app.
type Topic[K, V any] struct {
	app   *App
	spec  *topicSpec
	key   codec.Codec[K]
	value codec.Codec[V]
	// eventTime, when set, gives events their Timestamp (see EventTime).
	eventTime func(key K, value V, recordTime time.Time) time.Time
}

// NewTopic declares a topic of the app. Declaring the same name twice
// shares one declaration (options add up). An invalid declaration is
// reported by Run (ErrTopology).
func NewTopic[K, V any](app *App, name string, key codec.Codec[K], value codec.Codec[V], opts ...TopicOption) *Topic[K, V] {
	t := &Topic[K, V]{app: app, key: bindCodec(key, name), value: bindCodec(value, name), spec: &topicSpec{name: name}}
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: topic: %w", ErrTopology, err)
		}
		spec := app.topics[name]
		if spec == nil {
			spec = &topicSpec{name: name}
			app.topics[name] = spec
		}
		for _, o := range opts {
			o(spec)
		}
		t.spec = spec
		return nil
	})
	return t
}

// Name returns the topic's name.
func (t *Topic[K, V]) Name() string { return t.spec.name }

func (t *Topic[K, V]) kafkaTopic() *topicSpec { return t.spec }
func (t *Topic[K, V]) memory() *Channel[K, V] { return nil }

func (t *Topic[K, V]) decode(r *kgo.Record) (Event[K, V], error) {
	ev := Event[K, V]{Timestamp: r.Timestamp, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	var err error
	if r.Key != nil {
		if ev.Key, err = t.key.Decode(r.Key); err != nil {
			return ev, fmt.Errorf("key: %w", err)
		}
	}
	if r.Value != nil {
		if ev.Value, err = t.value.Decode(r.Value); err != nil {
			return ev, fmt.Errorf("value: %w", err)
		}
	}
	if len(r.Headers) > 0 {
		ev.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			ev.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	if t.eventTime != nil {
		ev.Timestamp = t.eventTime(ev.Key, ev.Value, r.Timestamp)
	}
	return ev, nil
}

// record encodes key and value into a record for this topic.
func (t *Topic[K, V]) record(key K, value V, headers []Header) (*kgo.Record, error) {
	kb, err := t.key.Encode(key)
	if err != nil {
		return nil, fmt.Errorf("streams: topic %s: key: %w", t.spec.name, err)
	}
	vb, err := t.value.Encode(value)
	if err != nil {
		return nil, fmt.Errorf("streams: topic %s: value: %w", t.spec.name, err)
	}
	r := &kgo.Record{Topic: t.spec.name, Key: kb, Value: vb}
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r, nil
}

// Send produces key and value to the topic. Inside an agent's batch it is
// one of the batch's effects (see Sink) and returns once the record is
// queued; anywhere else it waits for the broker's acknowledgement.
func (t *Topic[K, V]) Send(ctx context.Context, key K, value V, headers ...Header) error {
	r, err := t.record(key, value, headers)
	if err != nil {
		return err
	}
	return t.app.send(ctx, r)
}
