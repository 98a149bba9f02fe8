package compat

// The built-in schema registry driven by clients we did not write:
// franz-go's pkg/sr and confluent-kafka's schema_registry module, against
// the real binary; and its durability across kill -9.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// startRegistryServer starts sluice with its registry on a free port and
// returns the server and the registry's URL.
func startRegistryServer(t *testing.T, dir string) (*server, string) {
	t.Helper()
	addr := freePort(t)
	s := startServer(t, dir, "--registry-listen", addr)
	return s, "http://" + addr
}

func TestRegistryFranzGoSR(t *testing.T) {
	_, url := startRegistryServer(t, "")
	ctx := ctxT(t, 60*time.Second)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	types, err := cl.SupportedTypes(ctx)
	if err != nil || !reflect.DeepEqual(types, []sr.SchemaType{sr.TypeAvro, sr.TypeProtobuf, sr.TypeJSON}) {
		t.Fatalf("types %v %v", types, err)
	}
	v1 := sr.Schema{Schema: `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`}
	v2 := sr.Schema{Schema: `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`}
	s1, err := cl.CreateSchema(ctx, "users-value", v1)
	if err != nil || s1.ID != 1 || s1.Version != 1 || s1.Subject != "users-value" {
		t.Fatalf("create v1: %+v %v", s1, err)
	}
	s2, err := cl.CreateSchema(ctx, "users-value", v2)
	if err != nil || s2.ID != 2 || s2.Version != 2 {
		t.Fatalf("create v2: %+v %v", s2, err)
	}
	if got, err := cl.SchemaByID(ctx, 1); err != nil || got.Schema != v1.Schema {
		t.Fatalf("by id: %+v %v", got, err)
	}
	if got, err := cl.SchemaByVersion(ctx, "users-value", -1); err != nil || got.ID != 2 || got.Version != 2 {
		t.Fatalf("latest: %+v %v", got, err)
	}
	if got, err := cl.LookupSchema(ctx, "users-value", v1); err != nil || got.Version != 1 {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if got, err := cl.SchemaTextByVersion(ctx, "users-value", 1); err != nil || got != v1.Schema {
		t.Fatalf("text: %q %v", got, err)
	}
	if got, err := cl.SubjectVersions(ctx, "users-value"); err != nil || !reflect.DeepEqual(got, []int{1, 2}) {
		t.Fatalf("versions: %v %v", got, err)
	}
	// Incompatible: 409.
	bad := sr.Schema{Schema: `{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}`}
	var re *sr.ResponseError
	if _, err := cl.CreateSchema(ctx, "users-value", bad); !errors.As(err, &re) || re.ErrorCode != 409 || re.StatusCode != 409 {
		t.Fatalf("incompatible: %v", err)
	}
	if res, err := cl.CheckCompatibility(ctx, "users-value", -1, bad); err != nil || res.Is {
		t.Fatalf("check bad: %+v %v", res, err)
	}
	if res, err := cl.CheckCompatibility(ctx, "users-value", -1, v2); err != nil || !res.Is {
		t.Fatalf("check v2: %+v %v", res, err)
	}
	// Unknowns.
	if _, err := cl.SchemaByID(ctx, 99); !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := cl.SchemaByVersion(ctx, "nobody", 1); !errors.As(err, &re) || re.ErrorCode != 40401 {
		t.Fatalf("unknown subject: %v", err)
	}
	// Config and mode.
	if rs := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}, "users-value"); rs[0].Err != nil || rs[0].Level != sr.CompatFullTransitive {
		t.Fatalf("set compat: %+v", rs)
	}
	if rs := cl.Compatibility(ctx, "users-value"); rs[0].Err != nil || rs[0].Level != sr.CompatFullTransitive {
		t.Fatalf("compat: %+v", rs)
	}
	if rs := cl.Compatibility(ctx); rs[0].Err != nil || rs[0].Level != sr.CompatBackward {
		t.Fatalf("global compat: %+v", rs)
	}
	if rs := cl.SetMode(ctx, sr.ModeReadOnly, "users-value"); rs[0].Err != nil || rs[0].Mode != sr.ModeReadOnly {
		t.Fatalf("set mode: %+v", rs)
	}
	if _, err := cl.CreateSchema(ctx, "users-value", v2); !errors.As(err, &re) || re.ErrorCode != 42205 {
		t.Fatalf("read-only: %v", err)
	}
	if rs := cl.ResetMode(ctx, "users-value"); rs[0].Err != nil {
		t.Fatalf("reset mode: %+v", rs)
	}
	// Protobuf with a reference and a well-known import; JSON Schema.
	money := sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3"; package shop; message Money { int64 units = 1; string currency = 2; }`}
	if _, err := cl.CreateSchema(ctx, "money.proto", money); err != nil {
		t.Fatal(err)
	}
	order := sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3"; package shop; import "money.proto"; import "google/protobuf/timestamp.proto";
