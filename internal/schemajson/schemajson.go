// Package schemajson turns JSON text into records in Confluent's wire
// format under a registry schema, and back: the mapping `sluice produce
// --value-schema`, `sluice consume --decode` and the web console share.
//
// JSON mapping:
//   - Avro: Avro's JSON encoding as github.com/twmb/avro reads and writes it,
//     except that union values are plain JSON values ({"f": 5}, not
//     {"f": {"int": 5}}); input may use either form. bytes and fixed are
//     strings of code points U+0000..U+00FF, as in Avro's JSON encoding.
//   - Protobuf: protojson (the first message type of the .proto file is the
//     one encoded; decoding uses the message type each record's header
//     names). Output uses the .proto field names.
//   - JSON Schema: the JSON itself, validated against the schema on both
//     sides.
package schemajson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sluice-io/sluice/codec"
)

// CodecSchema is s as the codec package describes schemas.
func CodecSchema(s sr.Schema) codec.Schema {
	out := codec.Schema{Text: s.Schema}
	switch s.Type {
	case sr.TypeProtobuf:
		out.Type = codec.SchemaTypeProtobuf
	case sr.TypeJSON:
		out.Type = codec.SchemaTypeJSON
	default:
		out.Type = codec.SchemaTypeAvro
	}
	for _, r := range s.References {
		out.References = append(out.References, codec.SchemaReference(r))
	}
	return out
}

// ResolveRefs fetches the referenced schemas, transitively, each after the
// ones it references (the order the parsers need); cycles and more than
// codec.MaxReferences schemas are refused.
func ResolveRefs(ctx context.Context, cl *sr.Client, refs []sr.SchemaReference) ([]codec.NamedSchema, error) {
	var out []codec.NamedSchema
	state := map[string]int{} // 1 visiting, 2 done
	var visit func([]sr.SchemaReference) error
	visit = func(refs []sr.SchemaReference) error {
		for _, r := range refs {
			k := fmt.Sprintf("%s\x00%d", r.Subject, r.Version)
			switch state[k] {
			case 1:
				return fmt.Errorf("reference cycle through subject %s version %d", r.Subject, r.Version)
			case 2:
				continue
			}
			if len(state) >= codec.MaxReferences {
				return fmt.Errorf("more than %d referenced schemas", codec.MaxReferences)
			}
			state[k] = 1
			ss, err := cl.SchemaByVersion(ctx, r.Subject, r.Version)
			if err != nil {
				return fmt.Errorf("reference %s (%s version %d): %w", r.Name, r.Subject, r.Version, err)
			}
			if err := visit(ss.References); err != nil {
				return err
			}
			state[k] = 2
			out = append(out, codec.NamedSchema{Name: r.Name, Schema: CodecSchema(ss.Schema)})
		}
		return nil
	}
	return out, visit(refs)
}

// parseAvro parses an Avro schema after the named types it references.
func parseAvro(s codec.Schema, refs []codec.NamedSchema) (*avro.Schema, error) {
	if len(refs) == 0 {
		c, err := codec.Avro[any](s.Text)
		if err != nil {
			return nil, err
		}
		return c.AvroSchema(), nil
	}
	var cache avro.SchemaCache
	for _, r := range refs {
		if r.Schema.Type != codec.SchemaTypeAvro {
			return nil, fmt.Errorf("referenced schema %s is %v", r.Name, r.Schema.Type)
		}
		if _, err := cache.Parse(r.Schema.Text); err != nil {
			return nil, fmt.Errorf("referenced schema %s: %w", r.Name, err)
		}
	}
	return cache.Parse(s.Text)
}

