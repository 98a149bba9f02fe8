package registry

// Protobuf schemas: parsed with protocompile (the text of a .proto file, or
// a base64 FileDescriptorProto as Confluent's clients send); imports are the
// references by name, and google/protobuf/*.proto resolve without one.
//
// Compatibility follows Confluent's ProtobufSchema diff (SchemaDiff,
// MessageSchemaDiff, FieldSchemaDiff), comparing the writer's file
// ("original") with the reader's ("update"), fields matched by number:
//
//	PACKAGE_CHANGED                  incompatible
//	MESSAGE_REMOVED                  incompatible (MESSAGE_ADDED compatible)
//	FIELD_KIND_CHANGED               incompatible: scalar, enum, message switch
//	FIELD_SCALAR_KIND_CHANGED        incompatible unless both kinds are in one
//	                                 wire-compatible group: {int32 uint32 int64
//	                                 uint64 bool}, {sint32 sint64}, {fixed32
//	                                 sfixed32}, {fixed64 sfixed64}, {string bytes}
//	FIELD_NAMED_TYPE_CHANGED         incompatible: another message or enum type
//	REQUIRED_FIELD_ADDED / _REMOVED  incompatible (proto2 required)
//	ONEOF_FIELD_REMOVED              incompatible: a field left a oneof
//	MULTIPLE_FIELDS_MOVED_TO_ONEOF   incompatible: a new oneof took >1 old fields
//	FIELD_MOVED_TO_EXISTING_ONEOF    incompatible
//	FIELD_NUMERIC_LABEL_CHANGED      incompatible: singular and repeated swapped
//	                                 for a number (repeated numbers are packed);
//	                                 for string, bytes and messages compatible
//	FIELD_ADDED, FIELD_REMOVED, FIELD_NAME_CHANGED, an enum for a type of the
//	int32 group or back (both varints), enum changes, ONEOF_ADDED/REMOVED,
//	required to optional: compatible

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

type protoSchema struct {
	fd   protoreflect.FileDescriptor
	text string
}

// protoSource is a file's content: .proto text or a descriptor.
type protoSource struct {
	text string
	fdp  *descriptorpb.FileDescriptorProto
}

// asDescriptor decodes text as a base64 FileDescriptorProto, when it is one.
func asDescriptor(text string) *descriptorpb.FileDescriptorProto {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \n\t{;") {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(raw, &fdp); err != nil || fdp.GetName() == "" {
		return nil
	}
	fillJSONNames(fdp.MessageType, fdp.Extension)
	return &fdp
}

// fillJSONNames sets the JSON name of every field that has none, as protoc
// does when it writes a descriptor: Python's runtime serializes descriptors
// without them, and the compiler takes a missing name for a custom "".
func fillJSONNames(ms []*descriptorpb.DescriptorProto, exts []*descriptorpb.FieldDescriptorProto) {
	fill := func(fs []*descriptorpb.FieldDescriptorProto) {
		for _, f := range fs {
			if f.JsonName == nil || *f.JsonName == "" {
				f.JsonName = proto.String(defaultJSONName(f.GetName()))
			}
		}
	}
	fill(exts)
	for _, m := range ms {
		fill(m.Field)
		fillJSONNames(m.NestedType, m.Extension)
	}
}