message Order { int64 id = 1; Money total = 2; google.protobuf.Timestamp at = 3; }`,
		References: []sr.SchemaReference{{Name: "money.proto", Subject: "money.proto", Version: 1}}}
	so, err := cl.CreateSchema(ctx, "orders-value", order)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cl.SchemaByID(ctx, so.ID); err != nil || got.Type != sr.TypeProtobuf || len(got.References) != 1 {
		t.Fatalf("protobuf by id: %+v %v", got, err)
	}
	if refs, err := cl.SchemaUsagesByID(ctx, so.ID); err != nil || len(refs) != 1 || refs[0].Subject != "orders-value" {
		t.Fatalf("usages: %+v %v", refs, err)
	}
	if refd, err := cl.SchemaReferences(ctx, "money.proto", 1); err != nil || len(refd) != 1 || refd[0].ID != so.ID {
		t.Fatalf("referenced by: %+v %v", refd, err)
	}
	// Changing a field's type breaks the protobuf compatibility.
	order2 := order
	order2.Schema = strings.Replace(order.Schema, "int64 id = 1", "string id = 1", 1)
	if _, err := cl.CreateSchema(ctx, "orders-value", order2); !errors.As(err, &re) || re.ErrorCode != 409 {
		t.Fatalf("protobuf incompatible: %v", err)
	}
	js := sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`}
	if _, err := cl.CreateSchema(ctx, "json-value", js); err != nil {
		t.Fatal(err)
	}
	// Deletes.
	if vs, err := cl.DeleteSubject(ctx, "json-value", sr.SoftDelete); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("soft delete: %v %v", vs, err)
	}
	if vs, err := cl.DeleteSubject(ctx, "json-value", sr.HardDelete); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("hard delete: %v %v", vs, err)
	}
	subs, err := cl.Subjects(ctx)
	if err != nil || !reflect.DeepEqual(subs, []string{"money.proto", "orders-value", "users-value"}) {
		t.Fatalf("subjects: %v %v", subs, err)
	}
	// A Serde encodes with the registered id in Confluent's framing.
	var serde sr.Serde
	serde.Register(s1.ID, "", sr.EncodeFn(func(v any) ([]byte, error) { return []byte(v.(string)), nil }),
		sr.DecodeFn(func(b []byte, v any) error { *(v.(*string)) = string(b); return nil }))
	enc, err := serde.Encode("x")
	if err != nil || len(enc) != 6 || enc[0] != 0 || enc[4] != byte(s1.ID) {
		t.Fatalf("serde: %x %v", enc, err)
	}
}

