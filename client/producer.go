package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression is a record batch codec.
type Compression int

// The codecs Kafka defines.
const (
	NoCompression Compression = iota
	Gzip
	Snappy
	LZ4
	Zstd
)

type producerConfig struct {
	batchSize   int32
	linger      time.Duration
	compression Compression
	partitioner Partitioner
	acksAll     bool
}

// ProducerOption configures a Producer.
type ProducerOption func(*producerConfig) error

// BatchSize is the largest batch in bytes (default 16384, as Fluvio's).
func BatchSize(bytes int32) ProducerOption {
	return func(c *producerConfig) error {
		if bytes < 1024 || bytes > 64<<20 {
			return fmt.Errorf("batch size %d out of range [1024, 64 MiB]", bytes)
		}
		c.batchSize = bytes
		return nil
	}
}

// Linger is how long a batch waits for more records (default 100ms).
func Linger(d time.Duration) ProducerOption {
	return func(c *producerConfig) error {
		if d < 0 {
			return fmt.Errorf("linger %v is negative", d)
		}
		c.linger = d
		return nil
	}
}

// WithCompression sets the batch codec (default none).
func WithCompression(codec Compression) ProducerOption {
	return func(c *producerConfig) error {
		if codec < NoCompression || codec > Zstd {
			return fmt.Errorf("unknown compression %d", codec)
		}
		c.compression = codec
		return nil
	}
}

// WithPartitioner sets how records are spread (default SipHash).
func WithPartitioner(p Partitioner) ProducerOption {
	return func(c *producerConfig) error {
		if p < SipHash || p > RoundRobin {
			return fmt.Errorf("unknown partitioner %d", p)
		}
		c.partitioner = p
		return nil
	}
}

// LeaderAcks acknowledges a record once the partition leader has it
// (acks=1) instead of all in-sync replicas (acks=all, the default). It
// turns idempotence off, as Kafka requires.
func LeaderAcks() ProducerOption {
	return func(c *producerConfig) error { c.acksAll = false; return nil }
}

// Producer sends records to one topic. It is safe for concurrent use.
type Producer struct {
	topic string
	cl    *kgo.Client
}

// Producer creates a producer for topic.
func (c *Client) Producer(topic string, opts ...ProducerOption) (*Producer, error) {
	if topic == "" {
		return nil, errors.New("client: producer needs a topic")
	}
	cfg := producerConfig{batchSize: 16384, linger: 100 * time.Millisecond, acksAll: true}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	codec := map[Compression]kgo.CompressionCodec{NoCompression: kgo.NoCompression(), Gzip: kgo.GzipCompression(),
		Snappy: kgo.SnappyCompression(), LZ4: kgo.Lz4Compression(), Zstd: kgo.ZstdCompression()}[cfg.compression]
	kopts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(cfg.batchSize),
		kgo.ProducerLinger(cfg.linger),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(cfg.partitioner.kgo()),
	}
	if !cfg.acksAll {
		kopts = append(kopts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	cl, err := c.kgoClient(kopts...)
	if err != nil {
		return nil, err
	}
	return &Producer{topic: topic, cl: cl}, nil
}

// RecordMetadata says where a sent record landed.
type RecordMetadata struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// Send sends one record and waits for its acknowledgement.
func (p *Producer) Send(ctx context.Context, key, value []byte, headers ...Header) (RecordMetadata, error) {
	res := p.cl.ProduceSync(ctx, p.record(key, value, headers))
	r, err := res.First()
	if err != nil {
		return RecordMetadata{}, err
	}
	return RecordMetadata{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, nil
}

// SendAsync queues a record and calls done (from a client goroutine) with
// its outcome; Flush waits for all queued records.
func (p *Producer) SendAsync(ctx context.Context, key, value []byte, done func(RecordMetadata, error), headers ...Header) {
	p.cl.Produce(ctx, p.record(key, value, headers), func(r *kgo.Record, err error) {
		if done != nil {
			done(RecordMetadata{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, err)
		}
	})
}

func (p *Producer) record(key, value []byte, headers []Header) *kgo.Record {
	r := &kgo.Record{Key: key, Value: value}
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// Flush waits until every queued record is acknowledged or failed.
func (p *Producer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Close flushes nothing: call Flush first to wait for queued records.
func (p *Producer) Close() { p.cl.Close() }
