package codec_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-io/sluice/codec"
)

type Order struct {
	ID     int64     `json:"id" avro:"id"`
	Item   string    `json:"item" avro:"item"`
	Note   *string   `json:"note,omitempty" avro:"note"`
	Placed time.Time `json:"placed" avro:"placed"`
}

func ExampleJSON() {
	c := codec.JSON[Order]()
	b, _ := c.Encode(Order{ID: 7, Item: "tea", Placed: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	fmt.Println(string(b))
	o, _ := c.Decode(b)
	fmt.Println(o.ID, o.Item, o.Placed.Year())
	// Output:
	// {"id":7,"item":"tea","placed":"2026-01-02T03:04:05Z"}
	// 7 tea 2026
}

func ExampleAvro() {
	schema, _ := codec.AvroSchemaOf[Order]()
	fmt.Println(schema)

	c, _ := codec.Avro[Order]("") // "" derives the schema from Order
	b, _ := c.Encode(Order{ID: 7, Item: "tea", Placed: time.UnixMilli(1000).UTC()})
	fmt.Printf("% x\n", b)
	o, _ := c.Decode(b)
	fmt.Println(o.ID, o.Item, o.Note == nil, o.Placed.UnixMilli())
	// Output:
	// {"fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"default":null,"name":"note","type":["null","string"]},{"name":"placed","type":{"logicalType":"timestamp-millis","type":"long"}}],"name":"Order","type":"record"}
	// 0e 06 74 65 61 00 d0 0f
	// 7 tea true 1000
}

func ExampleJSONSchema() {
	type Item struct {
		Qty int `json:"qty"`
	}
	c, _ := codec.JSONSchema[Item](`{"type":"object","properties":{"qty":{"minimum":1}}}`)
	_, err := c.Encode(Item{Qty: 0})
	fmt.Println(err != nil)
	b, _ := c.Encode(Item{Qty: 2})
	fmt.Println(string(b))
	// Output:
	// true
	// {"qty":2}
}

func ExampleAppendHeader() {
	// Avro and JSON Schema: magic byte 0, then the schema id big-endian.
	fmt.Printf("% x\n", codec.AppendHeader(nil, 1))
	// Protobuf: then the message path; [0] is a single 0 byte, other paths
	// are the count and the indexes as zig-zag varints.
	fmt.Printf("% x\n", codec.AppendProtobufHeader(nil, 1, []int{0}))
	fmt.Printf("% x\n", codec.AppendProtobufHeader(nil, 1, []int{1}))
	fmt.Printf("% x\n", codec.AppendProtobufHeader(nil, 1, []int{2, 0}))

	id, indexes, payload, err := codec.ParseProtobufHeader([]byte{0, 0, 0, 1, 0, 4, 4, 0, 0xca, 0xfe})
	fmt.Println(id, indexes, payload, err)
	// Output:
	// 00 00 00 00 01
	// 00 00 00 00 01 00
	// 00 00 00 00 01 02 02
	// 00 00 00 00 01 04 04 00
	// 256 [2 0] [202 254] <nil>
}

// exampleRegistry is a tiny in-memory codec.Registry; use
// codec.NewRegistryClient for a real schema registry.
type exampleRegistry struct {
	mu      sync.Mutex
	schemas []codec.Schema
}

func (r *exampleRegistry) Register(_ context.Context, _ string, s codec.Schema) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, have := range r.schemas {
		if have.Text == s.Text {
			return i + 1, nil
		}
	}
	r.schemas = append(r.schemas, s)
	return len(r.schemas), nil
}

func (r *exampleRegistry) Lookup(ctx context.Context, subject string, s codec.Schema) (int, error) {
	return r.Register(ctx, subject, s)
}

func (r *exampleRegistry) SchemaByID(_ context.Context, id int) (codec.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 1 || id > len(r.schemas) {
		return codec.Schema{}, codec.ErrSchemaNotFound
	}
	return r.schemas[id-1], nil
}

func (r *exampleRegistry) SchemaByVersion(context.Context, string, int) (codec.Schema, error) {
	return codec.Schema{}, codec.ErrSchemaNotFound // this registry keeps no versions
}

func ExampleSerde() {
	ctx := context.Background()
	c, _ := codec.Avro[Order]("")
	s, _ := codec.NewSerde(c, &exampleRegistry{}) // registers under "orders-value"
	b, _ := s.Encode(ctx, "orders", Order{ID: 7, Item: "tea"})
	fmt.Printf("% x\n", b[:codec.HeaderSize])
	o, _ := s.Decode(ctx, b)
	fmt.Println(o.ID, o.Item)
	// Output:
	// 00 00 00 00 01
	// 7 tea
}
