package registry

import "testing"

// FuzzSchemas parses arbitrary schema texts of every type and compares any
// two that parse, at every level: errors are fine, panics and hangs are not.
func FuzzSchemas(f *testing.F) {
	f.Add(TypeAvro, avroV1, avroV2)
	f.Add(TypeAvro, `["null","int"]`, `{"type":"enum","name":"E","symbols":["A"]}`)
	f.Add(TypeProtobuf, `syntax = "proto3"; message M { int32 a = 1; oneof o { string b = 2; } }`, `syntax = "proto3"; message M { repeated string a = 1; map<string, M> m = 3; }`)
	f.Add(TypeProtobuf, `syntax = "proto2"; message M { required int32 a = 1; extensions 10 to 20; }`, `syntax = "proto2"; package p; message M { optional int32 a = 1; }`)
	f.Add(TypeJSON, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, `{"oneOf":[{"type":"string"},{"$ref":"#/definitions/x"}],"definitions":{"x":{"type":"integer"}}}`)
	f.Add(TypeJSON, `{"$ref":"#"}`, `{"items":{"$ref":"#"}}`)
	f.Fuzz(func(t *testing.T, typ, a, b string) {
		switch typ {
		case TypeAvro, TypeProtobuf, TypeJSON:
		default:
			return
		}
		pa, errA := parseSchema(typ, a, nil)
		pb, errB := parseSchema(typ, b, nil)
		if errA != nil || errB != nil {
			return
		}
		_ = pa.canonical(true)
		_ = pb.canonical(false)
		for _, level := range allLevels {
			checkLevel(level, pa, []parsedSchema{pb, pa})
		}
	})
}
