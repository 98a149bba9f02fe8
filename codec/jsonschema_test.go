package codec

import (
	"errors"
	"testing"
	"time"
)

func TestBytesAndString(t *testing.T) {
	in := []byte{0, 1, 0xff}
	b, _ := Bytes().Encode(in)
	out, _ := Bytes().Decode(b)
	if string(out) != string(in) {
		t.Fatalf("bytes: %x", out)
	}
	out[0] = 9
	if b[0] != 0 {
		t.Fatal("Bytes().Decode aliases its input")
	}
	if out, _ := Bytes().Decode(nil); out != nil {
		t.Fatalf("nil decodes to %v", out)
	}
	s, _ := String().Encode("héllo")
	if string(s) != "h\xc3\xa9llo" {
		t.Fatalf("string: %x", s)
	}
	if got, _ := String().Decode(s); got != "héllo" {
		t.Fatalf("string: %q", got)
	}
}

type jsonUser struct {
	Name  string            `json:"name"`
	Age   uint8             `json:"age,omitempty"`
	Email *string           `json:"email"`
	Tags  []string          `json:"tags"`
	Meta  map[string]int    `json:"meta,omitempty"`
	At    time.Time         `json:"at"`
	Key   []byte            `json:"key,omitempty"`
	Count int64             `json:"count,string"`
	Size  float64           `json:"size" jsonschema:"description=size in cm,default=1.5"`
	Kind  string            `json:"kind" jsonschema:"default=plain, with comma"`
	Any   any               `json:"any,omitempty"`
	Fix   [2]bool           `json:"fix"`
	Inner *jsonInner        `json:"inner,omitempty"`
	Set   map[int]jsonInner `json:"set,omitempty"`
	jsonEmbedded
	hidden int //lint:ignore U1000 an unexported field the schema must skip
	Skip   int `json:"-"`
}

type jsonInner struct {
	X int `json:"x"`
}

type jsonEmbedded struct {
	Emb  string `json:"emb"`
	Name string `json:"name"` // shadowed by jsonUser.Name
}

const jsonUserSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"jsonUser","type":"object","properties":{` +
	`"name":{"type":"string"},` +
	`"age":{"type":"integer","minimum":0},` +
	`"email":{"type":["string","null"]},` +
	`"tags":{"type":["array","null"],"items":{"type":"string"}},` +
	`"meta":{"type":["object","null"],"additionalProperties":{"type":"integer"}},` +
	`"at":{"type":"string","format":"date-time"},` +
	`"key":{"type":["string","null"],"contentEncoding":"base64"},` +
	`"count":{"type":"string"},` +
	`"size":{"type":"number","description":"size in cm","default":1.5},` +
	`"kind":{"type":"string","default":"plain, with comma"},` +
	`"any":{},` +
	`"fix":{"type":"array","items":{"type":"boolean"},"minItems":2,"maxItems":2},` +
	`"inner":{"type":["object","null"],"properties":{"x":{"type":"integer"}},"required":["x"]},` +
	`"set":{"type":["object","null"],"additionalProperties":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},` +
	`"emb":{"type":"string"}},` +
	`"required":["name","tags","at","count","size","kind","fix","emb"]}`

func TestJSONSchemaOf(t *testing.T) {
	got, err := JSONSchemaOf[jsonUser]()
	if err != nil {
		t.Fatal(err)
	}
	if got != jsonUserSchema { // byte-exact: properties keep field order
		sameJSON(t, got, jsonUserSchema)
		t.Fatalf("same JSON but different bytes:\n got %s\nwant %s", got, jsonUserSchema)
	}
	type recursive struct {
		Next *recursive `json:"next"`
	}
	if _, err := JSONSchemaOf[recursive](); err == nil {
		t.Fatal("recursive type derived")
	}
	type badTag struct {
		X int `jsonschema:"minimum=3"`
	}
	if _, err := JSONSchemaOf[badTag](); err == nil {
		t.Fatal("unknown tag option accepted")
	}
	if _, err := JSONSchemaOf[struct{ C chan int }](); err == nil {
		t.Fatal("channel field derived")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	c := JSON[jsonInner]()
	b, err := c.Encode(jsonInner{X: 5})
	if err != nil || string(b) != `{"x":5}` {
		t.Fatalf("encode = %s %v", b, err)
	}
	v, err := c.Decode([]byte(` {"x":6} `))
	if err != nil || v.X != 6 {
		t.Fatalf("decode = %+v %v", v, err)
	}
	if _, err := c.Decode([]byte(`{"x":6} x`)); !errors.Is(err, ErrDecode) {
		t.Fatalf("trailing garbage: %v", err)
	}
	if _, err := JSON[func()]().Encode(nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("func: %v", err)
	}
}

func TestJSONSchemaDerivedRoundTripAndZeroValue(t *testing.T) {
	c, err := JSONSchema[jsonUser]("")
	if err != nil {
		t.Fatal(err)
	}
	// The zero value is valid under the derived schema: nil pointers,
	// slices and maps are written as null.
	if _, err := c.Encode(jsonUser{}); err != nil {
		t.Fatalf("zero value: %v", err)
	}
	email := "a@b.c"
	in := jsonUser{Name: "ada", Age: 36, Email: &email, Tags: []string{"x"}, At: time.Unix(5, 0).UTC(), Count: 9,
		Inner: &jsonInner{X: 1}, Set: map[int]jsonInner{3: {X: 4}}, jsonEmbedded: jsonEmbedded{Emb: "e"}}
	b, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "ada" || *out.Email != email || out.Count != 9 || out.Inner.X != 1 || out.Set[3].X != 4 || out.Emb != "e" || !out.At.Equal(in.At) {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestJSONSchemaValidation(t *testing.T) {
	type item struct {
		Name string `json:"name"`
		Qty  int    `json:"qty"`
	}
	c, err := JSONSchema[item](`{"type":"object","properties":{"name":{"type":"string","minLength":1},"qty":{"type":"integer","minimum":1}},"required":["name","qty"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.Encode(item{Name: "a", Qty: 1}); err != nil || string(b) != `{"name":"a","qty":1}` {
		t.Fatalf("valid encode = %s %v", b, err)
	}
	_, err = c.Encode(item{Name: "", Qty: 1})
	if !errors.Is(err, ErrEncode) || !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid encode: %v", err)
	}
	_, err = c.Decode([]byte(`{"name":"a","qty":0}`))
	if !errors.Is(err, ErrDecode) || !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid decode: %v", err)
	}
	_, err = c.Decode([]byte(`{"name":"a"}`))
	if !errors.Is(err, ErrValidation) {
		t.Fatalf("missing required: %v", err)
	}
	_, err = c.Decode([]byte(`{"name":`))
	if !errors.Is(err, ErrDecode) || errors.Is(err, ErrValidation) {
		t.Fatalf("malformed JSON: %v", err)
	}
	if _, err := JSONSchema[item](`{"type":"object","properties":{"a":{"$ref":"file:///etc/passwd"}}}`); err == nil {
		t.Fatal("schema referring to a file compiled")
	}
	if _, err := JSONSchema[item](`{"type":12}`); err == nil {
		t.Fatal("invalid schema compiled")
	}
	if _, err := JSONSchema[item](`{`); err == nil {
		t.Fatal("malformed schema compiled")
	}
}

func TestJSONSchemaReaderForValidatesWithWriterSchema(t *testing.T) {
	type item struct {
		Qty int `json:"qty"`
	}
	reader, _ := JSONSchema[item](`{"type":"object"}`)
	read, err := reader.ReaderFor(Schema{Type: SchemaTypeJSON, Text: `{"type":"object","properties":{"qty":{"maximum":10}}}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := read([]byte(`{"qty":3}`), nil); err != nil || v.Qty != 3 {
		t.Fatalf("valid = %+v %v", v, err)
	}
	if _, err := read([]byte(`{"qty":11}`), nil); !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid under the writer schema: %v", err)
	}
	if _, err := reader.ReaderFor(Schema{Type: SchemaTypeAvro, Text: `"int"`}, nil); err == nil {
		t.Fatal("Avro writer schema accepted")
	}
}
