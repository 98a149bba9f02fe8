package codec

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// memRegistry is an in-memory Registry for tests: ids from 1 per distinct
// schema, subjects holding the ids registered under them.
type memRegistry struct {
	mu       sync.Mutex
	next     int
	ids      map[Schema0]int
	schemas  map[int]Schema
	subjects map[string]map[int]bool
	versions map[string][]int // subject -> ids by version - 1
	calls    map[string]int
	forceID  int // if non-zero, Register returns it
}

// Schema0 is a comparable key of a schema without references.
type Schema0 struct {
	Type SchemaType
	Text string
}

func newMemRegistry() *memRegistry {
	return &memRegistry{next: 1, ids: map[Schema0]int{}, schemas: map[int]Schema{}, subjects: map[string]map[int]bool{}, versions: map[string][]int{}, calls: map[string]int{}}
}

func (r *memRegistry) Register(_ context.Context, subject string, s Schema) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls["register "+subject]++
	if r.forceID != 0 {
		return r.forceID, nil
	}
	k := Schema0{s.Type, s.Text + fmt.Sprint(s.References)}
	id, ok := r.ids[k]
	if !ok {
		id = r.next
		r.next++
		r.ids[k] = id
		r.schemas[id] = s
	}
	if r.subjects[subject] == nil {
		r.subjects[subject] = map[int]bool{}
	}
	if !r.subjects[subject][id] {
		r.versions[subject] = append(r.versions[subject], id)
	}
	r.subjects[subject][id] = true
	return id, nil
}

func (r *memRegistry) Lookup(_ context.Context, subject string, s Schema) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls["lookup "+subject]++
	id, ok := r.ids[Schema0{s.Type, s.Text + fmt.Sprint(s.References)}]
	if !ok || !r.subjects[subject][id] {
		return 0, fmt.Errorf("subject %s: %w", subject, ErrSchemaNotFound)
	}
	return id, nil
}

func (r *memRegistry) SchemaByID(_ context.Context, id int) (Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[fmt.Sprintf("get %d", id)]++
	s, ok := r.schemas[id]
	if !ok {
		return Schema{}, fmt.Errorf("id %d: %w", id, ErrSchemaNotFound)
	}
	return s, nil
}

func (r *memRegistry) SchemaByVersion(_ context.Context, subject string, version int) (Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[fmt.Sprintf("get %s %d", subject, version)]++
	vs := r.versions[subject]
	if version < 1 || version > len(vs) {
		return Schema{}, fmt.Errorf("subject %s version %d: %w", subject, version, ErrSchemaNotFound)
	}
	return r.schemas[vs[version-1]], nil
}

func (r *memRegistry) count(call string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[call]
}

