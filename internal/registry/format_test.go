package registry

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// ?format=serialized returns a Protobuf schema as a base64
// FileDescriptorProto, whatever form it was registered in: Confluent's
// JavaScript and Go Protobuf deserializers ask for it and parse the answer
// as a descriptor (the JavaScript one failed with "premature EOF" on a
// schema registered as .proto text). Other types and formats are returned
// as stored.
func TestFormatSerialized(t *testing.T) {
	ts := newTestServer(t, Config{})
	text := "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nimport \"google/protobuf/timestamp.proto\";\n" +
		"// An order.\nmessage Order {\n  int64 id = 1;\n  Money total = 2;\n  google.protobuf.Timestamp at = 3;\n  message Line { string item = 1; }\n  repeated Line lines = 4;\n}\n"
	ts.register("money.proto", SchemaRequest{SchemaType: TypeProtobuf, Schema: `syntax = "proto3"; package shop; message Money { int64 units = 1; }`})
	refs := []Reference{{Name: "money.proto", Subject: "money.proto", Version: 1}}
	id := ts.register("orders-value", SchemaRequest{SchemaType: TypeProtobuf, Schema: text, References: refs})

	check := func(path, got string) {
		t.Helper()
		raw, err := base64.StdEncoding.DecodeString(got)
		if err != nil {
			t.Fatalf("%s: schema %q is not base64: %v", path, got, err)
		}
		var fdp descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fdp); err != nil {
			t.Fatalf("%s: not a FileDescriptorProto: %v", path, err)
		}
		if fdp.GetPackage() != "shop" || fdp.GetSyntax() != "proto3" || len(fdp.MessageType) != 1 || fdp.MessageType[0].GetName() != "Order" {
			t.Fatalf("%s: descriptor %v", path, &fdp)
		}
		m := fdp.MessageType[0]
		if len(m.Field) != 4 || m.Field[1].GetTypeName() != ".shop.Money" || m.Field[2].GetTypeName() != ".google.protobuf.Timestamp" ||
			len(m.NestedType) != 1 || m.NestedType[0].GetName() != "Line" {
			t.Fatalf("%s: message %v", path, m)
		}
		if deps := fdp.Dependency; len(deps) != 2 || deps[0] != "money.proto" || deps[1] != "google/protobuf/timestamp.proto" {
			t.Fatalf("%s: dependencies %v", path, deps)
		}
		if fdp.SourceCodeInfo != nil {
			t.Fatalf("%s: source code info kept", path)
		}
	}
	var byID struct {
		Schema     string
		SchemaType string
		References []Reference
	}
	path := "/schemas/ids/" + strconv.Itoa(id) + "?format=serialized"
	if st, raw := ts.do("GET", path, nil, &byID); st != 200 || byID.SchemaType != TypeProtobuf || len(byID.References) != 1 {
		t.Fatalf("%s: %d %s", path, st, raw)
	}
	check(path, byID.Schema)
	var info SchemaInfo
	for _, v := range []string{"1", "latest", "-1"} {
		path = "/subjects/orders-value/versions/" + v + "?format=serialized"
		if st, raw := ts.do("GET", path, nil, &info); st != 200 || info.ID != id {
			t.Fatalf("%s: %d %s", path, st, raw)
		}
		check(path, info.Schema)
	}
	for _, path := range []string{"/schemas/ids/" + strconv.Itoa(id) + "/schema?format=serialized", "/subjects/orders-value/versions/1/schema?format=serialized"} {
		st, raw := ts.do("GET", path, nil, nil)
		if st != 200 {
			t.Fatalf("%s: %d %s", path, st, raw)
		}
		check(path, string(raw))
	}
	// Without the format, and for a referenced schema (the text a client
	// resolving references gets), the registered text.
	if _, raw := ts.do("GET", "/schemas/ids/"+strconv.Itoa(id)+"/schema", nil, nil); string(raw) != strings.TrimSpace(text) {
		t.Fatalf("default format: %q", raw)
	}
	// A schema registered as a descriptor comes back as registered.
	desc := base64.StdEncoding.EncodeToString(mustMarshal(t, &descriptorpb.FileDescriptorProto{
		Name: proto.String("point.proto"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Point"), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("x"), Number: proto.Int32(1), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type: descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(), JsonName: proto.String("x")}}}},
	}))
	pid := ts.register("points-value", SchemaRequest{SchemaType: TypeProtobuf, Schema: desc})
	if _, raw := ts.do("GET", "/schemas/ids/"+strconv.Itoa(pid)+"/schema?format=serialized", nil, nil); string(raw) != desc {
		t.Fatalf("descriptor registration, serialized: %q, want %q", raw, desc)
	}
	// Avro ignores a format it does not have.
	avsc := `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	aid := ts.register("r-value", SchemaRequest{Schema: avsc})
	if _, raw := ts.do("GET", "/schemas/ids/"+strconv.Itoa(aid)+"/schema?format=serialized", nil, nil); string(raw) != avsc {
		t.Fatalf("avro, serialized: %q", raw)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
