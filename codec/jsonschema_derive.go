package codec

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// JSONSchemaOf derives a JSON Schema (draft 2020-12, JSON text) of T that
// accepts exactly what encoding/json writes for a T, as Faust's as_schema
// does for its records. Structs become objects with their fields' `json`
// names in field order (embedded structs are flattened as encoding/json
// flattens them); a field is required unless it is a pointer or tagged
// omitempty or omitzero. Pointers, slices and maps also admit null (what
// encoding/json writes for nil). time.Time is a date-time string, []byte a
// base64 string, an interface or a type with its own MarshalJSON or
// MarshalText is unconstrained (a string for MarshalText), unsigned integers
// have minimum 0. The `jsonschema` tag adds keywords to a field:
//
//	jsonschema:"description=the order's id"
//	jsonschema:"default=5"   // the value as JSON if it parses as JSON, else as a string
//
// (default= must be the last option, as its value may hold commas). Objects
// do not set additionalProperties, so readers accept data from writers with
// newer fields. Recursive types, channels, functions and complex numbers are
// errors.
func JSONSchemaOf[T any]() (string, error) {
	t := reflect.TypeFor[T]()
	d := deriver{inProgress: map[reflect.Type]bool{}}
	root, err := d.schema(t)
	if err != nil {
		return "", fmt.Errorf("codec: json schema of %v: %w", t, err)
	}
	out := obj{{"$schema", "https://json-schema.org/draft/2020-12/schema"}}
	if t.Name() != "" {
		out = append(out, kv{"title", t.Name()})
	}
	out = append(out, root...)
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("codec: json schema of %v: %w", t, err)
	}
	return string(b), nil
}

// obj is a JSON object that keeps its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

type deriver struct {
	inProgress map[reflect.Type]bool
}

func (d deriver) schema(t reflect.Type) (obj, error) {
	switch {
	case t == timeType:
		return obj{{"type", "string"}, {"format", "date-time"}}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType)):
		return obj{}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		return obj{{"type", "string"}}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return obj{{"type", "boolean"}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj{{"type", "integer"}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return obj{{"type", "integer"}, {"minimum", 0}}, nil
	case reflect.Float32, reflect.Float64:
		return obj{{"type", "number"}}, nil
	case reflect.String:
		return obj{{"type", "string"}}, nil
	case reflect.Interface:
		return obj{}, nil
	case reflect.Pointer:
		inner, err := d.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(inner), nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(jsonMarshalerType) && !t.Elem().Implements(textMarshalerType) {
			return obj{{"type", []string{"string", "null"}}, {"contentEncoding", "base64"}}, nil
		}
		items, err := d.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return obj{{"type", []string{"array", "null"}}, {"items", items}}, nil
	case reflect.Array:
		items, err := d.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return obj{{"type", "array"}, {"items", items}, {"minItems", t.Len()}, {"maxItems", t.Len()}}, nil
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		default:
			if !t.Key().Implements(textMarshalerType) {
				return nil, fmt.Errorf("map key type %v is not supported by encoding/json", t.Key())
			}
		}
		vals, err := d.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return obj{{"type", []string{"object", "null"}}, {"additionalProperties", vals}}, nil
	case reflect.Struct:
		if d.inProgress[t] {
			return nil, fmt.Errorf("recursive type %v is not supported", t)
		}
		d.inProgress[t] = true
		defer delete(d.inProgress, t)
		var props obj
		var required []string
		if err := d.fields(t, &props, &required, map[string]bool{}); err != nil {
			return nil, err
		}
		out := obj{{"type", "object"}, {"properties", props}}
		if len(required) > 0 {
			out = append(out, kv{"required", required})
		}
		return out, nil
	}
	return nil, fmt.Errorf("type %v (%v) has no JSON encoding", t, t.Kind())
}

// fields adds the JSON fields of struct t to props, flattening embedded
// structs without a json name as encoding/json does (the outer field wins
// a name clash).
func (d deriver) fields(t reflect.Type, props *obj, required *[]string, seen map[string]bool) error {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		s, err := d.schema(ft)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if hasOpt(opts, "string") {
			s = obj{{"type", "string"}}
			if ft.Kind() == reflect.Pointer {
				s = nullable(s)
			}
		}
		s, err = applyTag(s, f.Tag.Get("jsonschema"))
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		*props = append(*props, kv{name, s})
		if ft.Kind() != reflect.Pointer && !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
	for _, et := range embedded {
		if err := d.fields(et, props, required, seen); err != nil {
			return err
		}
	}
	return nil
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// nullable makes s also admit null.
func nullable(s obj) obj {
	for i, e := range s {
		if e.k != "type" {
			continue
		}
		switch t := e.v.(type) {
		case string:
			out := append(obj{}, s...)
			out[i] = kv{"type", []string{t, "null"}}
			return out
		case []string:
			return s // already admits null (slices and maps)
		}
	}
	return s // no type keyword: unconstrained, admits null
}

// applyTag adds the `jsonschema` tag's description= and default= keywords.
func applyTag(s obj, tag string) (obj, error) {
	for tag != "" {
		var opt string
		if strings.HasPrefix(tag, "default=") {
			opt, tag = tag, ""
		} else {
			opt, tag, _ = strings.Cut(tag, ",")
		}
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "description":
			s = append(s, kv{"description", val})
		case "default":
			var v any = val
			if json.Valid([]byte(val)) {
				v = json.RawMessage(val)
			}
			s = append(s, kv{"default", v})
		default:
			return nil, fmt.Errorf("unknown jsonschema tag option %q", opt)
		}
	}
	return s, nil
}
