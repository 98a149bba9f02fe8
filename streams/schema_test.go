package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/streams"
)

// Order is a record: Note is optional, Qty defaults to 1.
type Order struct {
	ID   int64   `json:"id" avro:"id"`
	Item string  `json:"item" avro:"item"`
	Qty  int32   `json:"qty" avro:"qty,default=1" jsonschema:"default=1"`
	Note *string `json:"note,omitempty" avro:"note"`
}

func TestSchema(t *testing.T) {
	s, err := streams.Schema[Order]()
	if err != nil {
		t.Fatal(err)
	}
	var avro struct {
		Type, Name string
		Fields     []struct {
			Name    string
			Type    any
			Default any
		}
	}
	if err := json.Unmarshal([]byte(s.Avro), &avro); err != nil {
		t.Fatalf("avro schema %s: %v", s.Avro, err)
	}
	if avro.Type != "record" || avro.Name != "Order" || len(avro.Fields) != 4 {
		t.Fatalf("avro schema %s", s.Avro)
	}
	if f := avro.Fields[2]; f.Name != "qty" || f.Default != float64(1) {
		t.Errorf("qty field %+v, want default 1", f)
	}
	if f := avro.Fields[3]; f.Name != "note" || f.Default != nil {
		t.Errorf("note field %+v, want a null default", f)
	} else if u, ok := f.Type.([]any); !ok || len(u) != 2 || u[0] != "null" {
		t.Errorf("note type %v, want [null, string]", f.Type)
	}
	var js struct {
		Type       string
		Required   []string
		Properties map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(s.JSON), &js); err != nil {
		t.Fatalf("json schema %s: %v", s.JSON, err)
	}
	if js.Type != "object" || len(js.Required) != 3 || js.Properties["qty"]["default"] != float64(1) {
		t.Fatalf("json schema %s: want id, item, qty required and qty default 1", s.JSON)
	}
	for _, r := range js.Required {
		if r == "note" {
			t.Fatalf("note is optional: %s", s.JSON)
		}
	}
	if _, err := streams.Schema[int](); err == nil {
		t.Fatal("Schema[int]: no error; a record must be a struct")
	}
}

