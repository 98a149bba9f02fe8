package codec

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/avro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Writer schemas with references: the Serde fetches the referenced schemas
// (transitively) by subject and version and the codec compiles the writer
// schema with them.

func TestSerdeResolvesAvroReferences(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	geo := `{"type":"record","name":"Geo","namespace":"com.x","fields":[{"name":"lat","type":"double"}]}`
	addr := `{"type":"record","name":"Address","namespace":"com.x","fields":[{"name":"city","type":"string"},{"name":"geo","type":"com.x.Geo"}]}`
	user := `{"type":"record","name":"User","namespace":"com.x","fields":[{"name":"name","type":"string"},{"name":"home","type":"com.x.Address"}]}`
	mustRegister := func(subject string, s Schema) int {
		id, err := reg.Register(ctx, subject, s)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mustRegister("geo", Schema{Type: SchemaTypeAvro, Text: geo})
	mustRegister("address", Schema{Type: SchemaTypeAvro, Text: addr, References: []SchemaReference{{Name: "com.x.Geo", Subject: "geo", Version: 1}}})
	id := mustRegister("users-value", Schema{Type: SchemaTypeAvro, Text: user, References: []SchemaReference{{Name: "com.x.Address", Subject: "address", Version: 1}}})

	// The payload, written with the three schemas parsed together.
	var cache avro.SchemaCache
	cache.Parse(geo)
	cache.Parse(addr)
	w, err := cache.Parse(user)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := w.Encode(map[string]any{"name": "ada", "home": map[string]any{"city": "Berlin", "geo": map[string]any{"lat": 52.5}}})
	if err != nil {
		t.Fatal(err)
	}
	framed := append(AppendHeader(nil, uint32(id)), payload...)

	type Geo struct {
		Lat float64 `avro:"lat"`
	}
	type Address struct {
		City string `avro:"city"`
		Geo  Geo    `avro:"geo"`
	}
	type User struct {
		Name string  `avro:"name"`
		Home Address `avro:"home"`
	}
	c, err := Avro[User](`{"type":"record","name":"User","namespace":"com.x","fields":[{"name":"name","type":"string"},` +
		`{"name":"home","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},` +
		`{"name":"geo","type":{"type":"record","name":"Geo","fields":[{"name":"lat","type":"double"}]}}]}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustSerde(t, c, reg).Decode(ctx, framed)
	if err != nil || got.Name != "ada" || got.Home.City != "Berlin" || got.Home.Geo.Lat != 52.5 {
		t.Fatalf("decode = %+v %v", got, err)
	}
	if reg.count("get geo 1") != 1 || reg.count("get address 1") != 1 {
		t.Fatalf("reference fetches %v", reg.calls)
	}

	// A reference the registry does not have.
	bad := mustRegister("bad-value", Schema{Type: SchemaTypeAvro, Text: user, References: []SchemaReference{{Name: "com.x.Address", Subject: "nope", Version: 1}}})
	if _, err := mustSerde(t, c, reg).Decode(ctx, append(AppendHeader(nil, uint32(bad)), payload...)); !errors.Is(err, ErrSchemaNotFound) || !errors.Is(err, ErrDecode) {
		t.Fatalf("missing reference: %v", err)
	}
}

func TestSerdeReferenceCycleAndLimit(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	// a v1 references b v1 which references a v1: a registry should refuse
	// it, but a Serde must not loop on it.
	reg.Register(ctx, "a", Schema{Type: SchemaTypeAvro, Text: `"int"`, References: []SchemaReference{{Name: "b", Subject: "b", Version: 1}}})
	reg.Register(ctx, "b", Schema{Type: SchemaTypeAvro, Text: `"long"`, References: []SchemaReference{{Name: "a", Subject: "a", Version: 1}}})
	id, _ := reg.Register(ctx, "t-value", Schema{Type: SchemaTypeAvro, Text: `"string"`, References: []SchemaReference{{Name: "a", Subject: "a", Version: 1}}})
	c, _ := Avro[string](`"string"`)
	if _, err := mustSerde(t, c, reg).Decode(ctx, append(AppendHeader(nil, uint32(id)), 0)); !errors.Is(err, ErrReferencesUnsupported) {
		t.Fatalf("cycle: %v", err)
	}

	// A chain longer than MaxReferences.
	prev := []SchemaReference(nil)
	for i := range MaxReferences + 1 {
		subject := "chain" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		reg.Register(ctx, subject, Schema{Type: SchemaTypeAvro, Text: `"int"` + string(rune(' ')) + subject[5:], References: prev})
		prev = []SchemaReference{{Name: subject, Subject: subject, Version: 1}}
	}
	id, _ = reg.Register(ctx, "long-value", Schema{Type: SchemaTypeAvro, Text: `"string"`, References: prev})
	if _, err := mustSerde(t, c, reg).Decode(ctx, append(AppendHeader(nil, uint32(id)), 0)); !errors.Is(err, ErrReferencesUnsupported) {
		t.Fatalf("over MaxReferences: %v", err)
	}
}

func TestSerdeResolvesProtobufImports(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	money := `syntax = "proto3"; package shop; message Money { int64 cents = 1; }`
	order := `syntax = "proto3"; package shop; import "shop/money.proto"; message Order { Money total = 1; string id = 2; }`
	reg.Register(ctx, "shop/money.proto", Schema{Type: SchemaTypeProtobuf, Text: money})
	id, _ := reg.Register(ctx, "orders-value", Schema{Type: SchemaTypeProtobuf, Text: order,
		References: []SchemaReference{{Name: "shop/money.proto", Subject: "shop/money.proto", Version: 1}}})

	fd, err := ParseProto(order, NamedSchema{Name: "shop/money.proto", Schema: Schema{Type: SchemaTypeProtobuf, Text: money}})
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().ByName("Order")
	m := dynamicpb.NewMessage(md)
	total := dynamicpb.NewMessage(md.Fields().ByName("total").Message())
	total.Set(total.Descriptor().Fields().ByName("cents"), protoreflect.ValueOfInt64(250))
	m.Set(md.Fields().ByName("total"), protoreflect.ValueOfMessage(total))
	m.Set(md.Fields().ByName("id"), protoreflect.ValueOfString("o-1"))
	payload, _ := proto.Marshal(m)
	framed := append(AppendProtobufHeader(nil, uint32(id), []int{0}), payload...)

	// Any dynamic codec: the Serde decodes with the writer's schema.
	other, _ := ParseProto(`syntax = "proto3"; message X {}`)
	got, err := mustSerde(t, ProtobufDynamic(other.Messages().Get(0)), reg).Decode(ctx, framed)
	if err != nil {
		t.Fatal(err)
	}
	gr := got.ProtoReflect()
	gotTotal := gr.Get(gr.Descriptor().Fields().ByName("total")).Message()
	if gr.Descriptor().FullName() != "shop.Order" || gr.Get(gr.Descriptor().Fields().ByName("id")).String() != "o-1" ||
		gotTotal.Get(gotTotal.Descriptor().Fields().ByName("cents")).Int() != 250 {
		t.Fatalf("decoded %v", got)
	}
}

func TestSerdeResolvesJSONSchemaReferences(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	item := `{"type":"object","properties":{"qty":{"type":"integer","minimum":1}},"required":["qty"]}`
	cart := `{"type":"object","properties":{"items":{"type":"array","items":{"$ref":"item.json"}}}}`
	reg.Register(ctx, "item", Schema{Type: SchemaTypeJSON, Text: item})
	id, _ := reg.Register(ctx, "carts-value", Schema{Type: SchemaTypeJSON, Text: cart,
		References: []SchemaReference{{Name: "item.json", Subject: "item", Version: 1}}})
	type Cart struct {
		Items []struct {
			Qty int `json:"qty"`
		} `json:"items"`
	}
	c, err := JSONSchema[Cart](`{"type":"object"}`)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSerde(t, c, reg)
	got, err := s.Decode(ctx, append(AppendHeader(nil, uint32(id)), `{"items":[{"qty":2}]}`...))
	if err != nil || len(got.Items) != 1 || got.Items[0].Qty != 2 {
		t.Fatalf("decode = %+v %v", got, err)
	}
	// The referenced schema validates: qty 0 is invalid under item.json.
	if _, err := s.Decode(ctx, append(AppendHeader(nil, uint32(id)), `{"items":[{"qty":0}]}`...)); !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid under the referenced schema: %v", err)
	}
}
