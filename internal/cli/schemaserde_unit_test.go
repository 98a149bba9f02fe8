package cli

import (
	"strings"
	"testing"

	"github.com/sluice-io/sluice/codec"
)

// Avro JSON lines round-trip through the wire format for the types users
// write: logical types, bytes, enums, arrays, maps, nested records and
// unions (plain and tagged input, plain output).
func TestAvroJSONRoundTrip(t *testing.T) {
	schema := codec.Schema{Type: codec.SchemaTypeAvro, Text: `{"type":"record","name":"R","fields":[
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"raw","type":"bytes"},
		{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"attrs","type":{"type":"map","values":"long"}},
		{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"double"}]}},
		{"name":"u","type":["null","string","long"]}]}`}
	enc, err := encoderFor(42, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decoderFor(schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"ts":1700000000000,"day":19000,"raw":"\u0000\u00ffab","color":"GREEN","tags":["a","b"],"attrs":{"k":1},"inner":{"x":1.5},"u":null}`,
			`{"ts":1700000000000,"day":19000,"raw":"\u0000\u00ffab","color":"GREEN","tags":["a","b"],"attrs":{"k":1},"inner":{"x":1.5},"u":null}`},
		{`{"ts":0,"day":0,"raw":"","color":"RED","tags":[],"attrs":{},"inner":{"x":0},"u":{"long":7}}`,
			`{"ts":0,"day":0,"raw":"","color":"RED","tags":[],"attrs":{},"inner":{"x":0},"u":7}`},
		{`{"ts":0,"day":0,"raw":"","color":"RED","tags":[],"attrs":{},"inner":{"x":0},"u":"s"}`,
			`{"ts":0,"day":0,"raw":"","color":"RED","tags":[],"attrs":{},"inner":{"x":0},"u":"s"}`},
	} {
		b, err := enc(nil, []byte(tc.in))
		if err != nil {
			t.Fatalf("encode %s: %v", tc.in, err)
		}
		if id, _, err := codec.ParseHeader(b); err != nil || id != 42 {
			t.Fatalf("header: id %d %v", id, err)
		}
		out, err := dec.decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", tc.in, err)
		}
		jsonEqual(t, out, tc.want)
	}
	for _, bad := range []string{`{"ts":"yesterday"}`, `{"ts":0,"day":0,"raw":"","color":"BLUE","tags":[],"attrs":{},"inner":{"x":0},"u":null}`, `[`, ``} {
		if _, err := enc(nil, []byte(bad)); err == nil || !strings.Contains(err.Error(), "does not match the Avro schema") {
			t.Errorf("encode %q: %v", bad, err)
		}
	}
	// Trailing bytes after the value are an error, not ignored.
	b, _ := enc(nil, []byte(`{"ts":0,"day":0,"raw":"","color":"RED","tags":[],"attrs":{},"inner":{"x":0},"u":null}`))
	if _, err := dec.decode(append(b, 0)); err == nil {
		t.Error("decoding with a trailing byte succeeded")
	}
}
