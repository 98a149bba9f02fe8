package codec

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const orderProto = `syntax = "proto3";
package test.v1;
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  map<string, int32> counts = 2;
  message Line {
    string sku = 1;
    int32 qty = 2;
  }
  repeated Line lines = 3;
  google.protobuf.Timestamp at = 4;
}
message Other {
  string x = 1;
}
`

func TestProtobufGeneratedRoundTrip(t *testing.T) {
	c := Protobuf[*timestamppb.Timestamp]()
	if !slices.Equal(c.MessageIndexes(), []int{0}) {
		t.Fatalf("indexes %v", c.MessageIndexes())
	}
	s, err := c.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != SchemaTypeProtobuf || !strings.Contains(s.Text, "message Timestamp") || !strings.Contains(s.Text, "package google.protobuf;") {
		t.Fatalf("schema %v:\n%s", s.Type, s.Text)
	}
	// The printed schema compiles back to the same message.
	fd, err := ParseProto(s.Text)
	if err != nil {
		t.Fatalf("printed schema does not compile: %v\n%s", err, s.Text)
	}
	if fd.Messages().Get(0).FullName() != "google.protobuf.Timestamp" {
		t.Fatalf("compiled %s", fd.Messages().Get(0).FullName())
	}
	in := &timestamppb.Timestamp{Seconds: 1700000000, Nanos: 5}
	b, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x08\x80\xe2\xcf\xaa\x06\x10\x05"; string(b) != want {
		t.Fatalf("encoding %x, want %x", b, want)
	}
	out, err := c.Decode(b)
	if err != nil || !proto.Equal(in, out) {
		t.Fatalf("decode = %v %v", out, err)
	}
	if _, err := c.Decode([]byte{0x08}); !errors.Is(err, ErrDecode) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestProtobufNestedMessageIndexes(t *testing.T) {
	c := Protobuf[*descriptorpb.DescriptorProto_ExtensionRange]()
	// descriptor.proto: FileDescriptorSet, FileDescriptorProto,
	// DescriptorProto { ExtensionRange, ... }.
	if !slices.Equal(c.MessageIndexes(), []int{2, 0}) {
		t.Fatalf("indexes %v, want [2 0]", c.MessageIndexes())
	}
}

