package codec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"sync/atomic"
)

// SchemaCodec is a Codec with a registry schema, as a Serde needs it. The
// Avro, Protobuf and JSON Schema codecs of this package implement it.
type SchemaCodec[T any] interface {
	Codec[T]
	// AppendEncode appends the encoding of v to dst.
	AppendEncode(dst []byte, v T) ([]byte, error)
	// Schema returns the schema to register for the values it encodes, or
	// why it has none a registry could take.
	Schema() (Schema, error)
	// ReaderFor returns a decoder of payloads written with the writer
	// schema; refs are the schemas it references, transitively, each
	// after the schemas it references itself. The decoder's indexes are
	// the Protobuf message path of the payload (nil for other types).
	ReaderFor(writer Schema, refs []NamedSchema) (func(payload []byte, indexes []int) (T, error), error)
}

// NamedSchema is a referenced schema and the name its referrer uses for it
// (an Avro full name, a .proto import path, a JSON Schema URL).
type NamedSchema struct {
	Name   string
	Schema Schema
}

// MaxReferences bounds how many schemas a writer schema may reference,
// transitively, for a Serde to resolve them.
const MaxReferences = 100

// MessageIndexer is implemented by Protobuf codecs: the path of the message
// type in its schema that the Confluent header carries.
type MessageIndexer interface {
	MessageIndexes() []int
}

// Serde errors.
var (
	// ErrReferencesUnsupported: a schema to register imports other schemas
	// (a Serde registers no schema references; it resolves them only for
	// the writer schemas it decodes with), or references form a cycle or
	// exceed MaxReferences.
	ErrReferencesUnsupported = errors.New("schema references are not supported")
	// ErrSchemaID: a schema id outside [0, 2^31) from the registry or the
	// wire.
	ErrSchemaID = errors.New("codec: schema id out of range")
)

// SubjectNameStrategy names the subject a schema is registered under, given
// the topic, whether the schema is of record keys, and the schema.
type SubjectNameStrategy func(topic string, isKey bool, s Schema) string

// TopicNameStrategy is Confluent's default subject naming: "<topic>-key" or
// "<topic>-value".
func TopicNameStrategy(topic string, isKey bool, _ Schema) string {
	if isKey {
		return topic + "-key"
	}
	return topic + "-value"
}

// SerdeOpt configures a Serde.
type SerdeOpt func(*serdeConfig)

type serdeConfig struct {
	key          bool
	noRegister   bool
	subjectNamer SubjectNameStrategy
	logger       *slog.Logger
}

// Logger sets where the Serde logs registry failures (a schema it could not
// register, look up or fetch); the default is slog.Default(). Codec errors
// are only returned, not logged.
func Logger(l *slog.Logger) SerdeOpt { return func(c *serdeConfig) { c.logger = l } }

// ForKeys makes the Serde serialize record keys (subjects "<topic>-key"
// under TopicNameStrategy); the default is values.
func ForKeys() SerdeOpt { return func(c *serdeConfig) { c.key = true } }

// AutoRegister sets whether Encode registers the codec's schema (Confluent's
// auto.register.schemas, default true) or only looks it up, failing if it is
// not registered under the subject.
func AutoRegister(on bool) SerdeOpt { return func(c *serdeConfig) { c.noRegister = !on } }

// SubjectName sets the subject naming strategy (default TopicNameStrategy).
func SubjectName(s SubjectNameStrategy) SerdeOpt {
	return func(c *serdeConfig) { c.subjectNamer = s }
}

// Serde encodes values in Confluent's wire format with a schema registry:
// Encode registers (or looks up) the codec's schema under the topic's subject
// once and frames the payload with its id; Decode reads the id, fetches the
// writer schema the first time it meets an id, and decodes with a reader
// built from it (for Avro, schema resolution to the codec's schema). Ids
// are cached both ways for the life of the Serde. A Serde is safe for
// concurrent use.
type Serde[T any] struct {
	codec   SchemaCodec[T]
	reg     Registry
	cfg     serdeConfig
	schema  Schema
	proto   bool
	indexes []int

	// The caches are copy-on-write maps behind atomic pointers: reads, the
	// hot path, take no lock; mu serializes the rare writes.
	mu      sync.Mutex
	ids     atomic.Pointer[map[string]uint32] // topic -> id (the subject is a function of the topic)
	readers atomic.Pointer[map[uint32]reader[T]]
}

type reader[T any] = func(payload []byte, indexes []int) (T, error)

// cacheStore adds k -> v to the copy-on-write map at p unless k is there.
func cacheStore[K comparable, V any](mu *sync.Mutex, p *atomic.Pointer[map[K]V], k K, v V) {
	mu.Lock()
	defer mu.Unlock()
	old := *p.Load()
	if _, ok := old[k]; ok {
		return
	}
	m := make(map[K]V, len(old)+1)
	maps.Copy(m, old)
	m[k] = v
	p.Store(&m)
}

