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
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/internal/schemajson"
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

// The JSON mapping is internal/schemajson's, shared with the web console.
var (
	toCodecSchema = schemajson.CodecSchema
	resolveRefs   = schemajson.ResolveRefs
	encoderFor    = schemajson.Encoder
)

// decoderFor returns the decoder of framed data written with schema cs.
func decoderFor(cs codec.Schema, refs []codec.NamedSchema) (*idDecoder, error) {
	dec, err := schemajson.Decoder(cs, refs)
	if err != nil {
		return nil, err
	}
	return &idDecoder{typ: cs.Type, decode: dec}, nil
}