func TestProtobufDynamic(t *testing.T) {
	fd, err := ParseProto(orderProto)
	if err != nil {
		t.Fatal(err)
	}
	order := fd.Messages().ByName("Order")
	line := order.Messages().ByName("Line")
	other := fd.Messages().ByName("Other")
	// Map entries are not counted: Line is [0 0] as Confluent's Java
	// serializer numbers it, though its descriptor index is 1.
	for _, tc := range []struct {
		md   protoreflect.MessageDescriptor
		want []int
	}{{order, []int{0}}, {line, []int{0, 0}}, {other, []int{1}}} {
		if got := messageIndexes(tc.md); !slices.Equal(got, tc.want) {
			t.Errorf("%s: indexes %v, want %v", tc.md.FullName(), got, tc.want)
		}
		if got, err := messageAt(fd, tc.want); err != nil || got.FullName() != tc.md.FullName() {
			t.Errorf("messageAt(%v) = %v %v, want %s", tc.want, got, err, tc.md.FullName())
		}
	}
	for _, bad := range [][]int{{2}, {0, 1}, {1, 0}, {}} {
		if _, err := messageAt(fd, bad); err == nil {
			t.Errorf("messageAt(%v) succeeded", bad)
		}
	}

	c := ProtobufDynamic(line)
	cs, err := c.Schema()
	if err != nil || !slices.Equal(c.MessageIndexes(), []int{0, 0}) || !strings.Contains(cs.Text, "map<string, int32> counts") {
		t.Fatalf("indexes %v schema %v:\n%s", c.MessageIndexes(), err, cs.Text)
	}
	m := dynamicpb.NewMessage(line)
	m.Set(line.Fields().ByName("sku"), protoreflect.ValueOfString("ab"))
	m.Set(line.Fields().ByName("qty"), protoreflect.ValueOfInt32(3))
	b, err := c.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x0a\x02ab\x10\x03"; string(b) != want {
		t.Fatalf("encoding %x, want %x", b, want)
	}
	got, err := c.Decode(b)
	if err != nil || !proto.Equal(got, m) {
		t.Fatalf("decode = %v %v", got, err)
	}
	if _, err := c.Encode(dynamicpb.NewMessage(other)); !errors.Is(err, ErrEncode) {
		t.Fatalf("other message type: %v", err)
	}
	if _, err := c.Encode(nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("nil: %v", err)
	}

	// A reader built from the writer schema decodes each payload as the
	// message its path names.
	read, err := c.ReaderFor(Schema{Type: SchemaTypeProtobuf, Text: orderProto}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := dynamicpb.NewMessage(other)
	o.Set(other.Fields().ByName("x"), protoreflect.ValueOfString("zz"))
	ob, _ := proto.Marshal(o)
	got, err = read(ob, []int{1})
	if err != nil || got.ProtoReflect().Descriptor().FullName() != "test.v1.Other" ||
		got.ProtoReflect().Get(got.ProtoReflect().Descriptor().Fields().ByName("x")).String() != "zz" {
		t.Fatalf("read Other = %v %v", got, err)
	}
	if _, err := read(ob, []int{5}); !errors.Is(err, ErrDecode) {
		t.Fatalf("bad path: %v", err)
	}
	if _, err := c.ReaderFor(Schema{Type: SchemaTypeProtobuf, Text: "syntax = nope"}, nil); err == nil {
		t.Fatal("malformed writer schema accepted")
	}
}

func TestProtobufGeneratedReaderChecksMessageType(t *testing.T) {
	c := Protobuf[*timestamppb.Timestamp]()
	ds, _ := Protobuf[*durationpb.Duration]().Schema()
	read, err := c.ReaderFor(ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(durationpb.New(5))
	if _, err := read(b, []int{0}); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "google.protobuf.Duration") {
		t.Fatalf("Duration payload read as Timestamp: %v", err)
	}
	cs, _ := c.Schema()
	read, _ = c.ReaderFor(cs, nil)
	tb, _ := proto.Marshal(timestamppb.New(timestamppb.Now().AsTime()))
	if _, err := read(tb, []int{0}); err != nil {
		t.Fatal(err)
	}
}

func TestParseProtoErrors(t *testing.T) {
	if _, err := ParseProto(`syntax = "proto3"; message A { int32 x = 1; int32 y = 1; }`); err == nil {
		t.Fatal("duplicate field number compiled")
	}
	if _, err := ParseProto(`syntax = "proto3"; import "other.proto"; message A { int32 x = 1; }`); err == nil {
		t.Fatal("unknown import compiled")
	}
}

func TestProtobufSchemaWithOtherImportsFails(t *testing.T) {
	comp := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{
			"a.proto": `syntax = "proto3"; package a; message A { int32 x = 1; }`,
			"b.proto": `syntax = "proto3"; package b; import "a.proto"; message B { a.A a = 1; }`,
		}),
	})}
	files, err := comp.Compile(context.Background(), "b.proto")
	if err != nil {
		t.Fatal(err)
	}
	c := ProtobufDynamic(files[0].Messages().Get(0))
	if _, err := c.Schema(); !errors.Is(err, ErrReferencesUnsupported) {
		t.Fatalf("Schema: %v", err)
	}
	if _, err := NewSerde(c, newMemRegistry()); !errors.Is(err, ErrReferencesUnsupported) {
		t.Fatalf("NewSerde: %v", err)
	}
	// The codec itself still works without a registry.
	m := dynamicpb.NewMessage(files[0].Messages().Get(0))
	if _, err := c.Encode(m); err != nil {
		t.Fatal(err)
	}
}
