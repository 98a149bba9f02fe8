// Package codec turns typed Go values into record keys and values and back:
// raw bytes, strings, JSON, Avro, Protobuf and JSON Schema (validated), each
// behind one generic interface, [Codec]. Avro and JSON Schemas can be derived
// from Go struct types ([AvroSchemaOf], [JSONSchemaOf]).
//
// For a Confluent-compatible schema registry, a [Serde] frames a codec's
// payload in Confluent's wire format (magic byte 0, 4-byte big-endian schema
// id, for Protobuf the message-index array, then the payload; see
// [AppendHeader] and [ParseHeader]), registers or looks up its schema under a
// subject, caches schema ids both ways and decodes data written with any
// schema id it meets, resolving the writer schema's references. The
// [Registry] interface is what it needs of a registry; [NewRegistryClient]
// implements it over Confluent's REST API.
//
//	c, _ := codec.Avro[Order]("")                // "": schema derived from the struct
//	b, _ := c.Encode(Order{ID: 7})
//	o, _ := c.Decode(b)
//
//	reg, _ := codec.NewRegistryClient([]string{"http://localhost:8081"})
//	s, _ := codec.NewSerde(c, reg)
//	b, _ = s.Encode(ctx, "orders", Order{ID: 7}) // 00 <id> <avro payload>
//	o, _ = s.Decode(ctx, b)
package codec

import "errors"

// Codec converts values of type T to bytes and back. Implementations in this
// package are safe for concurrent use.
type Codec[T any] interface {
	// Encode returns the encoding of v.
	Encode(v T) ([]byte, error)
	// Decode parses b into a T. It does not retain b.
	Decode(b []byte) (T, error)
}

// Errors the codecs wrap (test them with errors.Is).
var (
	// ErrEncode wraps every encoding failure.
	ErrEncode = errors.New("codec: encode")
	// ErrDecode wraps every decoding failure.
	ErrDecode = errors.New("codec: decode")
	// ErrValidation wraps a JSON Schema validation failure (on encode and on
	// decode); it is wrapped together with ErrEncode or ErrDecode.
	ErrValidation = errors.New("codec: schema validation failed")
)

// Bytes returns the identity codec: Encode returns v itself and Decode a
// copy of b.
func Bytes() Codec[[]byte] { return bytesCodec{} }

type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return append([]byte{}, b...), nil
}

// String returns the codec of strings as their UTF-8 bytes (Kafka's
// StringSerializer). Decode does not check that b is valid UTF-8, as Kafka's
// StringDeserializer does not fail on it either.
func String() Codec[string] { return stringCodec{} }

type stringCodec struct{}

func (stringCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (stringCodec) Decode(b []byte) (string, error) { return string(b), nil }
