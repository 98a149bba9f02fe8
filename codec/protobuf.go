package codec

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// ProtobufCodec is the Protobuf binary codec of a generated message type M
// (see Protobuf). It is a SchemaCodec for a Serde.
type ProtobufCodec[M proto.Message] struct {
	mt      protoreflect.MessageType
	indexes []int
}

// Protobuf returns the codec of the generated Protobuf message type M (a
// pointer such as *orderpb.Order).
func Protobuf[M proto.Message]() *ProtobufCodec[M] {
	var zero M
	mt := zero.ProtoReflect().Type()
	return &ProtobufCodec[M]{mt: mt, indexes: messageIndexes(mt.Descriptor())}
}

// Schema returns the registry form of the codec's schema: M's .proto file
// printed from its descriptor. It fails if the file imports files other
// than the standard google/protobuf ones, as those would need schema
// references.
func (c *ProtobufCodec[M]) Schema() (Schema, error) {
	return protoSchema(c.mt.Descriptor().ParentFile())
}

// MessageIndexes returns the path of M in its file, for the Confluent
// header: [0] for the first top-level message.
func (c *ProtobufCodec[M]) MessageIndexes() []int { return slices.Clone(c.indexes) }

// Encode returns the Protobuf binary encoding of v.
func (c *ProtobufCodec[M]) Encode(v M) ([]byte, error) { return c.AppendEncode(nil, v) }

// AppendEncode appends the Protobuf binary encoding of v to dst.
func (c *ProtobufCodec[M]) AppendEncode(dst []byte, v M) ([]byte, error) {
	return appendProto(dst, v)
}

// appendProto marshals deterministically: fields in number order (which
// dynamic messages otherwise do not guarantee) and map entries sorted, so a
// value always encodes to the same bytes, as Java's serializer writes them.
func appendProto(dst []byte, v proto.Message) ([]byte, error) {
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, v)
	if err != nil {
		return dst, fmt.Errorf("%w: protobuf: %w", ErrEncode, err)
	}
	return out, nil
}

// Decode parses the Protobuf binary encoding b into a new M.
func (c *ProtobufCodec[M]) Decode(b []byte) (M, error) {
	m := c.mt.New().Interface().(M)
	if err := proto.Unmarshal(b, m); err != nil {
		var zero M
		return zero, fmt.Errorf("%w: protobuf: %w", ErrDecode, err)
	}
	return m, nil
}

// ReaderFor returns a decoder of payloads written with the writer schema
// (its imports in refs) into M. If the writer schema compiles, a payload
// whose message path names a message type other than M's is an error.
func (c *ProtobufCodec[M]) ReaderFor(writer Schema, refs []NamedSchema) (func(payload []byte, indexes []int) (M, error), error) {
	if writer.Type != SchemaTypeProtobuf {
		return nil, fmt.Errorf("codec: protobuf: writer schema is %v", writer.Type)
	}
	fd, _ := parseProtoWithRefs(writer.Text, refs) // best effort: only used to check the message type
	want := c.mt.Descriptor().FullName()
	return func(payload []byte, indexes []int) (M, error) {
		if fd != nil {
			md, err := messageAt(fd, indexes)
			if err != nil {
				var zero M
				return zero, fmt.Errorf("%w: %w", ErrDecode, err)
			}
			if md.FullName() != want {
				var zero M
				return zero, fmt.Errorf("%w: protobuf: payload is a %s, not a %s", ErrDecode, md.FullName(), want)
			}
		}
		return c.Decode(payload)
	}, nil
}

// ProtobufDynamicCodec is the Protobuf codec of a message type known by its
// descriptor (see ProtobufDynamic). It is a SchemaCodec for a Serde.
type ProtobufDynamicCodec struct {
	desc    protoreflect.MessageDescriptor
	indexes []int
}

// ProtobufDynamic returns the codec of the message type desc (from ParseProto
// or any other descriptor source). Encode accepts any proto.Message of that
// type (generated or *dynamicpb.Message); Decode returns a
// *dynamicpb.Message. Within a Serde, Decode uses the writer's schema: a
// payload decodes as the message type its schema id and message path name.
func ProtobufDynamic(desc protoreflect.MessageDescriptor) *ProtobufDynamicCodec {
	return &ProtobufDynamicCodec{desc: desc, indexes: messageIndexes(desc)}
}

// Schema returns the registry form of the codec's schema: the .proto file
// of its message type printed from the descriptor. It fails if the file
// imports files other than the standard google/protobuf ones.
func (c *ProtobufDynamicCodec) Schema() (Schema, error) { return protoSchema(c.desc.ParentFile()) }

// MessageIndexes returns the path of the message type in its file.
func (c *ProtobufDynamicCodec) MessageIndexes() []int { return slices.Clone(c.indexes) }

// Encode returns the Protobuf binary encoding of v, which must be of the
// codec's message type.
func (c *ProtobufDynamicCodec) Encode(v proto.Message) ([]byte, error) {
	return c.AppendEncode(nil, v)
}

