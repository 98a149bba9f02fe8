package codec

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"
)

type avroAddress struct {
	City string `avro:"city"`
	Zip  *int32 `avro:"zip"`
}

type avroOrder struct {
	ID       int64             `avro:"id"`
	Customer string            `avro:"customer"`
	Note     *string           `avro:"note"`
	Qty      int32             `avro:"qty,default=1"`
	Placed   time.Time         `avro:"placed"`
	Due      time.Time         `avro:"due,date"`
	Price    *big.Rat          `avro:"price,decimal(10,2)"`
	Ref      [16]byte          `avro:"ref,uuid"`
	Tags     []string          `avro:"tags"`
	Attrs    map[string]string `avro:"attrs"`
	Ship     avroAddress       `avro:"ship"`
	Raw      []byte            `avro:"raw"`
	Skipped  string            `avro:"-"`
}

const avroOrderSchema = `{"type":"record","name":"avroOrder","fields":[` +
	`{"name":"id","type":"long"},` +
	`{"name":"customer","type":"string"},` +
	`{"name":"note","type":["null","string"],"default":null},` +
	`{"name":"qty","type":"int","default":1},` +
	`{"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},` +
	`{"name":"due","type":{"type":"int","logicalType":"date"}},` +
	`{"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}],"default":null},` +
	`{"name":"ref","type":{"type":"fixed","name":"uuid","size":16,"logicalType":"uuid"}},` +
	`{"name":"tags","type":{"type":"array","items":"string"}},` +
	`{"name":"attrs","type":{"type":"map","values":"string"}},` +
	`{"name":"ship","type":{"type":"record","name":"avroAddress","fields":[` +
	`{"name":"city","type":"string"},{"name":"zip","type":["null","int"],"default":null}]}},` +
	`{"name":"raw","type":"bytes"}]}`

func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("schema differs\n got: %s\nwant: %s", gb, wb)
	}
}

func TestAvroSchemaOf(t *testing.T) {
	got, err := AvroSchemaOf[avroOrder]()
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, avroOrderSchema)
}

func TestAvroSchemaOfRejectsNonStruct(t *testing.T) {
	if _, err := AvroSchemaOf[int](); err == nil {
		t.Fatal("AvroSchemaOf[int] succeeded")
	}
	if _, err := Avro[chan int](""); err == nil {
		t.Fatal("Avro[chan int] succeeded")
	}
}

func testOrder() avroOrder {
	note := "leave at door"
	zip := int32(10115)
	return avroOrder{
		ID: 42, Customer: "ada", Note: &note, Qty: 3,
		Placed: time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		Due:    time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		Price:  big.NewRat(12345, 100),
		Ref:    [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8},
		Tags:   []string{"a", "b"}, Attrs: map[string]string{"k": "v"},
		Ship: avroAddress{City: "Berlin", Zip: &zip},
		Raw:  []byte{0, 1, 2},
	}
}

func checkOrder(t *testing.T, got, want avroOrder) {
	t.Helper()
	if got.ID != want.ID || got.Customer != want.Customer || *got.Note != *want.Note || got.Qty != want.Qty ||
		!got.Placed.Equal(want.Placed) || !got.Due.Equal(want.Due) || got.Price.Cmp(want.Price) != 0 ||
		got.Ref != want.Ref || len(got.Tags) != 2 || got.Tags[1] != "b" || got.Attrs["k"] != "v" ||
		got.Ship.City != want.Ship.City || *got.Ship.Zip != *want.Ship.Zip || string(got.Raw) != string(want.Raw) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestAvroRoundTripDerived(t *testing.T) {
	c, err := Avro[avroOrder]("")
	if err != nil {
		t.Fatal(err)
	}
	in := testOrder()
	b, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, out, in)

	// Null branches decode to nil pointers.
	in.Note, in.Ship.Zip = nil, nil
	b, _ = c.Encode(in)
	out, err = c.Decode(b)
	if err != nil || out.Note != nil || out.Ship.Zip != nil {
		t.Fatalf("nulls: %+v %v", out, err)
	}

	// Trailing bytes and truncation are decode errors.
	if _, err := c.Decode(append(b, 0)); !errors.Is(err, ErrDecode) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := c.Decode(b[:len(b)-2]); !errors.Is(err, ErrDecode) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestAvroLogicalTypeBytes(t *testing.T) {
	// Byte-exact: timestamp-millis is a zig-zag long of milliseconds, date a
	// zig-zag int of days, decimal the unscaled two's-complement big-endian.
	type logical struct {
		At    time.Time `avro:"at"`
		Day   time.Time `avro:"day,date"`
		Price *big.Rat  `avro:"price,decimal(4,2)"`
	}
	c, err := Avro[logical]("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(logical{At: time.UnixMilli(1), Day: time.Unix(86400*2, 0).UTC(), Price: big.NewRat(-1, 100)})
	if err != nil {
		t.Fatal(err)
	}
	// at=1ms -> 02; day=2 -> 04; price (a pointer, so ["null", decimal])
	// -> branch 1 (02), then -0.01 is unscaled -1: bytes of length 1 (02) ff.
	if want := "\x02\x04\x02\x02\xff"; string(b) != want {
		t.Fatalf("encoding = %x, want %x", b, want)
	}
}

func TestAvroExplicitSchemaAndErrors(t *testing.T) {
	c, err := Avro[string](`"string"`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode("héllo")
	if err != nil || string(b) != "\x0ch\xc3\xa9llo" {
		t.Fatalf("encode = %x %v", b, err)
	}
	if s, err := c.Decode(b); err != nil || s != "héllo" {
		t.Fatalf("decode = %q %v", s, err)
	}
	if _, err := Avro[string](`{"type":"nope"}`); err == nil {
		t.Fatal("bad schema parsed")
	}
	ci, err := Avro[int32](`"int"`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Decode([]byte{0x80}); !errors.Is(err, ErrDecode) {
		t.Fatalf("truncated varint: %v", err)
	}
	type wrong struct {
		X string `avro:"x"`
	}
	cw, err := Avro[wrong](`{"type":"record","name":"r","fields":[{"name":"x","type":"int"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Encode(wrong{X: "a"}); !errors.Is(err, ErrEncode) {
		t.Fatalf("type mismatch: %v", err)
	}
}

func TestAvroReaderForResolvesWriterSchema(t *testing.T) {
	type v1 struct {
		Name string `avro:"name"`
		Old  int32  `avro:"old"`
	}
	type v2 struct {
		Name  string `avro:"name"`
		Email string `avro:"email,default=none"`
	}
	w, _ := Avro[v1](`{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"old","type":"int"}]}`)
	r, err := Avro[v2](`{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string","default":"none"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := w.Encode(v1{Name: "ada", Old: 7})
	ws, _ := w.Schema()
	read, err := r.ReaderFor(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(b, nil)
	if err != nil || got != (v2{Name: "ada", Email: "none"}) {
		t.Fatalf("resolved = %+v %v", got, err)
	}
	// Incompatible: the reader needs a field the writer lacks, with no default.
	type v3 struct {
		Must int32 `avro:"must"`
	}
	r3, _ := Avro[v3](`{"type":"record","name":"User","fields":[{"name":"must","type":"int"}]}`)
	if _, err := r3.ReaderFor(ws, nil); err == nil {
		t.Fatal("incompatible writer schema resolved")
	}
	if _, err := r.ReaderFor(Schema{Type: SchemaTypeJSON, Text: "{}"}, nil); err == nil {
		t.Fatal("JSON writer schema accepted by Avro")
	}
}