func mustSerde[T any](tb testing.TB, c SchemaCodec[T], reg Registry, opts ...SerdeOpt) *Serde[T] {
	tb.Helper()
	s, err := NewSerde(c, reg, append([]SerdeOpt{Logger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

type user1 struct {
	Name string `avro:"name"`
	Age  int32  `avro:"age"`
}

type user2 struct {
	Name  string `avro:"name"`
	Email string `avro:"email,default=unknown"`
}

func TestSerdeAvro(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	c, err := Avro[user1]("")
	if err != nil {
		t.Fatal(err)
	}
	s := mustSerde(t, c, reg)
	b, err := s.Encode(ctx, "users", user1{Name: "ab", Age: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 00, id 1, then Avro: "ab" (len 2 -> 04), 1 -> 02.
	if got, want := hex.EncodeToString(b), "0000000001"+"046162"+"02"; got != want {
		t.Fatalf("framed %s, want %s", got, want)
	}
	if _, err := s.Encode(ctx, "users", user1{Name: "cd"}); err != nil {
		t.Fatal(err)
	}
	if n := reg.count("register users-value"); n != 1 {
		t.Fatalf("registered %d times, want 1 (cached)", n)
	}
	got, err := s.Decode(ctx, b)
	if err != nil || got != (user1{Name: "ab", Age: 1}) {
		t.Fatalf("decode = %+v %v", got, err)
	}
	if n := reg.count("get 1"); n != 0 {
		t.Fatalf("own schema fetched %d times, want 0 (known from registering)", n)
	}

	// Another Serde meets id 1 and fetches its schema once.
	other := mustSerde(t, c, reg)
	for range 3 {
		if got, err := other.Decode(ctx, b); err != nil || got.Name != "ab" {
			t.Fatalf("decode = %+v %v", got, err)
		}
	}
	if n := reg.count("get 1"); n != 1 {
		t.Fatalf("schema 1 fetched %d times, want 1", n)
	}

	// A reader with a newer schema resolves the writer's.
	c2, err := Avro[user2](`{"type":"record","name":"user1","fields":[{"name":"name","type":"string"},{"name":"email","type":"string","default":"unknown"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustSerde(t, c2, reg)
	if got, err := s2.Decode(ctx, b); err != nil || got != (user2{Name: "ab", Email: "unknown"}) {
		t.Fatalf("resolved decode = %+v %v", got, err)
	}
	b2, err := s2.Encode(ctx, "users", user2{Name: "x", Email: "e"})
	if err != nil || hex.EncodeToString(b2[:5]) != "0000000002" {
		t.Fatalf("v2 framed %x %v", b2, err)
	}

	// An id the registry does not know, a bad magic byte, a short input.
	unknown := append(AppendHeader(nil, 99), b[5:]...)
	if _, err := s.Decode(ctx, unknown); !errors.Is(err, ErrDecode) || !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := s.Decode(ctx, append([]byte{1}, b[1:]...)); !errors.Is(err, ErrBadMagic) || !errors.Is(err, ErrDecode) {
		t.Fatalf("bad magic: %v", err)
	}
	if _, err := s.Decode(ctx, b[:3]); !errors.Is(err, ErrShortHeader) {
		t.Fatalf("short: %v", err)
	}
	if _, err := s.Decode(ctx, append(AppendHeader(nil, 1<<31), b[5:]...)); !errors.Is(err, ErrSchemaID) {
		t.Fatalf("id 2^31: %v", err)
	}
}

func TestSerdeKeysSubjectsAndLookup(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	c, _ := Avro[user1]("")
	if _, err := mustSerde(t, c, reg, ForKeys()).Encode(ctx, "t", user1{}); err != nil {
		t.Fatal(err)
	}
	if reg.count("register t-key") != 1 {
		t.Fatalf("calls %v", reg.calls)
	}
	custom := mustSerde(t, c, reg, SubjectName(func(topic string, isKey bool, s Schema) string {
		return fmt.Sprintf("%s/%v/%v", topic, isKey, s.Type)
	}))
	if _, err := custom.Encode(ctx, "t", user1{}); err != nil || reg.count("register t/false/AVRO") != 1 {
		t.Fatalf("custom subject: %v %v", err, reg.calls)
	}

	lookup := mustSerde(t, c, reg, AutoRegister(false))
	_, err := lookup.Encode(ctx, "u", user1{})
	if !errors.Is(err, ErrEncode) || !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("lookup of an unregistered schema: %v", err)
	}
	if reg.count("register u-value") != 0 {
		t.Fatal("AutoRegister(false) registered")
	}
	if _, err := mustSerde(t, c, reg).Encode(ctx, "u", user1{}); err != nil {
		t.Fatal(err)
	}
	if b, err := lookup.Encode(ctx, "u", user1{}); err != nil || hex.EncodeToString(b[:5]) != "0000000001" {
		t.Fatalf("lookup after registration: %x %v", b, err)
	}

	reg.forceID = -1
	if _, err := mustSerde(t, c, reg).Encode(ctx, "v", user1{}); !errors.Is(err, ErrSchemaID) {
		t.Fatalf("negative id from the registry: %v", err)
	}
}

func TestSerdeProtobuf(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	fd, err := ParseProto(orderProto)
	if err != nil {
		t.Fatal(err)
	}
	line := fd.Messages().ByName("Order").Messages().ByName("Line")
	lc := ProtobufDynamic(line)
	m := dynamicpb.NewMessage(line)
	m.Set(line.Fields().ByName("qty"), protoreflect.ValueOfInt32(2))
	b, err := mustSerde(t, lc, reg).Encode(ctx, "orders", m)
	if err != nil {
		t.Fatal(err)
	}
	// 00, id 1, path [0 0] (count 2 -> 04, 00, 00), then qty=2 (10 02).
	if got, want := hex.EncodeToString(b), "0000000001"+"040000"+"1002"; got != want {
		t.Fatalf("framed %s, want %s", got, want)
	}
	// A Serde for another message of the schema decodes it by its path.
	oc := ProtobufDynamic(fd.Messages().ByName("Order"))
	got, err := mustSerde(t, oc, reg).Decode(ctx, b)
	if err != nil || got.ProtoReflect().Descriptor().FullName() != "test.v1.Order.Line" {
		t.Fatalf("decode = %v %v", got, err)
	}
	if _, err := mustSerde(t, oc, reg).Decode(ctx, []byte{0, 0, 0, 0, 1, 0x03}); !errors.Is(err, ErrBadMessageIndexes) {
		t.Fatalf("bad indexes: %v", err)
	}
	ob, err := mustSerde(t, oc, reg).Encode(ctx, "orders", dynamicpb.NewMessage(fd.Messages().ByName("Order")))
	if err != nil || hex.EncodeToString(ob) != "000000000100" {
		t.Fatalf("Order framed %x %v", ob, err)
	}
}

func TestSerdeJSONSchema(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	type item struct {
		Qty int `json:"qty"`
	}
	c, err := JSONSchema[item](`{"type":"object","properties":{"qty":{"type":"integer","minimum":1}},"required":["qty"]}`)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSerde(t, c, reg)
	b, err := s.Encode(ctx, "items", item{Qty: 2})
	if err != nil || string(b) != "\x00\x00\x00\x00\x01"+`{"qty":2}` {
		t.Fatalf("framed %q %v", b, err)
	}
	if _, err := s.Encode(ctx, "items", item{}); !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid encode: %v", err)
	}
	if got, err := mustSerde(t, c, reg).Decode(ctx, b); err != nil || got.Qty != 2 {
		t.Fatalf("decode = %+v %v", got, err)
	}
	if _, err := s.Decode(ctx, append(b[:5:5], `{"qty":0}`...)); !errors.Is(err, ErrValidation) {
		t.Fatalf("invalid decode: %v", err)
	}
	// An Avro id met by a JSON Schema Serde is an error, not a misparse.
	ac, _ := Avro[user1]("")
	ab, _ := mustSerde(t, ac, reg).Encode(ctx, "users", user1{Name: "x"})
	if _, err := mustSerde(t, c, reg).Decode(ctx, ab); !errors.Is(err, ErrDecode) {
		t.Fatalf("Avro payload: %v", err)
	}
}

func TestSerdeConcurrent(t *testing.T) {
	ctx := context.Background()
	reg := newMemRegistry()
	c, _ := Avro[user1]("")
	s := mustSerde(t, c, reg)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := user1{Name: fmt.Sprint(g), Age: int32(i)}
				b, err := s.Encode(ctx, fmt.Sprint("t", i%3), in)
				if err != nil {
					errs <- err
					return
				}
				out, err := s.Decode(ctx, b)
				if err != nil || out != in {
					errs <- fmt.Errorf("decode %+v %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSerdeLogsRegistryFailures(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c, _ := Avro[user1]("")
	s := mustSerde(t, c, newMemRegistry(), Logger(log), AutoRegister(false))
	if _, err := s.Encode(context.Background(), "t", user1{}); err == nil {
		t.Fatal("lookup of an unregistered schema succeeded")
	}
	if _, err := s.Decode(context.Background(), []byte{0, 0, 0, 0, 9}); err == nil {
		t.Fatal("unknown id decoded")
	}
	out := buf.String()
	if !strings.Contains(out, "cannot get the schema id") || !strings.Contains(out, "subject=t-value") ||
		!strings.Contains(out, "cannot fetch a writer schema") || !strings.Contains(out, "id=9") {
		t.Fatalf("log:\n%s", out)
	}
}
