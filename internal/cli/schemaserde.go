package cli

// Registry-encoded records for produce --value-schema/--key-schema and
// consume --decode: JSON text in, Confluent's wire format out (magic 0,
// 4-byte schema id, for Protobuf the message-index array, the payload), and
// back, through the codec package (framing, Protobuf, JSON Schema) and
// github.com/twmb/avro, which codec's Avro codec is built on.
//
// JSON mapping:
//   - Avro: Avro's JSON encoding as github.com/twmb/avro reads and writes it,
//     except that union values are plain JSON values ({"f": 5}, not
//     {"f": {"int": 5}}); input may use either form. bytes and fixed are
//     strings of code points U+0000..U+00FF, as in Avro's JSON encoding.
//   - Protobuf: protojson (the first message type of the .proto file is the
//     one produced; consume decodes the message type each record's header
//     names). Output uses the .proto field names.
//   - JSON Schema: the JSON itself, validated against the schema on both
//     sides.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sluice-io/sluice/codec"
)

// schemaSource is what --value-schema or --key-schema names: a schema file
// (registered under the topic's subject) when a file of that name exists,
// else a subject whose latest version is used.
type schemaSource struct {
	file    string
	subject string
	typ     sr.SchemaType
}

func parseSchemaSource(arg, topic string, isKey bool) (schemaSource, error) {
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		typ, err := schemaTypeOf("", arg)
		if err != nil {
			return schemaSource{}, err
		}
		subject := topic + "-value" // Confluent's TopicNameStrategy
		if isKey {
			subject = topic + "-key"
		}
		return schemaSource{file: arg, subject: subject, typ: typ}, nil
	}
	if strings.ContainsAny(arg, "/\\") || strings.HasSuffix(arg, ".avsc") || strings.HasSuffix(arg, ".proto") {
		return schemaSource{}, usagef("schema file %q does not exist", arg)
	}
	return schemaSource{subject: arg}, nil
}

// recordEncoder turns one JSON text into a framed record key or value.
type recordEncoder struct {
	id      int
	subject string
	version int
	encode  func(dst, js []byte) ([]byte, error)
}

// newRecordEncoder registers the source's file (or looks up the subject's
// latest version) and builds the encoder of its schema.
func newRecordEncoder(ctx context.Context, cl *sr.Client, src schemaSource) (*recordEncoder, error) {
	var ss sr.SubjectSchema
	if src.file != "" {
		text, err := os.ReadFile(src.file)
		if err != nil {
			return nil, fmt.Errorf("reading the schema: %w", err)
		}
		s := sr.Schema{Schema: string(text), Type: src.typ}
		if _, err := cl.RegisterSchema(ctx, src.subject, s, -1, -1); err != nil {
			return nil, fmt.Errorf("registering %s under %s: %w", src.file, src.subject, err)
		}
		if ss, err = cl.LookupSchema(ctx, src.subject, s); err != nil {
			return nil, fmt.Errorf("looking up %s under %s: %w", src.file, src.subject, err)
		}
	} else {
		var err error
		if ss, err = cl.SchemaByVersion(ctx, src.subject, -1); err != nil {
			return nil, fmt.Errorf("latest schema of %s: %w", src.subject, err)
		}
	}
	if ss.ID <= 0 {
		return nil, fmt.Errorf("the registry gave subject %s no schema id", src.subject)
	}
	refs, err := resolveRefs(ctx, cl, ss.References)
	if err != nil {
		return nil, err
	}
	enc, err := encoderFor(uint32(ss.ID), toCodecSchema(ss.Schema), refs)
	if err != nil {
		return nil, fmt.Errorf("schema %d of %s: %w", ss.ID, src.subject, err)
	}
	return &recordEncoder{id: ss.ID, subject: src.subject, version: ss.Version, encode: enc}, nil
}

func toCodecSchema(s sr.Schema) codec.Schema {
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

// resolveRefs fetches the referenced schemas, transitively, each after the
// ones it references (the order the parsers need); cycles and more than
// codec.MaxReferences schemas are refused.
func resolveRefs(ctx context.Context, cl *sr.Client, refs []sr.SchemaReference) ([]codec.NamedSchema, error) {
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
			out = append(out, codec.NamedSchema{Name: r.Name, Schema: toCodecSchema(ss.Schema)})
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

// encoderFor returns the encoder of JSON text under the schema with id.
func encoderFor(id uint32, s codec.Schema, refs []codec.NamedSchema) (func(dst, js []byte) ([]byte, error), error) {
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

// recordDecoder decodes framed keys or values with the schema their id
// names, fetched from the registry the first time an id is met.
type recordDecoder struct {
	cl       *sr.Client
	mu       sync.Mutex
	by       map[uint32]*idDecoder
	subjects map[uint32][]string // the subjects each id is registered under
}

// checkSubject fails unless schema id is registered under subject
// (consume --value-schema/--key-schema).
func (d *recordDecoder) checkSubject(ctx context.Context, id uint32, subject string) error {
	d.mu.Lock()
	subs, ok := d.subjects[id]
	d.mu.Unlock()
	if !ok {
		var err error
		if subs, err = d.cl.SubjectsByID(ctx, int(id)); err != nil {
			return fmt.Errorf("schema id %d: %w", id, err)
		}
		d.mu.Lock()
		d.subjects[id] = subs
		d.mu.Unlock()
	}
	if slices.Contains(subs, subject) {
		return nil
	}
	return fmt.Errorf("schema id %d is not a version of subject %q (it is registered under %s)", id, subject, strings.Join(subs, ", "))
}

type idDecoder struct {
	typ    codec.SchemaType
	decode func(b []byte) ([]byte, error) // whole framed value -> JSON
}

func newRecordDecoder(cl *sr.Client) *recordDecoder {
	return &recordDecoder{cl: cl, by: map[uint32]*idDecoder{}, subjects: map[uint32][]string{}}
}

// decode returns the JSON text of the framed b and its schema id.
func (d *recordDecoder) decode(ctx context.Context, b []byte) ([]byte, uint32, error) {
	id, _, err := codec.ParseHeader(b)
	if err != nil {
		if len(b) > 0 && b[0] != 0 {
			return nil, 0, fmt.Errorf("not in Confluent's wire format (first byte 0x%02x, not the magic byte 0)", b[0])
		}
		return nil, 0, err
	}
	d.mu.Lock()
	dec, ok := d.by[id]
	d.mu.Unlock()
	if !ok {
		if dec, err = d.fetch(ctx, id); err != nil {
			return nil, id, err
		}
		d.mu.Lock()
		d.by[id] = dec
		d.mu.Unlock()
	}
	out, err := dec.decode(b)
	if err != nil {
		return nil, id, fmt.Errorf("schema id %d (%v): %w", id, dec.typ, err)
	}
	return out, id, nil
}

func (d *recordDecoder) fetch(ctx context.Context, id uint32) (*idDecoder, error) {
	s, err := d.cl.SchemaByID(ctx, int(id))
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	refs, err := resolveRefs(ctx, d.cl, s.References)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	dec, err := decoderFor(toCodecSchema(s), refs)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	return dec, nil
}

// decoderFor returns the decoder of framed data written with schema cs.
func decoderFor(cs codec.Schema, refs []codec.NamedSchema) (*idDecoder, error) {
	dec := &idDecoder{typ: cs.Type}
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
	return dec, nil
}