// defaultJSONName is protobuf's lowerCamelCase JSON name of a field.
func defaultJSONName(name string) string {
	var b strings.Builder
	upper := false
	for _, r := range name {
		if r == '_' {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxProtoNesting bounds the brace nesting of a .proto text: the compiler
// recurses per level, and a deep enough file costs seconds of CPU.
const maxProtoNesting = 100

// protoNesting is the deepest brace nesting of a .proto text, outside
// strings and comments.
func protoNesting(text string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '"', '\'':
			for i++; i < len(text) && text[i] != c; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case '/':
			if i+1 < len(text) && text[i+1] == '/' {
				for i < len(text) && text[i] != '\n' {
					i++
				}
			} else if i+1 < len(text) && text[i+1] == '*' {
				end := strings.Index(text[i+2:], "*/")
				if end < 0 {
					return deepest
				}
				i += end + 3
			}
		case '{':
			depth++
			deepest = max(deepest, depth)
		case '}':
			depth--
		}
	}
	return deepest
}

func parseProtobuf(text string, deps []dep) (parsedSchema, error) {
	if d := protoNesting(text); d > maxProtoNesting {
		return nil, fmt.Errorf("nesting depth %d exceeds %d", d, maxProtoNesting)
	}
	files := map[string]protoSource{}
	var add func(ds []dep)
	add = func(ds []dep) {
		for _, d := range ds {
			if _, ok := files[d.name]; ok {
				continue
			}
			src := protoSource{text: d.text}
			if fdp := asDescriptor(d.text); fdp != nil {
				fdp.Name = proto.String(d.name)
				src = protoSource{fdp: fdp}
			}
			files[d.name] = src
			add(d.deps)
		}
	}
	add(deps)
	main := "__sluice_schema__.proto"
	if fdp := asDescriptor(text); fdp != nil {
		fdp.Name = proto.String(main)
		files[main] = protoSource{fdp: fdp}
	} else {
		files[main] = protoSource{text: text}
	}
	resolver := protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		src, ok := files[path]
		switch {
		case !ok:
			return protocompile.SearchResult{}, fmt.Errorf("%w: import %q is neither a reference nor a well-known type", errProtoImport, path)
		case src.fdp != nil:
			return protocompile.SearchResult{Proto: src.fdp}, nil
		default:
			return protocompile.SearchResult{Source: io.NopCloser(strings.NewReader(src.text))}, nil
		}
	}))
	var firstErr error
	c := protocompile.Compiler{
		Resolver:       resolver,
		MaxParallelism: 1,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			if firstErr == nil {
				firstErr = err
			}
			return err
		}, nil),
	}
	out, err := c.Compile(context.Background(), main)
	if err != nil {
		if firstErr != nil {
			err = firstErr
		}
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), main+":"))
	}
	var fd linker.File = out[0]
	return &protoSchema{fd: fd, text: strings.TrimSpace(text)}, nil
}

var errProtoImport = errors.New("unresolved import")

