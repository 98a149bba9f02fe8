package codec

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"

	json "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// JSONSchemaCodec is the JSON codec of T validated against a JSON Schema
// (see JSONSchema). It is a SchemaCodec for a Serde.
type JSONSchemaCodec[T any] struct {
	text   string
	schema *jsonschema.Schema
}

// JSONSchema returns the JSON codec of T (as JSON's) that validates what
// it encodes and what it decodes against the JSON Schema document schema
// (drafts 4 to 2020-12, with github.com/santhosh-tekuri/jsonschema). An
// empty schema derives it from T with JSONSchemaOf. The schema may not
// refer to other documents ($ref to another URL): nothing is loaded from
// files or the network.
func JSONSchema[T any](schema string) (*JSONSchemaCodec[T], error) {
	if schema == "" {
		var err error
		if schema, err = JSONSchemaOf[T](); err != nil {
			return nil, err
		}
	}
	s, err := compileJSONSchema(schema)
	if err != nil {
		return nil, err
	}
	return &JSONSchemaCodec[T]{text: schema, schema: s}, nil
}

// jsonSchemaBase is the URL a schema is compiled at: a relative $ref in it
// resolves against it.
const jsonSchemaBase = "https://schemas.sluice.invalid/schema.json"

func compileJSONSchema(text string, refs ...NamedSchema) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(text)))
	if err != nil {
		return nil, fmt.Errorf("codec: json schema: parse: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	loc := jsonSchemaBase
	base, _ := url.Parse(loc)
	for _, r := range refs {
		if r.Schema.Type != SchemaTypeJSON {
			return nil, fmt.Errorf("codec: json schema: referenced schema %s is %v", r.Name, r.Schema.Type)
		}
		rdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(r.Schema.Text)))
		if err != nil {
			return nil, fmt.Errorf("codec: json schema: parse referenced schema %s: %w", r.Name, err)
		}
		// A reference's name is the URL the referrer's $ref uses,
		// absolute or relative to the referrer.
		u, err := url.Parse(r.Name)
		if err != nil {
			return nil, fmt.Errorf("codec: json schema: reference name %q: %w", r.Name, err)
		}
		if err := c.AddResource(base.ResolveReference(u).String(), rdoc); err != nil {
			return nil, fmt.Errorf("codec: json schema: referenced schema %s: %w", r.Name, err)
		}
	}
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("codec: json schema: %w", err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("codec: json schema: compile: %w", err)
	}
	return s, nil
}

// noLoader refuses to load any document a schema refers to.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("loading %s: %w", url, errors.New("schemas referring to other documents are not supported"))
}

// Schema returns the registry form of the codec's schema.
func (c *JSONSchemaCodec[T]) Schema() (Schema, error) {
	return Schema{Type: SchemaTypeJSON, Text: c.text}, nil
}

// Encode returns the JSON encoding of v if it is valid under the schema,
// else an error wrapping ErrEncode and ErrValidation.
func (c *JSONSchemaCodec[T]) Encode(v T) ([]byte, error) { return c.AppendEncode(nil, v) }

// AppendEncode appends the JSON encoding of v to dst if it is valid under
// the schema.
func (c *JSONSchemaCodec[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("%w: json: %w", ErrEncode, err)
	}
	if err := validateJSON(c.schema, b); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return append(dst, b...), nil
}

// Decode parses b if it is valid under the schema, else returns an error
// wrapping ErrDecode (and ErrValidation if b is JSON but invalid).
func (c *JSONSchemaCodec[T]) Decode(b []byte) (T, error) { return decodeJSONSchema[T](c.schema, b) }

func decodeJSONSchema[T any](s *jsonschema.Schema, b []byte) (T, error) {
	var zero T
	if err := validateJSON(s, b); err != nil {
		return zero, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return zero, fmt.Errorf("%w: json: %w", ErrDecode, err)
	}
	return v, nil
}

func validateJSON(s *jsonschema.Schema, b []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%w: %w", ErrValidation, err)
	}
	return nil
}

// ReaderFor returns a decoder of payloads written with the writer schema:
// Confluent's JSON Schema deserializer validates a payload against the
// schema it was written with, and so does this one, before it decodes it
// into T. The schemas in refs are available to the writer schema's $refs
// under their names.
func (c *JSONSchemaCodec[T]) ReaderFor(writer Schema, refs []NamedSchema) (func(payload []byte, indexes []int) (T, error), error) {
	if writer.Type != SchemaTypeJSON {
		return nil, fmt.Errorf("codec: json schema: writer schema is %v", writer.Type)
	}
	s := c.schema
	if writer.Text != c.text || len(refs) > 0 {
		var err error
		if s, err = compileJSONSchema(writer.Text, refs...); err != nil {
			return nil, fmt.Errorf("writer schema: %w", err)
		}
	}
	return func(payload []byte, _ []int) (T, error) { return decodeJSONSchema[T](s, payload) }, nil
}
