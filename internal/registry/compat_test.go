package registry

import (
	"fmt"
	"strings"
	"testing"
)

var allLevels = []string{LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive, LevelFull, LevelFullTransitive, LevelNone}

// pairCase: old, new and whether the change is backward (new reads old)
// and forward (old reads new) compatible.
type pairCase struct {
	name     string
	old, new string
	bw, fw   bool
}

func mustParse(t *testing.T, typ, text string) parsedSchema {
	t.Helper()
	p, err := parseSchema(typ, text, nil)
	if err != nil {
		t.Fatalf("parse %s %q: %v", typ, text, err)
	}
	return p
}

// runPairs checks every level for every pair: BACKWARD* by bw, FORWARD* by
// fw, FULL* by both, NONE always.
func runPairs(t *testing.T, typ string, cases []pairCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, n := mustParse(t, typ, c.old), mustParse(t, typ, c.new)
			for _, level := range allLevels {
				want := true
				switch {
				case strings.HasPrefix(level, "BACKWARD"):
					want = c.bw
				case strings.HasPrefix(level, "FORWARD"):
					want = c.fw
				case strings.HasPrefix(level, "FULL"):
					want = c.bw && c.fw
				}
				msgs := checkLevel(level, n, []parsedSchema{o})
				if got := len(msgs) == 0; got != want {
					t.Errorf("%s: compatible=%v, want %v (messages %v)", level, got, want, msgs)
				}
			}
		})
	}
}

// tripleCase: three versions; want lists the levels under which v3 is
// accepted after v1 and v2.
type tripleCase struct {
	name       string
	v1, v2, v3 string
	want       []string
}

func runTriples(t *testing.T, typ string, cases []tripleCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := []parsedSchema{mustParse(t, typ, c.v1), mustParse(t, typ, c.v2)}
			n := mustParse(t, typ, c.v3)
			for _, level := range allLevels {
				want := false
				for _, w := range c.want {
					want = want || w == level
				}
				msgs := checkLevel(level, n, prev)
				if got := len(msgs) == 0; got != want {
					t.Errorf("%s: compatible=%v, want %v (messages %v)", level, got, want, msgs)
				}
			}
		})
	}
}

func avroRec(fields ...string) string {
	return fmt.Sprintf(`{"type":"record","name":"R","fields":[%s]}`, strings.Join(fields, ","))
}