func TestRegistryConfluentKafkaPython(t *testing.T) {
	py := systemPython(t, "confluent_kafka.schema_registry.protobuf")
	systemPython(t, "confluent_kafka.schema_registry.json_schema")
	s, url := startRegistryServer(t, "")
	out := run(t, ctxT(t, 180*time.Second), "", py, "testdata/ck_registry.py", s.addr, url)
	var res struct {
		AvroID  int `json:"avro_id"`
		AvroID2 int `json:"avro_id2"`
		Latest  struct {
			ID, Version int
			Schema      string
		}
		LookupVersion         int             `json:"lookup_version"`
		Subjects              []string        `json:"subjects"`
		Versions              []int           `json:"versions"`
		CompatibleV2          bool            `json:"compatible_v2"`
		CompatibleBad         bool            `json:"compatible_bad"`
		IncompatibleError     *map[string]int `json:"incompatible_error"`
		MissingVersionError   *map[string]int `json:"missing_version_error"`
		Compatibility         string          `json:"compatibility"`
		ByIDSchema            string          `json:"by_id_schema"`
		ProtoRoundtrip        []bool          `json:"proto_roundtrip"`
		ProtoHeaders          []string        `json:"proto_headers"`
		ProtoLatest           string          `json:"proto_latest"`
		ProtoRefs             [][]string      `json:"proto_refs"`
		JSONRoundtrip         []bool          `json:"json_roundtrip"`
		JSONHeaders           []string        `json:"json_headers"`
		JSONIncompatibleError *map[string]int `json:"json_incompatible_error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	if raw["avro_id"] != 1.0 || raw["avro_id2"] != 2.0 || res.Latest.ID != 2 || res.Latest.Version != 2 || res.LookupVersion != 1 {
		t.Fatalf("avro: %s", out)
	}
	if !reflect.DeepEqual(res.Versions, []int{1, 2}) || !res.CompatibleV2 || res.CompatibleBad || res.Compatibility != "FULL" {
		t.Fatalf("avro: %s", out)
	}
	if res.IncompatibleError == nil || (*res.IncompatibleError)["status"] != 409 || (*res.IncompatibleError)["code"] != 409 {
		t.Fatalf("incompatible error: %s", out)
	}
	if res.MissingVersionError == nil || (*res.MissingVersionError)["code"] != 40402 || (*res.MissingVersionError)["status"] != 404 {
		t.Fatalf("missing version error: %s", out)
	}
	if len(res.ProtoRoundtrip) != 5 || slices.Contains(res.ProtoRoundtrip, false) || len(res.JSONRoundtrip) != 5 || slices.Contains(res.JSONRoundtrip, false) {
		t.Fatalf("round trips: %s", out)
	}
	if res.ProtoLatest != "PROTOBUF" || !reflect.DeepEqual(res.ProtoRefs, [][]string{{"google/protobuf/timestamp.proto", "google/protobuf/timestamp.proto"}}) {
		t.Fatalf("protobuf registration: %s", out)
	}
	// The framing carries the registered ids (magic 0, 4-byte id).
	hc := &http.Client{}
	for subject, headers := range map[string][]string{"py-proto-value": res.ProtoHeaders, "py-json-value": res.JSONHeaders} {
		var si struct{ ID int }
		getJSON(t, hc, url+"/subjects/"+subject+"/versions/latest", &si)
		if want := []string{fmt.Sprintf("00%08x", si.ID)}; !reflect.DeepEqual(headers, want) {
			t.Fatalf("%s: framing %v, want %v", subject, headers, want)
		}
	}
	if res.JSONIncompatibleError == nil || (*res.JSONIncompatibleError)["code"] != 409 {
		t.Fatalf("json incompatible error: %s", out)
	}
}

func getJSON(t *testing.T, hc *http.Client, url string, v any) int {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// Every registration acknowledged before a kill -9 is there, with the same
// id and version, after the restart; ids continue after the highest.
func TestRegistryKill9(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	s := startServer(t, dir, "--registry-listen", addr)
	url := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	type ack struct {
		subject string
		id      int
	}
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
		first = make(chan struct{})
		once  sync.Once
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				subject := fmt.Sprintf("w%d-s%d", w, i)
				schema := sr.Schema{Schema: fmt.Sprintf(`{"type":"record","name":"R%d_%d","fields":[{"name":"f","type":"int"}]}`, w, i)}
				id, err := cl.RegisterSchema(ctx, subject, schema, -1, -1)
				if err != nil {
					return // the broker died
				}
				mu.Lock()
				acked = append(acked, ack{subject, id})
				n := len(acked)
				mu.Unlock()
				if n >= 100 {
					once.Do(func() { close(first) })
				}
			}
		}()
	}
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("no 100 registrations within 60s")
	}
	s.kill9()
	cancel()
	wg.Wait()
	s.start()
	hc := &http.Client{}
	maxID := 0
	seenIDs := map[int]string{}
	for _, a := range acked {
		var si struct {
			ID      int
			Version int
		}
		if st := getJSON(t, hc, url+"/subjects/"+a.subject+"/versions/1", &si); st != 200 || si.ID != a.id {
			t.Fatalf("after kill -9, %s: status %d id %d, acknowledged id %d", a.subject, st, si.ID, a.id)
		}
		if other, dup := seenIDs[a.id]; dup {
			t.Fatalf("id %d acknowledged for %s and %s", a.id, other, a.subject)
		}
		seenIDs[a.id] = a.subject
		maxID = max(maxID, a.id)
	}
	ctx2 := ctxT(t, 30*time.Second)
	id, err := cl.RegisterSchema(ctx2, "after-restart", sr.Schema{Schema: `"string"`}, -1, -1)
	if err != nil || id <= maxID {
		t.Fatalf("registration after restart: id %d (highest acknowledged %d) %v", id, maxID, err)
	}
	t.Logf("%d registrations acknowledged before kill -9, all present after restart", len(acked))
}