// Encoder returns the encoder of JSON text under the schema with id.
func Encoder(id uint32, s codec.Schema, refs []codec.NamedSchema) (func(dst, js []byte) ([]byte, error), error) {
	switch s.Type {
	case codec.SchemaTypeAvro:
		as, err := parseAvro(s, refs)
		if err != nil {
			return nil, err
		}
		return func(dst, js []byte) ([]byte, error) {
			var v any
			if err := as.DecodeJSON(js, &v); err != nil {
				return dst, fmt.Errorf("does not match the Avro schema: %w", err)
			}
			out, err := as.AppendEncode(codec.AppendHeader(dst, id), &v)
			if err != nil {
				return dst, fmt.Errorf("does not match the Avro schema: %w", err)
			}
			return out, nil
		}, nil
	case codec.SchemaTypeProtobuf:
		fd, err := codec.ParseProto(s.Text, refs...)
		if err != nil {
			return nil, err
		}
		if fd.Messages().Len() == 0 {
			return nil, errors.New("the .proto file declares no message")
		}
		pc := codec.ProtobufDynamic(fd.Messages().Get(0))
		md := fd.Messages().Get(0)
		indexes := pc.MessageIndexes()
		return func(dst, js []byte) ([]byte, error) {
			m := dynamicpb.NewMessage(md)
			if err := protojson.Unmarshal(js, m); err != nil {
				return dst, fmt.Errorf("does not match message %s: %w", md.FullName(), err)
			}
			return pc.AppendEncode(codec.AppendProtobufHeader(dst, id, indexes), m)
		}, nil
	case codec.SchemaTypeJSON:
		// The codec validates what it decodes against the writer schema
		// (with its references): use that to validate the input.
		any0, err := codec.JSONSchema[json.RawMessage](`{}`)
		if err != nil {
			return nil, err
		}
		validate, err := any0.ReaderFor(s, refs)
		if err != nil {
			return nil, err
		}
		return func(dst, js []byte) ([]byte, error) {
			v, err := validate(js, nil)
			if err != nil {
				return dst, fmt.Errorf("does not match the JSON Schema: %w", err)
			}
			b, err := json.Marshal(v) // compact
			if err != nil {
				return dst, err
			}
			return append(codec.AppendHeader(dst, id), b...), nil
		}, nil
	}
	return nil, fmt.Errorf("unknown schema type %v", s.Type)
}

// Decoder returns the decoder of framed data (a whole key or value, the
// header included) written with schema cs, to JSON text.
func Decoder(cs codec.Schema, refs []codec.NamedSchema) (func(b []byte) ([]byte, error), error) {
	var dec struct{ decode func([]byte) ([]byte, error) }
	switch cs.Type {
	case codec.SchemaTypeAvro:
		as, err := parseAvro(cs, refs)
		if err != nil {
			return nil, err
		}
		dec.decode = func(b []byte) ([]byte, error) {
			_, payload, err := codec.ParseHeader(b)
			if err != nil {
				return nil, err
			}
			var v any
			rest, err := as.Decode(payload, &v)
			if err != nil {
				return nil, err
			}
			if len(rest) > 0 {
				return nil, fmt.Errorf("%d bytes after the Avro value", len(rest))
			}
			return as.EncodeJSON(v)
		}
	case codec.SchemaTypeProtobuf:
		// ReaderFor decodes as the writer's message type; the codec's own
		// type (Empty) does not matter.
		pc := codec.ProtobufDynamic((&emptypb.Empty{}).ProtoReflect().Descriptor())
		read, err := pc.ReaderFor(cs, refs)
		if err != nil {
			return nil, err
		}
		dec.decode = func(b []byte) ([]byte, error) {
			_, indexes, payload, err := codec.ParseProtobufHeader(b)
			if err != nil {
				return nil, err
			}
			m, err := read(payload, indexes)
			if err != nil {
				return nil, err
			}
			return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		}
	case codec.SchemaTypeJSON:
		any0, err := codec.JSONSchema[json.RawMessage](`{}`)
		if err != nil {
			return nil, err
		}
		read, err := any0.ReaderFor(cs, refs)
		if err != nil {
			return nil, err
		}
		dec.decode = func(b []byte) ([]byte, error) {
			_, payload, err := codec.ParseHeader(b)
			if err != nil {
				return nil, err
			}
			v, err := read(payload, nil)
			return []byte(v), err
		}
	default:
		return nil, fmt.Errorf("unknown schema type %v", cs.Type)
	}
	return dec.decode, nil
}