// AppendEncode appends the Protobuf binary encoding of v to dst.
func (c *ProtobufDynamicCodec) AppendEncode(dst []byte, v proto.Message) ([]byte, error) {
	if v == nil {
		return dst, fmt.Errorf("%w: protobuf: nil message", ErrEncode)
	}
	if got := v.ProtoReflect().Descriptor().FullName(); got != c.desc.FullName() {
		return dst, fmt.Errorf("%w: protobuf: message is a %s, not a %s", ErrEncode, got, c.desc.FullName())
	}
	return appendProto(dst, v)
}

// Decode parses the Protobuf binary encoding b into a *dynamicpb.Message.
func (c *ProtobufDynamicCodec) Decode(b []byte) (proto.Message, error) {
	return decodeDynamic(c.desc, b)
}

func decodeDynamic(md protoreflect.MessageDescriptor, b []byte) (proto.Message, error) {
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: protobuf: %w", ErrDecode, err)
	}
	return m, nil
}

// ReaderFor returns a decoder of payloads written with the writer schema
// (its imports in refs): each payload decodes as the message its path names
// in that schema.
func (c *ProtobufDynamicCodec) ReaderFor(writer Schema, refs []NamedSchema) (func(payload []byte, indexes []int) (proto.Message, error), error) {
	if writer.Type != SchemaTypeProtobuf {
		return nil, fmt.Errorf("codec: protobuf: writer schema is %v", writer.Type)
	}
	fd, err := parseProtoWithRefs(writer.Text, refs)
	if err != nil {
		return nil, fmt.Errorf("writer schema: %w", err)
	}
	return func(payload []byte, indexes []int) (proto.Message, error) {
		md, err := messageAt(fd, indexes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return decodeDynamic(md, payload)
	}, nil
}

// ParseProto compiles .proto source (proto2, proto3 or editions) with
// github.com/bufbuild/protocompile. It may import the standard
// google/protobuf files and the files in imports (import path to source).
func ParseProto(source string, imports ...NamedSchema) (protoreflect.FileDescriptor, error) {
	return parseProtoWithRefs(source, imports)
}

func parseProtoWithRefs(source string, refs []NamedSchema) (protoreflect.FileDescriptor, error) {
	name := "schema.proto"
	srcs := map[string]string{}
	for _, r := range refs {
		if r.Schema.Type != SchemaTypeProtobuf {
			return nil, fmt.Errorf("codec: protobuf: referenced schema %s is %v", r.Name, r.Schema.Type)
		}
		srcs[r.Name] = r.Schema.Text
	}
	for _, taken := srcs[name]; taken; _, taken = srcs[name] { // a reference could be named schema.proto
		name = "_" + name
	}
	srcs[name] = source
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
		MaxParallelism: 1,
	}
	files, err := c.Compile(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("codec: protobuf: compile .proto: %w", err)
	}
	return files[0], nil
}

// protoSchema prints fd as .proto source for the registry.
func protoSchema(fd protoreflect.FileDescriptor) (Schema, error) {
	imports := fd.Imports()
	for i := range imports.Len() {
		if p := imports.Get(i).Path(); !strings.HasPrefix(p, "google/protobuf/") {
			return Schema{}, fmt.Errorf("codec: protobuf: %s imports %s: %w", fd.Path(), p, ErrReferencesUnsupported)
		}
	}
	p := protoprint.Printer{OmitComments: protoprint.CommentsAll}
	var b strings.Builder
	if err := p.PrintProtoFile(fd, &b); err != nil {
		return Schema{}, fmt.Errorf("codec: protobuf: print %s: %w", fd.Path(), err)
	}
	return Schema{Type: SchemaTypeProtobuf, Text: b.String()}, nil
}

// messageIndexes returns the path of md in its file: the index of its
// top-level message, then of each nested message down to md. Map-entry
// messages (synthesized for map fields) are not counted: Confluent's Java
// serializer indexes the messages declared in the .proto source, where a
// map field declares none.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var path []int
	d := md
	for {
		var siblings protoreflect.MessageDescriptors
		parent, nested := d.Parent().(protoreflect.MessageDescriptor)
		if nested {
			siblings = parent.Messages()
		} else {
			siblings = d.ParentFile().Messages()
		}
		i := 0
		for j := range d.Index() {
			if !siblings.Get(j).IsMapEntry() {
				i++
			}
		}
		path = append(path, i)
		if !nested {
			break
		}
		d = parent
	}
	slices.Reverse(path)
	return path
}

// messageAt returns the message at path in fd (map entries not counted, as
// in messageIndexes).
func messageAt(fd protoreflect.FileDescriptor, path []int) (protoreflect.MessageDescriptor, error) {
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for depth, want := range path {
		md = nil
		for j, i := 0, 0; j < msgs.Len(); j++ {
			m := msgs.Get(j)
			if m.IsMapEntry() {
				continue
			}
			if i == want {
				md = m
				break
			}
			i++
		}
		if md == nil {
			return nil, fmt.Errorf("protobuf: message path %v: no message %d at depth %d of the schema", path, want, depth)
		}
		msgs = md.Messages()
	}
	if md == nil {
		return nil, fmt.Errorf("protobuf: empty message path")
	}
	return md, nil
}