// canonical: the text as given; normalized, the schema's descriptor without
// source information, deterministically serialized and base64-encoded (a
// form Confluent's clients and registry read), so whitespace, comments and
// the text-or-descriptor choice no longer matter.
func (p *protoSchema) canonical(normalize bool) string {
	if !normalize {
		return p.text
	}
	fdp := protodesc.ToFileDescriptorProto(p.fd)
	fdp.SourceCodeInfo = nil
	fdp.Name = proto.String("schema.proto")
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return p.text
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func (p *protoSchema) canRead(writer parsedSchema) []string {
	w, ok := writer.(*protoSchema)
	if !ok {
		return []string{"schema types differ"}
	}
	return protoDiff(w.fd, p.fd)
}

// protoDiff lists the incompatible differences from original (writer) to
// update (reader).
func protoDiff(original, update protoreflect.FileDescriptor) []string {
	var out []string
	if original.Package() != update.Package() {
		out = append(out, fmt.Sprintf("PACKAGE_CHANGED: %q to %q", original.Package(), update.Package()))
	}
	um := map[string]protoreflect.MessageDescriptor{}
	var collect func(ms protoreflect.MessageDescriptors, m map[string]protoreflect.MessageDescriptor, pkg string)
	collect = func(ms protoreflect.MessageDescriptors, m map[string]protoreflect.MessageDescriptor, pkg string) {
		for i := 0; i < ms.Len(); i++ {
			md := ms.Get(i)
			if md.IsMapEntry() {
				continue
			}
			m[relName(md.FullName(), pkg)] = md
			collect(md.Messages(), m, pkg)
		}
	}
	om := map[string]protoreflect.MessageDescriptor{}
	collect(original.Messages(), om, string(original.Package()))
	collect(update.Messages(), um, string(update.Package()))
	for _, name := range sortedKeys(om) {
		u, ok := um[name]
		if !ok {
			out = append(out, fmt.Sprintf("MESSAGE_REMOVED: %s", name))
			continue
		}
		out = append(out, messageDiff(name, om[name], u, string(original.Package()), string(update.Package()))...)
	}
	return out
}

func relName(n protoreflect.FullName, pkg string) string {
	s := string(n)
	if pkg != "" {
		s = strings.TrimPrefix(s, pkg+".")
	}
	return s
}

func messageDiff(name string, o, u protoreflect.MessageDescriptor, opkg, upkg string) []string {
	var out []string
	ofs, ufs := o.Fields(), u.Fields()
	for i := 0; i < ofs.Len(); i++ {
		of := ofs.Get(i)
		uf := ufs.ByNumber(of.Number())
		if uf == nil {
			if of.Cardinality() == protoreflect.Required {
				out = append(out, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s.%s (#%d)", name, of.Name(), of.Number()))
			}
			if oo := realOneof(of); oo != nil && u.Oneofs().ByName(oo.Name()) != nil {
				out = append(out, fmt.Sprintf("ONEOF_FIELD_REMOVED: %s.%s (#%d) from oneof %s", name, of.Name(), of.Number(), oo.Name()))
			}
			continue
		}
		out = append(out, fieldDiff(name, of, uf, opkg, upkg)...)
		if of.Cardinality() != protoreflect.Required && uf.Cardinality() == protoreflect.Required {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s.%s (#%d)", name, uf.Name(), uf.Number()))
		}
		if oo, uo := realOneof(of), realOneof(uf); oo == nil && uo != nil && o.Oneofs().ByName(uo.Name()) != nil {
			out = append(out, fmt.Sprintf("FIELD_MOVED_TO_EXISTING_ONEOF: %s.%s (#%d) into %s", name, uf.Name(), uf.Number(), uo.Name()))
		}
	}
	for i := 0; i < ufs.Len(); i++ {
		uf := ufs.Get(i)
		if ofs.ByNumber(uf.Number()) == nil && uf.Cardinality() == protoreflect.Required {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s.%s (#%d)", name, uf.Name(), uf.Number()))
		}
	}
	// A new oneof that took more than one existing field.
	uos := u.Oneofs()
	for i := 0; i < uos.Len(); i++ {
		uo := uos.Get(i)
		if uo.IsSynthetic() || o.Oneofs().ByName(uo.Name()) != nil {
			continue
		}
		moved := 0
		for j := 0; j < uo.Fields().Len(); j++ {
			if of := ofs.ByNumber(uo.Fields().Get(j).Number()); of != nil && realOneof(of) == nil {
				moved++
			}
		}
		if moved > 1 {
			out = append(out, fmt.Sprintf("MULTIPLE_FIELDS_MOVED_TO_ONEOF: %s oneof %s", name, uo.Name()))
		}
	}
	return out
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// scalarGroup numbers the wire-compatible groups of scalar kinds.
func scalarGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	}
	return 100 + int(k) // float, double: only themselves
}

func lengthDelimited(k protoreflect.Kind) bool {
	return k == protoreflect.StringKind || k == protoreflect.BytesKind || k == protoreflect.MessageKind
}

func label(f protoreflect.FieldDescriptor) string {
	if f.IsList() {
		return "repeated"
	}
	return "singular"
}

type fieldClass int

const (
	classScalar fieldClass = iota
	classEnum
	classMessage
)

func classOf(f protoreflect.FieldDescriptor) fieldClass {
	switch f.Kind() {
	case protoreflect.EnumKind:
		return classEnum
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return classMessage
	}
	return classScalar
}

func fieldDiff(msg string, of, uf protoreflect.FieldDescriptor, opkg, upkg string) []string {
	where := fmt.Sprintf("%s.%s (#%d)", msg, uf.Name(), uf.Number())
	oc, uc := classOf(of), classOf(uf)
	if of.IsMap() != uf.IsMap() {
		return []string{"FIELD_KIND_CHANGED: " + where + " map"}
	}
	if of.IsMap() {
		var out []string
		out = append(out, fieldDiff(msg, of.MapKey(), uf.MapKey(), opkg, upkg)...)
		return append(out, fieldDiff(msg, of.MapValue(), uf.MapValue(), opkg, upkg)...)
	}
	var out []string
	// Singular and repeated share the wire only for length-delimited values
	// (FIELD_STRING_OR_BYTES_LABEL_CHANGED, compatible); repeated numbers
	// are packed (proto3's default).
	if of.IsList() != uf.IsList() && !(lengthDelimited(of.Kind()) && lengthDelimited(uf.Kind())) {
		out = append(out, fmt.Sprintf("FIELD_NUMERIC_LABEL_CHANGED: %s %s to %s", where, label(of), label(uf)))
	}
	if oc != uc {
		// An enum is a varint on the wire, as the int32 group is.
		if (oc == classEnum && uc == classScalar && scalarGroup(uf.Kind()) == 1) ||
			(uc == classEnum && oc == classScalar && scalarGroup(of.Kind()) == 1) {
			return out
		}
		return append(out, fmt.Sprintf("FIELD_KIND_CHANGED: %s from %s to %s", where, of.Kind(), uf.Kind()))
	}
	if len(out) > 0 {
		return out
	}
	switch oc {
	case classScalar:
		if of.Kind() != uf.Kind() && scalarGroup(of.Kind()) != scalarGroup(uf.Kind()) {
			return []string{fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s from %s to %s", where, of.Kind(), uf.Kind())}
		}
	case classEnum:
		if relName(of.Enum().FullName(), opkg) != relName(uf.Enum().FullName(), upkg) {
			return []string{fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", where, of.Enum().FullName(), uf.Enum().FullName())}
		}
	case classMessage:
		if relName(of.Message().FullName(), opkg) != relName(uf.Message().FullName(), upkg) {
			return []string{fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", where, of.Message().FullName(), uf.Message().FullName())}
		}
	}
	return nil
}