// startBrokerWithRegistry starts a broker with its schema registry on free
// ports and returns the broker's and the registry's addresses.
func startBrokerWithRegistry(t *testing.T) (addr, registryURL string) {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", RegistryListen: "127.0.0.1:0", DataDir: t.TempDir(),
		Kafka: map[string]string{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	return b.Addr().String(), "http://" + b.RegistryAddr().String()
}

// TestRegistryTopic runs an agent over a topic whose values are Avro
// records framed by a registry Serde, against the broker's registry.
func TestRegistryTopic(t *testing.T) {
	addr, url := startBrokerWithRegistry(t)
	reg, err := codec.NewRegistryClient([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	avro, err := codec.Avro[Order]("")
	if err != nil {
		t.Fatal(err)
	}
	serde, err := codec.NewSerde(avro, reg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.NewApp("reg", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState(),
		streams.TopicPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	app.OnDecodeError(streams.StopOnDecodeError())
	orders := streams.NewTopic(app, "orders", codec.String(), streams.SerdeCodec(serde), streams.Internal())
	items := streams.NewTopic(app, "items", codec.String(), codec.JSON[int32](), streams.Internal())
	streams.NewAgent(app, "items", orders, func(ctx context.Context, s *streams.Stream[string, Order]) error {
		for ev := range s.Events() {
			if err := items.Send(ctx, ev.Value.Item, ev.Value.Qty); err != nil {
				return err
			}
		}
		return nil
	})
	stop := runApp(t, app)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	note := "gift"
	for _, o := range []Order{{ID: 1, Item: "tea", Qty: 2}, {ID: 2, Item: "cup", Qty: 1, Note: &note}} {
		if err := orders.Send(ctx, "", o); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("items", "orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]string{}
	var framed int
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Topic == "items" {
				got[string(r.Key)] = string(r.Value)
				return
			}
			id, _, err := codec.ParseHeader(r.Value)
			if err != nil || id == 0 {
				t.Errorf("orders record %x is not Confluent-framed: %v", r.Value, err)
			}
			framed++
		})
	}
	if got["tea"] != "2" || got["cup"] != "1" || framed != 2 {
		t.Fatalf("items %v, framed orders %d; want tea=2 cup=1 and 2 framed", got, framed)
	}
	s, err := reg.SchemaByVersion(ctx, "orders-value", 1)
	if err != nil {
		t.Fatalf("subject orders-value: %v", err)
	}
	if s.Type != codec.SchemaTypeAvro {
		t.Fatalf("registered schema type %v", s.Type)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// orderV1 is Order as a first version wrote it: no qty, no note.
type orderV1 struct {
	ID   int64  `avro:"id"`
	Item string `avro:"item"`
}

const orderV1Schema = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}`

// TestRegistryTopicSchemaEvolution: records written with an older schema
// reach the agent resolved to the current type (qty takes its default),
// and the app's own schema registers as the subject's next version under
// the registry's compatibility rules.
func TestRegistryTopicSchemaEvolution(t *testing.T) {
	addr, url := startBrokerWithRegistry(t)
	reg, err := codec.NewRegistryClient([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v1c, err := codec.Avro[orderV1](orderV1Schema)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := codec.NewSerde(v1c, reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v1.Encode(ctx, "orders2", orderV1{ID: 1, Item: "tea"})
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, addr, "orders2", 1)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "orders2", Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	avro, err := codec.Avro[Order]("")
	if err != nil {
		t.Fatal(err)
	}
	serde, err := codec.NewSerde(avro, reg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.NewApp("evo", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	app.OnDecodeError(streams.StopOnDecodeError())
	orders := streams.NewTopic(app, "orders2", codec.String(), streams.SerdeCodec(serde))
	items := streams.NewTopic(app, "items2", codec.String(), codec.JSON[int32](), streams.Internal(), streams.Partitions(1))
	streams.NewAgent(app, "items", orders, func(ctx context.Context, s *streams.Stream[string, Order]) error {
		for ev := range s.Events() {
			if err := items.Send(ctx, ev.Value.Item, ev.Value.Qty); err != nil {
				return err
			}
		}
		return nil
	})
	stop := runApp(t, app)
	if err := orders.Send(ctx, "", Order{ID: 2, Item: "cup", Qty: 3}); err != nil {
		t.Fatalf("sending with the new schema: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("items2"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]string{}
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	if got["tea"] != "1" || got["cup"] != "3" {
		t.Fatalf("items %v, want tea=1 (the default) and cup=3", got)
	}
	if _, err := reg.SchemaByVersion(ctx, "orders2-value", 2); err != nil {
		t.Fatalf("the app's schema is not version 2 of orders2-value: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryUnavailableStopsAgent: a record whose writer schema cannot
// be fetched because the registry is unreachable is not a decode error to
// skip: the batch fails (to be retried after a restart), whatever the
// decode-error handler.
func TestRegistryUnavailableStopsAgent(t *testing.T) {
	reg, err := codec.NewRegistryClient([]string{"http://127.0.0.1:1"}) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	avro, err := codec.Avro[Order]("")
	if err != nil {
		t.Fatal(err)
	}
	serde, err := codec.NewSerde(avro, reg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.NewApp("down", streams.Logger(quiet()), streams.InMemoryState(), streams.TopicPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	raw := streams.NewTopic(app, "orders", codec.String(), codec.Bytes())
	orders := streams.NewTopic(app, "orders", codec.String(), streams.SerdeCodec(serde))
	streams.NewAgent(app, "a", orders, func(ctx context.Context, s *streams.Stream[string, Order]) error {
		for range s.Events() {
			t.Error("an order reached the agent")
		}
		return nil
	})
	d := newDriver(t, app)
	if err := raw.Send(context.Background(), "", codec.AppendHeader(nil, 7)); err != nil {
		t.Fatal(err)
	}
	if err := d.Process(); !errors.Is(err, streams.ErrRegistryUnavailable) {
		t.Fatalf("Process = %v, want ErrRegistryUnavailable", err)
	}
	if n := app.Stats().DecodeErrors; n != 0 {
		t.Fatalf("%d decode errors counted, want 0 (the record was not skipped)", n)
	}
}
