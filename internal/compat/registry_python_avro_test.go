package compat

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRegistryPythonAvroTutorial is the seed tutorial's Avro cells through
// the registry from Python (testdata/kp_registry_avro.py): kafka-python
// produces Confluent-framed Avro (schemas registered with confluent-kafka's
// SchemaRegistryClient, payloads encoded with python3-avro), and a
// kafka-python consumer decodes each record with the writer schema it
// fetches by id. Then a Go reader (codec.Serde) decodes the same records
// from the topic, with the tutorial's User and with the v2 schema's type.
func TestRegistryPythonAvroTutorial(t *testing.T) {
	py := systemPython(t, "kafka")
	systemPython(t, "avro")
	systemPython(t, "confluent_kafka.schema_registry")
	s, url := startRegistryServer(t, "")
	out := run(t, ctxT(t, 180*time.Second), "", py, "testdata/kp_registry_avro.py", s.addr, url, filepath.Join("testdata", "tutorial"))
	type consumed struct {
		Offset   int64
		Key      string
		Magic    int
		SchemaID int `json:"schema_id"`
		Value    map[string]any
		Hex      string
	}
	var res struct {
		IDs        []int `json:"ids"`
		Versions   []int
		Consumed   []consumed
		FetchedIDs []int `json:"fetched_ids"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !reflect.DeepEqual(res.IDs, []int{1, 2}) || !reflect.DeepEqual(res.Versions, []int{1, 2}) || !reflect.DeepEqual(res.FetchedIDs, []int{1, 2}) {
		t.Fatalf("ids %v versions %v fetched %v", res.IDs, res.Versions, res.FetchedIDs)
	}
	want := []consumed{
		{0, "John", 0, 1, map[string]any{"first_name": "John", "last_name": "Doe", "age": float64(30)}, "0000000001084a6f686e06446f653c"},
		{1, "Jane", 0, 1, map[string]any{"first_name": "Jane", "last_name": "Roe", "age": float64(41)}, "0000000001084a616e6506526f6552"},
		{2, "Max", 0, 2, map[string]any{"first_name": "Max", "last_name": "Mustermann", "age": float64(52), "email": "max@example.com"},
			"0000000002064d6178144d75737465726d616e6e68021e6d6178406578616d706c652e636f6d"},
	}
	if !reflect.DeepEqual(res.Consumed, want) {
		t.Fatalf("python consumer read\n%+v\nwant\n%+v", res.Consumed, want)
	}

	// The Go reader: the records from the topic, decoded by codec.Serde
	// with the tutorial's User (v2's email is dropped by schema
	// resolution) and with a type of the v2 schema (v1 records get no
	// email, its default).
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("py_avro_users"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 60*time.Second)
	var values [][]byte
	for len(values) < 3 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for _, r := range fs.Records() {
			values = append(values, r.Value)
		}
	}
	reg, err := codec.NewRegistryClient([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	avsc, err := os.ReadFile(filepath.Join("testdata", "tutorial", "user.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := codec.Avro[tutorialUser](string(avsc))
	if err != nil {
		t.Fatal(err)
	}
	s1, err := codec.NewSerde(v1, reg, codec.AutoRegister(false))
	if err != nil {
		t.Fatal(err)
	}
	type userV2 struct {
		FirstName string  `avro:"first_name"`
		LastName  string  `avro:"last_name"`
		Age       int32   `avro:"age"`
		Email     *string `avro:"email"`
	}
	schema2, err := reg.SchemaByID(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := codec.Avro[userV2](schema2.Text)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := codec.NewSerde(v2, reg, codec.AutoRegister(false))
	if err != nil {
		t.Fatal(err)
	}
	email := "max@example.com"
	wantV1 := []tutorialUser{{"John", "Doe", 30}, {"Jane", "Roe", 41}, {"Max", "Mustermann", 52}}
	wantV2 := []userV2{{"John", "Doe", 30, nil}, {"Jane", "Roe", 41, nil}, {"Max", "Mustermann", 52, &email}}
	for i, b := range values {
		got1, err := s1.Decode(ctx, b)
		if err != nil || got1 != wantV1[i] {
			t.Errorf("record %d as User: %+v %v, want %+v", i, got1, err, wantV1[i])
		}
		got2, err := s2.Decode(ctx, b)
		if err != nil || !reflect.DeepEqual(got2, wantV2[i]) {
			t.Errorf("record %d as v2: %+v %v, want %+v", i, got2, err, wantV2[i])
		}
	}
}