// NewSerde returns a Serde of the codec with the registry. It fails if the
// codec has no schema a registry could take.
func NewSerde[T any](c SchemaCodec[T], reg Registry, opts ...SerdeOpt) (*Serde[T], error) {
	cfg := serdeConfig{subjectNamer: TopicNameStrategy, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	schema, err := c.Schema()
	if err != nil {
		return nil, fmt.Errorf("codec: serde: %w", err)
	}
	s := &Serde[T]{
		codec:  c,
		reg:    reg,
		cfg:    cfg,
		schema: schema,
	}
	s.ids.Store(&map[string]uint32{})
	s.readers.Store(&map[uint32]reader[T]{})
	if mi, ok := c.(MessageIndexer); ok {
		s.proto, s.indexes = true, mi.MessageIndexes()
	} else {
		s.proto = s.schema.Type == SchemaTypeProtobuf
	}
	return s, nil
}

// Encode returns v encoded and framed for topic.
func (s *Serde[T]) Encode(ctx context.Context, topic string, v T) ([]byte, error) {
	return s.AppendEncode(ctx, nil, topic, v)
}

// AppendEncode appends v encoded and framed for topic to dst.
func (s *Serde[T]) AppendEncode(ctx context.Context, dst []byte, topic string, v T) ([]byte, error) {
	id, err := s.SchemaID(ctx, topic)
	if err != nil {
		return dst, err
	}
	if s.proto {
		dst = AppendProtobufHeader(dst, id, s.indexes)
	} else {
		dst = AppendHeader(dst, id)
	}
	return s.codec.AppendEncode(dst, v)
}

// SchemaID returns the id of the codec's schema under topic's subject,
// registering it (or, without AutoRegister, looking it up) the first time.
func (s *Serde[T]) SchemaID(ctx context.Context, topic string) (uint32, error) {
	if id, ok := (*s.ids.Load())[topic]; ok {
		return id, nil
	}
	subject := s.cfg.subjectNamer(topic, s.cfg.key, s.schema)
	var n int
	var err error
	if s.cfg.noRegister {
		n, err = s.reg.Lookup(ctx, subject, s.schema)
	} else {
		n, err = s.reg.Register(ctx, subject, s.schema)
	}
	if err != nil {
		s.cfg.logger.Warn("codec: registry: cannot get the schema id", "subject", subject, "register", !s.cfg.noRegister, "err", err)
		return 0, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if n < 0 || n > math.MaxInt32 {
		s.cfg.logger.Warn("codec: registry: schema id out of range", "subject", subject, "id", n)
		return 0, fmt.Errorf("%w: %w: registry returned %d for subject %s", ErrEncode, ErrSchemaID, n, subject)
	}
	id := uint32(n)
	// The id names the codec's own schema: cache its reader too, so Decode
	// of what this Serde wrote does not fetch the schema back.
	if read, err := s.codec.ReaderFor(s.schema, nil); err == nil {
		cacheStore(&s.mu, &s.readers, id, read)
	}
	cacheStore(&s.mu, &s.ids, topic, id)
	return id, nil
}

// Decode parses a Confluent-framed payload written with any registered
// schema the codec can read.
func (s *Serde[T]) Decode(ctx context.Context, b []byte) (T, error) {
	var zero T
	var (
		id      uint32
		indexes []int
		payload []byte
		err     error
	)
	if s.proto {
		id, indexes, payload, err = ParseProtobufHeader(b)
	} else {
		id, payload, err = ParseHeader(b)
	}
	if err != nil {
		return zero, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	read, err := s.reader(ctx, id)
	if err != nil {
		return zero, err
	}
	return read(payload, indexes)
}

func (s *Serde[T]) reader(ctx context.Context, id uint32) (reader[T], error) {
	if read, ok := (*s.readers.Load())[id]; ok {
		return read, nil
	}
	if id > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %w: %d", ErrDecode, ErrSchemaID, id)
	}
	writer, err := s.reg.SchemaByID(ctx, int(id))
	if err != nil {
		s.cfg.logger.Warn("codec: registry: cannot fetch a writer schema", "id", id, "err", err)
		return nil, fmt.Errorf("%w: writer schema id %d: %w", ErrDecode, id, err)
	}
	refs, err := s.resolveReferences(ctx, writer)
	if err != nil {
		s.cfg.logger.Warn("codec: registry: cannot resolve the references of a writer schema", "id", id, "err", err)
		return nil, fmt.Errorf("%w: writer schema id %d: %w", ErrDecode, id, err)
	}
	read, err := s.codec.ReaderFor(writer, refs)
	if err != nil {
		s.cfg.logger.Warn("codec: cannot read data written with a schema", "id", id, "type", writer.Type, "err", err)
		return nil, fmt.Errorf("%w: writer schema id %d: %w", ErrDecode, id, err)
	}
	cacheStore(&s.mu, &s.readers, id, read)
	return read, nil
}

// resolveReferences fetches the schemas s references, transitively, and
// returns them each after its own references (the order Avro's and
// protocompile's parsers need).
func (s *Serde[T]) resolveReferences(ctx context.Context, root Schema) ([]NamedSchema, error) {
	type key struct {
		subject string
		version int
	}
	var out []NamedSchema
	state := map[key]int{} // 1 visiting, 2 done
	var visit func(refs []SchemaReference) error
	visit = func(refs []SchemaReference) error {
		for _, r := range refs {
			k := key{r.Subject, r.Version}
			switch state[k] {
			case 1:
				return fmt.Errorf("%w: reference cycle through subject %s version %d", ErrReferencesUnsupported, r.Subject, r.Version)
			case 2:
				continue
			}
			if len(state) >= MaxReferences {
				return fmt.Errorf("%w: more than %d referenced schemas", ErrReferencesUnsupported, MaxReferences)
			}
			state[k] = 1
			ref, err := s.reg.SchemaByVersion(ctx, r.Subject, r.Version)
			if err != nil {
				return fmt.Errorf("reference %s: %w", r.Name, err)
			}
			if err := visit(ref.References); err != nil {
				return err
			}
			state[k] = 2
			out = append(out, NamedSchema{Name: r.Name, Schema: ref})
		}
		return nil
	}
	if err := visit(root.References); err != nil {
		return nil, err
	}
	return out, nil
}
