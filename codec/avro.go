package codec

import (
	"fmt"

	"github.com/twmb/avro"
)

// AvroCodec is the Avro binary codec of T (see Avro). It is a SchemaCodec:
// a Serde registers its schema and decodes data written with any registered
// Avro schema by resolving that writer schema to this one.
type AvroCodec[T any] struct {
	schema *avro.Schema
}

// Avro returns the Avro codec of T with the given schema (Avro JSON). An
// empty schema derives it from T with AvroSchemaOf. Go values map to the
// schema as github.com/twmb/avro maps them: record fields by their `avro`
// struct tag (else the Go field name), *T for a ["null", T] union,
// time.Time for timestamp-millis (or the logical type the tag names),
// *big.Rat for decimal, [16]byte or a string for uuid, and so on.
func Avro[T any](schema string) (*AvroCodec[T], error) {
	if schema == "" {
		s, err := avro.SchemaFor[T]()
		if err != nil {
			return nil, fmt.Errorf("codec: avro: derive schema of %T: %w", *new(T), err)
		}
		return &AvroCodec[T]{schema: s}, nil
	}
	s, err := avro.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("codec: avro: parse schema: %w", err)
	}
	return &AvroCodec[T]{schema: s}, nil
}

// AvroSchemaOf derives the Avro schema (JSON text) of the struct type T, as
// Faust's as_avro_schema does, with github.com/twmb/avro's SchemaFor. The
// record is named after the Go type. Struct tags shape it:
//
//	avro:"name"                  field name (default: the Go field name); "-" skips the field
//	avro:",default=v"            the field's default (scalars; last option)
//	avro:",timestamp-micros"     a logical type other than the default
//	                             (date, time-millis, time-micros, timestamp-*)
//	avro:",decimal(10,2)"        decimal with precision and scale (for *big.Rat, which
//	                             as a pointer is a ["null", decimal] union)
//	avro:",uuid"                 uuid (for [16]byte or a string)
//
// A pointer field is optional: a ["null", T] union with default null.
// time.Time is timestamp-millis unless tagged otherwise, time.Duration
// time-millis.
func AvroSchemaOf[T any]() (string, error) {
	s, err := avro.SchemaFor[T]()
	if err != nil {
		return "", fmt.Errorf("codec: avro: derive schema of %T: %w", *new(T), err)
	}
	return s.String(), nil
}

// Schema returns the registry form of the codec's schema.
func (c *AvroCodec[T]) Schema() (Schema, error) {
	return Schema{Type: SchemaTypeAvro, Text: c.schema.String()}, nil
}

// AvroSchema returns the parsed schema, for use with github.com/twmb/avro.
func (c *AvroCodec[T]) AvroSchema() *avro.Schema { return c.schema }

// Encode returns the Avro binary encoding of v.
func (c *AvroCodec[T]) Encode(v T) ([]byte, error) { return c.AppendEncode(nil, v) }

// AppendEncode appends the Avro binary encoding of v to dst.
func (c *AvroCodec[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	out, err := c.schema.AppendEncode(dst, &v)
	if err != nil {
		return dst, fmt.Errorf("%w: avro: %w", ErrEncode, err)
	}
	return out, nil
}

// Decode parses the Avro binary encoding b, which must hold exactly one
// value.
func (c *AvroCodec[T]) Decode(b []byte) (T, error) { return decodeAvro[T](c.schema, b) }

func decodeAvro[T any](s *avro.Schema, b []byte) (T, error) {
	var v T
	rest, err := s.Decode(b, &v)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w: avro: %w", ErrDecode, err)
	}
	if len(rest) != 0 {
		var zero T
		return zero, fmt.Errorf("%w: avro: %d bytes after the value", ErrDecode, len(rest))
	}
	return v, nil
}

// ReaderFor returns a decoder of data written with the writer schema: the
// writer schema resolved to the codec's (Avro schema resolution: fields the
// writer lacks take their defaults, fields the reader lacks are skipped,
// types promote). The named types the writer schema references are parsed
// from refs first. It fails if a schema is not Avro or the writer schema is
// not compatible.
func (c *AvroCodec[T]) ReaderFor(writer Schema, refs []NamedSchema) (func(payload []byte, indexes []int) (T, error), error) {
	if writer.Type != SchemaTypeAvro {
		return nil, fmt.Errorf("codec: avro: writer schema is %v", writer.Type)
	}
	var cache avro.SchemaCache
	for _, r := range refs {
		if r.Schema.Type != SchemaTypeAvro {
			return nil, fmt.Errorf("codec: avro: referenced schema %s is %v", r.Name, r.Schema.Type)
		}
		if _, err := cache.Parse(r.Schema.Text); err != nil {
			return nil, fmt.Errorf("codec: avro: parse referenced schema %s: %w", r.Name, err)
		}
	}
	w, err := cache.Parse(writer.Text)
	if err != nil {
		return nil, fmt.Errorf("codec: avro: parse writer schema: %w", err)
	}
	r, err := avro.Resolve(w, c.schema)
	if err != nil {
		return nil, fmt.Errorf("codec: avro: resolve writer schema to reader schema: %w", err)
	}
	return func(payload []byte, _ []int) (T, error) { return decodeAvro[T](r, payload) }, nil
}
