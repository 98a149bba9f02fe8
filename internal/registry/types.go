package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/avro"
)

// Schema types, as the API names them.
const (
	TypeAvro     = "AVRO"
	TypeProtobuf = "PROTOBUF"
	TypeJSON     = "JSON"
)

// parsedSchema is a schema that parsed, with its references resolved.
type parsedSchema interface {
	// canonical is the form a registration is stored and matched in:
	// compact JSON for Avro and JSON Schema, the text for Protobuf; with
	// normalize, Avro's Parsing Canonical Form and JSON with sorted keys.
	canonical(normalize bool) string
	// canRead lists why data written with writer cannot be read with this
	// schema (empty: it can). writer has the same type.
	canRead(writer parsedSchema) []string
}

// dep is a resolved reference: the name the schema imports it under, and
// its own schema and references.
type dep struct {
	name    string
	subject string
	version int
	text    string
	deps    []dep
}

// parseSchema parses text of type typ with its resolved references.
func parseSchema(typ, text string, deps []dep) (parsedSchema, error) {
	switch typ {
	case TypeAvro:
		return parseAvro(text, deps)
	case TypeProtobuf:
		return parseProtobuf(text, deps)
	case TypeJSON:
		return parseJSONSchema(text, deps)
	}
	return nil, fmt.Errorf("unknown schema type %q", typ)
}

// --- Avro ---

type avroSchema struct {
	s       *avro.Schema
	compact string
}

func parseAvro(text string, deps []dep) (parsedSchema, error) {
	var cache avro.SchemaCache
	seen := map[string]bool{}
	var load func(ds []dep) error
	load = func(ds []dep) error {
		for _, d := range ds {
			k := fmt.Sprintf("%s\x00%d", d.subject, d.version)
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := load(d.deps); err != nil {
				return err
			}
			if _, err := cache.Parse(d.text); err != nil {
				return fmt.Errorf("reference %q (subject %q version %d): %w", d.name, d.subject, d.version, err)
			}
		}
		return nil
	}
	if err := load(deps); err != nil {
		return nil, err
	}
	s, err := cache.Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return nil, err
	}
	return &avroSchema{s: s, compact: buf.String()}, nil
}

func (a *avroSchema) canonical(normalize bool) string {
	if normalize {
		return string(a.s.Canonical())
	}
	return a.compact
}

func (a *avroSchema) canRead(writer parsedSchema) []string {
	w, ok := writer.(*avroSchema)
	if !ok {
		return []string{"schema types differ"}
	}
	if err := avro.CheckCompatibility(w.s, a.s); err != nil {
		var ce *avro.CompatibilityError
		if errors.As(err, &ce) {
			return []string{fmt.Sprintf("{errorType:'%s', description:'The %s at path '%s' in the new schema is incompatible with the old schema', additionalInfo:'%s'}",
				strings.ToUpper(strings.ReplaceAll(ce.Detail, " ", "_")), ce.ReaderType, ce.Path, ce.Detail)}
		}
		return []string{err.Error()}
	}
	return nil
}

// identity is what registrations and lookups of a schema text match on.
// For Avro it is the JSON with object keys sorted and {"type":"int"}-style
// objects written as the bare primitive, so two spellings Avro's
// Schema.toString (Confluent's stored form) prints alike match, as in
// Confluent's registry; for the other types the stored text itself.
func identity(typ, text string) string {
	if typ != TypeAvro {
		return text
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return text
	}
	out, err := json.Marshal(collapsePrimitives(v))
	if err != nil {
		return text
	}
	return string(out)
}

func collapsePrimitives(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["type"].(string); ok && len(x) == 1 {
			switch t {
			case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
				return t
			}
		}
		for k, e := range x {
			x[k] = collapsePrimitives(e)
		}
	case []any:
		for i, e := range x {
			x[i] = collapsePrimitives(e)
		}
	}
	return v
}
