package streams

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// RecordSchema is a record type's schemas, derived from the Go type.
type RecordSchema struct {
	// JSON is its JSON Schema (draft 2020-12), Faust's as_schema: fields
	// are required unless pointers or omitempty; `jsonschema:"default=v"`
	// sets a default (codec.JSONSchemaOf).
	JSON string
	// Avro is its Avro schema, Faust's as_avro_schema: pointers are
	// ["null", T] unions with default null; `avro:",default=v"` sets a
	// default (codec.AvroSchemaOf).
	Avro string
}

// Schema derives the schemas of the record type T, a Go struct (Faust's
// Record.as_schema and as_avro_schema). Codecs that use them: codec.Avro
// and codec.JSONSchema with an empty schema, and with a registry,
// codec.NewSerde over either, given to a Topic with SerdeCodec.
func Schema[T any]() (RecordSchema, error) {
	js, err := codec.JSONSchemaOf[T]()
	if err != nil {
		return RecordSchema{}, fmt.Errorf("streams: schema: %w", err)
	}
	av, err := codec.AvroSchemaOf[T]()
	if err != nil {
		return RecordSchema{}, fmt.Errorf("streams: schema: %w", err)
	}
	return RecordSchema{JSON: js, Avro: av}, nil
}

// registryTimeout bounds a Serde's registry calls made by a topic's codec
// (the first encode of a topic, the first decode of a schema id).
const registryTimeout = 30 * time.Second

// SerdeCodec lets a Topic use a schema-registry Serde as its key or value
// codec: values are framed in Confluent's wire format with the id of the
// Serde's schema under the topic's subject (registered on first use), and
// records written with any registered schema decode (the registry's
// compatibility rules decide which schemas a subject accepts; Avro
// decoding resolves the writer's schema to T's). The topic binds its name
// when it is declared (NewTopic); pass codec.ForKeys() to NewSerde for a
// key codec.
func SerdeCodec[T any](s *codec.Serde[T]) codec.Codec[T] {
	return serdeCodec[T]{s: s}
}

type serdeCodec[T any] struct {
	s     *codec.Serde[T]
	topic string
}

// topicCodec is a codec that needs its topic's name.
type topicCodec[T any] interface {
	bindTopic(topic string) codec.Codec[T]
}

func (c serdeCodec[T]) bindTopic(topic string) codec.Codec[T] {
	c.topic = topic
	return c
}

var errUnbound = errors.New("streams: a SerdeCodec encodes only as a Topic's codec")

// ErrRegistryUnavailable is returned (by Run, Driver.Process) when a
// record cannot be decoded because the schema registry could not be
// reached: unlike a record that does not decode, it is not handed to the
// decode-error handler (which could skip it), and its batch does not
// commit, so the record is read again after a restart.
var ErrRegistryUnavailable = errors.New("streams: schema registry unavailable")

func (c serdeCodec[T]) Encode(v T) ([]byte, error) {
	if c.topic == "" {
		return nil, errUnbound
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	return c.s.Encode(ctx, c.topic, v)
}

func (c serdeCodec[T]) Decode(b []byte) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	v, err := c.s.Decode(ctx, b)
	var ne net.Error
	if err != nil && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	return v, err
}

// bindCodec gives c its topic's name when it needs it.
func bindCodec[T any](c codec.Codec[T], topic string) codec.Codec[T] {
	if tc, ok := c.(topicCodec[T]); ok {
		return tc.bindTopic(topic)
	}
	return c
}