func TestAvroCompatibilityMatrix(t *testing.T) {
	a := `{"name":"a","type":"int"}`
	aLong := `{"name":"a","type":"long"}`
	aStr := `{"name":"a","type":"string"}`
	b := `{"name":"b","type":"string"}`
	bDef := `{"name":"b","type":"string","default":""}`
	runPairs(t, TypeAvro, []pairCase{
		{"add field with default", avroRec(a), avroRec(a, bDef), true, true},
		{"add field without default", avroRec(a), avroRec(a, b), false, true},
		{"remove field without default", avroRec(a, b), avroRec(a), true, false},
		{"remove field with default", avroRec(a, bDef), avroRec(a), true, true},
		{"promote int to long", avroRec(a), avroRec(aLong), true, false},
		{"change int to string", avroRec(a), avroRec(aStr), false, false},
		{"enum symbol added", `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, false},
		{"union branch added", `["null","int"]`, `["null","int","string"]`, true, false},
		{"record renamed", avroRec(a), `{"type":"record","name":"Other","fields":[{"name":"a","type":"int"}]}`, false, false},
		{"same", avroRec(a), avroRec(a), true, true},
	})
	runTriples(t, TypeAvro, []tripleCase{
		// v3 makes b required: reads v2 data (which has b) but not v1's.
		{"backward only against the latest", avroRec(a), avroRec(a, bDef), avroRec(a, b),
			[]string{LevelBackward, LevelForward, LevelForwardTransitive, LevelFull, LevelNone}},
		// v3 drops b: v2 (b has a default) reads it, v1 (no default) does not.
		{"forward only against the latest", avroRec(a, b), avroRec(a, bDef), avroRec(a),
			[]string{LevelBackward, LevelBackwardTransitive, LevelForward, LevelFull, LevelNone}},
	})
}

func protoMsg(body string) string {
	return `syntax = "proto3"; package ex; message M { ` + body + ` }`
}

func TestProtobufCompatibilityMatrix(t *testing.T) {
	runPairs(t, TypeProtobuf, []pairCase{
		{"field added", protoMsg(`int32 a = 1;`), protoMsg(`int32 a = 1; string b = 2;`), true, true},
		{"field removed", protoMsg(`int32 a = 1; string b = 2;`), protoMsg(`int32 a = 1;`), true, true},
		{"field renamed", protoMsg(`int32 a = 1;`), protoMsg(`int32 renamed = 1;`), true, true},
		{"int32 to int64 (wire compatible)", protoMsg(`int32 a = 1;`), protoMsg(`int64 a = 1;`), true, true},
		{"uint64 to bool (wire compatible)", protoMsg(`uint64 a = 1;`), protoMsg(`bool a = 1;`), true, true},
		{"string to bytes (wire compatible)", protoMsg(`string a = 1;`), protoMsg(`bytes a = 1;`), true, true},
		{"sint32 to sint64 (wire compatible)", protoMsg(`sint32 a = 1;`), protoMsg(`sint64 a = 1;`), true, true},
		{"fixed32 to sfixed32 (wire compatible)", protoMsg(`fixed32 a = 1;`), protoMsg(`sfixed32 a = 1;`), true, true},
		{"int32 to sint32", protoMsg(`int32 a = 1;`), protoMsg(`sint32 a = 1;`), false, false},
		{"int32 to string", protoMsg(`int32 a = 1;`), protoMsg(`string a = 1;`), false, false},
		{"double to float", protoMsg(`double a = 1;`), protoMsg(`float a = 1;`), false, false},
		{"scalar to message", protoMsg(`int32 a = 1; message N { int32 x = 1; }`), protoMsg(`N a = 1; message N { int32 x = 1; }`), false, false},
		{"message type changed", protoMsg(`N a = 1; message N { int32 x = 1; } message O { int32 x = 1; }`), protoMsg(`O a = 1; message N { int32 x = 1; } message O { int32 x = 1; }`), false, false},
		{"singular to repeated number", protoMsg(`int32 a = 1;`), protoMsg(`repeated int32 a = 1;`), false, false},
		{"singular to repeated string", protoMsg(`string a = 1;`), protoMsg(`repeated string a = 1;`), true, true},
		{"singular to repeated message", protoMsg(`N a = 1; message N { int32 x = 1; }`), protoMsg(`repeated N a = 1; message N { int32 x = 1; }`), true, true},
		{"enum to int32 (both varints)", `syntax = "proto3"; enum E { A = 0; } message M { E e = 1; }`, `syntax = "proto3"; enum E { A = 0; } message M { int32 e = 1; }`, true, true},
		{"enum to string", `syntax = "proto3"; enum E { A = 0; } message M { E e = 1; }`, `syntax = "proto3"; enum E { A = 0; } message M { string e = 1; }`, false, false},
		{"proto2 required to optional", `syntax = "proto2"; message M { required int32 a = 1; }`, `syntax = "proto2"; message M { optional int32 a = 1; }`, true, false},
		{"package changed", protoMsg(`int32 a = 1;`), `syntax = "proto3"; package other; message M { int32 a = 1; }`, false, false},
		{"message removed", protoMsg(`int32 a = 1;`) + ` message Gone { int32 x = 1; }`, protoMsg(`int32 a = 1;`), false, true},
		{"two fields moved into a new oneof", protoMsg(`int32 a = 1; string b = 2;`), protoMsg(`oneof o { int32 a = 1; string b = 2; }`), false, true},
		{"one field moved into a new oneof", protoMsg(`int32 a = 1;`), protoMsg(`oneof o { int32 a = 1; string b = 2; }`), true, true},
		{"field moved into an existing oneof", protoMsg(`int32 a = 1; oneof o { string b = 2; }`), protoMsg(`oneof o { int32 a = 1; string b = 2; }`), false, true},
		{"field removed from a oneof", protoMsg(`oneof o { int32 a = 1; string b = 2; }`), protoMsg(`oneof o { int32 a = 1; }`), false, true},
		{"enum value added", `syntax = "proto3"; enum E { A = 0; } message M { E e = 1; }`, `syntax = "proto3"; enum E { A = 0; B = 1; } message M { E e = 1; }`, true, true},
		{"well-known type kept", `syntax = "proto3"; import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp t = 1; }`,
			`syntax = "proto3"; import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp t = 1; int32 b = 2; }`, true, true},
		{"well-known type changed", `syntax = "proto3"; import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp t = 1; }`,
			`syntax = "proto3"; import "google/protobuf/duration.proto"; message M { google.protobuf.Duration t = 1; }`, false, false},
		{"proto2 required field added", `syntax = "proto2"; message M { optional int32 a = 1; }`, `syntax = "proto2"; message M { optional int32 a = 1; required int32 b = 2; }`, false, false},
		{"nested message field changed", protoMsg(`N n = 1; message N { int32 x = 1; }`), protoMsg(`N n = 1; message N { string x = 1; }`), false, false},
	})
	runTriples(t, TypeProtobuf, []tripleCase{
		// v2 removed a, v3 brings number 1 back as a string.
		{"field number reused", protoMsg(`int32 a = 1;`), protoMsg(`string b = 2;`), protoMsg(`string b = 2; string a = 1;`),
			[]string{LevelBackward, LevelForward, LevelFull, LevelNone}},
	})
}

func TestJSONSchemaCompatibilityMatrix(t *testing.T) {
	open := func(props string, extra string) string {
		return `{"type":"object","properties":{` + props + `}` + extra + `}`
	}
	closed := func(props string, extra string) string {
		return `{"type":"object","additionalProperties":false,"properties":{` + props + `}` + extra + `}`
	}
	a := `"a":{"type":"string"}`
	b := `"b":{"type":"string"}`
	bDef := `"b":{"type":"string","default":"x"}`
	runPairs(t, TypeJSON, []pairCase{
		{"open: property added", open(a, ""), open(a+","+b, ""), false, true},
		{"open: property with empty schema added", open(a, ""), open(a+`,"b":{}`, ""), true, true},
		{"open: property removed", open(a+","+b, ""), open(a, ""), true, false},
		{"closed: optional property added", closed(a, ""), closed(a+","+b, ""), true, false},
		{"closed: required property added", closed(a, ""), closed(a+","+b, `,"required":["b"]`), false, false},
		{"closed: required property with default added", closed(a, ""), closed(a+","+bDef, `,"required":["b"]`), true, false},
		{"closed: property removed", closed(a+","+b, ""), closed(a, ""), false, true},
		{"property made required", open(a, ""), open(a, `,"required":["a"]`), false, true},
		{"integer to number", `{"type":"integer"}`, `{"type":"number"}`, true, false},
		{"string to integer", `{"type":"string"}`, `{"type":"integer"}`, false, false},
		{"type added to a union", `{"type":"string"}`, `{"type":["string","null"]}`, true, false},
		{"enum extended", `{"enum":["A","B"]}`, `{"enum":["A","B","C"]}`, true, false},
		{"enum changed", `{"enum":["A"]}`, `{"enum":["B"]}`, false, false},
		{"content model closed", open(a, ""), closed(a, ""), false, true},
		{"maxLength added", `{"type":"string"}`, `{"type":"string","maxLength":5}`, false, true},
		{"maxLength increased", `{"type":"string","maxLength":5}`, `{"type":"string","maxLength":9}`, true, false},
		{"minimum increased", `{"type":"number","minimum":1}`, `{"type":"number","minimum":2}`, false, true},
		{"pattern added", `{"type":"string"}`, `{"type":"string","pattern":"^a"}`, false, true},
		{"nested property type narrowed", open(`"n":`+open(`"x":{"type":"number"}`, ""), ""), open(`"n":`+open(`"x":{"type":"integer"}`, ""), ""), false, true},
		{"array items widened", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"number"}}`, true, false},
		{"oneOf branch added", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}`, true, false},
		{"dependentRequired added", open(a+","+b, ""), open(a+","+b, `,"dependentRequired":{"a":["b"]}`), false, true},
		{"patternProperties changed", open("", `,"patternProperties":{"^x":{"type":"string"}}`), open("", `,"patternProperties":{"^x":{"type":"integer"}}`), false, false},
		{"local ref followed", `{"definitions":{"x":{"type":"integer"}},"properties":{"p":{"$ref":"#/definitions/x"}}}`,
			`{"definitions":{"x":{"type":"number"}},"properties":{"p":{"$ref":"#/definitions/x"}}}`, true, false},
	})
	nest := func(n int, leaf string) string {
		return strings.Repeat(`{"type":"object","properties":{"n":`, n) + leaf + strings.Repeat("}}", n)
	}
	runPairs(t, TypeJSON, []pairCase{
		{"deep: equal", nest(80, `{"type":"integer"}`), nest(80, `{"type":"integer"}`), true, true},
		{"deep: widened within the bound", nest(40, `{"type":"integer"}`), nest(40, `{"type":"number"}`), true, false},
		{"deep: changed below the bound", nest(80, `{"type":"integer"}`), nest(80, `{"type":"number"}`), false, false},
	})
	runTriples(t, TypeJSON, []tripleCase{
		{"widened against the latest only", `{"type":"string"}`, `{"type":"integer"}`, `{"type":"number"}`,
			[]string{LevelBackward, LevelNone}},
	})
}

// Transitive levels through the API: v3 is refused under
// BACKWARD_TRANSITIVE and accepted under BACKWARD.
func TestTransitiveThroughAPI(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := `{"name":"a","type":"int"}`
	bDef := `{"name":"b","type":"string","default":""}`
	b := `{"name":"b","type":"string"}`
	ts.do("PUT", "/config/tr", map[string]string{"compatibility": LevelBackwardTransitive}, nil)
	ts.register("tr", SchemaRequest{Schema: avroRec(a)})
	ts.register("tr", SchemaRequest{Schema: avroRec(a, bDef)})
	ts.wantErr("POST", "/subjects/tr/versions", SchemaRequest{Schema: avroRec(a, b)}, 409, codeIncompatible)
	ts.do("PUT", "/config/tr", map[string]string{"compatibility": LevelBackward}, nil)
	if id := ts.register("tr", SchemaRequest{Schema: avroRec(a, b)}); id != 3 {
		t.Fatalf("id %d", id)
	}
}
