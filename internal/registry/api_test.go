package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const (
	avroV1 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	// v2 adds a field with a default: BACKWARD compatible.
	avroV2 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	// v3 adds a field without a default: not BACKWARD compatible with v1/v2.
	avroV3 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

func TestRegisterAndRead(t *testing.T) {
	ts := newTestServer(t, Config{})
	id1 := ts.register("users-value", SchemaRequest{Schema: avroV1})
	if id1 != 1 {
		t.Fatalf("first id %d, want 1", id1)
	}
	// The same schema again (other whitespace) is the same id, no new version.
	if id := ts.register("users-value", SchemaRequest{Schema: "  " + strings.ReplaceAll(avroV1, ",", ", ")}); id != id1 {
		t.Fatalf("re-registration id %d, want %d", id, id1)
	}
	id2 := ts.register("users-value", SchemaRequest{Schema: avroV2, ID: -1, Version: -1}) // -1: none
	if id2 != 2 {
		t.Fatalf("second id %d", id2)
	}
	// The same schema under another subject shares the id.
	if id := ts.register("other-value", SchemaRequest{Schema: avroV1}); id != id1 {
		t.Fatalf("id across subjects %d, want %d", id, id1)
	}
	var versions []int
	ts.do("GET", "/subjects/users-value/versions", nil, &versions)
	if !reflect.DeepEqual(versions, []int{1, 2}) {
		t.Fatalf("versions %v", versions)
	}
	for _, v := range []string{"latest", "-1", "2"} {
		var si SchemaInfo
		if st, raw := ts.do("GET", "/subjects/users-value/versions/"+v, nil, &si); st != 200 || si.ID != id2 || si.Version != 2 || si.Subject != "users-value" || si.Schema != avroV2 {
			t.Fatalf("version %s: %d %s", v, st, raw)
		}
	}
	st, raw := ts.do("GET", "/subjects/users-value/versions/1/schema", nil, nil)
	if st != 200 || string(raw) != avroV1 {
		t.Fatalf("raw schema: %d %s", st, raw)
	}
	var byID schemaByIDResponse
	ts.do("GET", fmt.Sprintf("/schemas/ids/%d", id1), nil, &byID)
	if byID.Schema != avroV1 || byID.SchemaType != "" {
		t.Fatalf("by id: %+v", byID)
	}
	var subs []string
	ts.do("GET", fmt.Sprintf("/schemas/ids/%d/subjects", id1), nil, &subs)
	if !reflect.DeepEqual(subs, []string{"other-value", "users-value"}) {
		t.Fatalf("subjects of id: %v", subs)
	}
	var svs []subjectVersion
	ts.do("GET", fmt.Sprintf("/schemas/ids/%d/versions", id1), nil, &svs)
	if !reflect.DeepEqual(svs, []subjectVersion{{"other-value", 1}, {"users-value", 1}}) {
		t.Fatalf("versions of id: %v", svs)
	}
	var all []string
	ts.do("GET", "/subjects", nil, &all)
	if !reflect.DeepEqual(all, []string{"other-value", "users-value"}) {
		t.Fatalf("subjects %v", all)
	}
	var types []string
	ts.do("GET", "/schemas/types", nil, &types)
	if len(types) != 3 {
		t.Fatalf("types %v", types)
	}
	// Lookup.
	var found SchemaInfo
	if st, raw := ts.do("POST", "/subjects/users-value", SchemaRequest{Schema: avroV1}, &found); st != 200 || found.Version != 1 || found.ID != id1 {
		t.Fatalf("lookup: %d %s", st, raw)
	}
	ts.wantErr("POST", "/subjects/users-value", SchemaRequest{Schema: `"string"`}, 404, codeSchemaNotFound)
	ts.wantErr("POST", "/subjects/nobody", SchemaRequest{Schema: avroV1}, 404, codeSubjectNotFound)
	// Incompatible.
	ts.wantErr("POST", "/subjects/users-value/versions", SchemaRequest{Schema: avroV3}, 409, codeIncompatible)
	var compat map[string]any
	ts.do("POST", "/compatibility/subjects/users-value/versions/latest?verbose=true", SchemaRequest{Schema: avroV3}, &compat)
	if compat["is_compatible"] != false || len(compat["messages"].([]any)) == 0 {
		t.Fatalf("verbose compatibility: %v", compat)
	}
	ts.do("POST", "/compatibility/subjects/users-value/versions/latest", SchemaRequest{Schema: avroV2}, &compat)
	if compat["is_compatible"] != true {
		t.Fatalf("compatibility: %v", compat)
	}
	// Contexts, root.
	var ctxs []string
	ts.do("GET", "/contexts", nil, &ctxs)
	if !reflect.DeepEqual(ctxs, []string{"."}) {
		t.Fatalf("contexts %v", ctxs)
	}
}

func TestSoftAndHardDelete(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.register("s", SchemaRequest{Schema: avroV1})
	id2 := ts.register("s", SchemaRequest{Schema: avroV2})
	// Hard delete before soft: refused.
	ts.wantErr("DELETE", "/subjects/s/versions/2?permanent=true", nil, 404, codeVersionNotSoftDeleted)
	var v int
	if st, raw := ts.do("DELETE", "/subjects/s/versions/2", nil, &v); st != 200 || v != 2 {
		t.Fatalf("soft delete: %d %s", st, raw)
	}
	ts.wantErr("GET", "/subjects/s/versions/2", nil, 404, codeVersionNotFound)
	var si SchemaInfo
	if st, _ := ts.do("GET", "/subjects/s/versions/2?deleted=true", nil, &si); st != 200 || si.ID != id2 {
		t.Fatalf("deleted=true read: %d %+v", st, si)
	}
	ts.wantErr("DELETE", "/subjects/s/versions/2", nil, 404, codeVersionSoftDeleted)
	var vs []int
	ts.do("GET", "/subjects/s/versions?deleted=true", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1, 2}) {
		t.Fatalf("deleted versions %v", vs)
	}
	// The id still answers (Confluent keeps soft-deleted schemas readable by id).
	if st, _ := ts.do("GET", fmt.Sprintf("/schemas/ids/%d", id2), nil, nil); st != 200 {
		t.Fatalf("soft-deleted id: %d", st)
	}
	// A new registration gets version 3: versions are not reused.
	ts.register("s", SchemaRequest{Schema: avroV2})
	ts.do("GET", "/subjects/s/versions", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1, 3}) {
		t.Fatalf("versions after re-register %v", vs)
	}
	// Hard delete version 2.
	if st, raw := ts.do("DELETE", "/subjects/s/versions/2?permanent=true", nil, &v); st != 200 || v != 2 {
		t.Fatalf("hard delete: %d %s", st, raw)
	}
	ts.wantErr("GET", "/subjects/s/versions/2?deleted=true", nil, 404, codeVersionNotFound)
	// Subject delete: soft then hard.
	ts.wantErr("DELETE", "/subjects/s?permanent=true", nil, 404, codeSubjectNotSoftDeleted)
	ts.do("DELETE", "/subjects/s", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1, 3}) {
		t.Fatalf("soft subject delete %v", vs)
	}
	ts.wantErr("GET", "/subjects/s/versions", nil, 404, codeSubjectNotFound)
	ts.wantErr("DELETE", "/subjects/s", nil, 404, codeSubjectSoftDeleted)
	var subs []string
	ts.do("GET", "/subjects?deleted=true", nil, &subs)
	if !reflect.DeepEqual(subs, []string{"s"}) {
		t.Fatalf("deleted subjects %v", subs)
	}
	ts.do("DELETE", "/subjects/s?permanent=true", nil, &vs)
	if !reflect.DeepEqual(vs, []int{1, 3}) {
		t.Fatalf("hard subject delete %v", vs)
	}
	ts.wantErr("GET", "/subjects/s/versions?deleted=true", nil, 404, codeSubjectNotFound)
	ts.wantErr("GET", "/schemas/ids/1", nil, 404, codeSchemaNotFound)
	// Ids are not reused after a hard delete.
	if id := ts.register("t", SchemaRequest{Schema: `"string"`}); id != 3 {
		t.Fatalf("id after hard delete %d, want 3", id)
	}
}

func TestConfigAndMode(t *testing.T) {
	ts := newTestServer(t, Config{})
	var cfg map[string]string
	ts.do("GET", "/config", nil, &cfg)
	if cfg["compatibilityLevel"] != LevelBackward {
		t.Fatalf("default config %v", cfg)
	}
	ts.wantErr("GET", "/config/s", nil, 404, codeSubjectConfigNotFound)
	ts.do("GET", "/config/s?defaultToGlobal=true", nil, &cfg)
	if cfg["compatibilityLevel"] != LevelBackward {
		t.Fatalf("defaultToGlobal %v", cfg)
	}
	ts.wantErr("PUT", "/config/s", map[string]string{"compatibility": "SIDEWAYS"}, 422, codeInvalidCompatibility)
	if st, raw := ts.do("PUT", "/config/s", map[string]string{"compatibility": "none"}, &cfg); st != 200 || cfg["compatibility"] != LevelNone {
		t.Fatalf("put config: %d %s", st, raw)
	}
	ts.register("s", SchemaRequest{Schema: avroV1})
	ts.register("s", SchemaRequest{Schema: avroV3}) // NONE: anything goes
	if st, raw := ts.do("DELETE", "/config/s", nil, &cfg); st != 200 || cfg["compatibilityLevel"] != LevelNone {
		t.Fatalf("delete config: %d %s", st, raw)
	}
	ts.wantErr("GET", "/config/s", nil, 404, codeSubjectConfigNotFound)
	ts.do("PUT", "/config", map[string]string{"compatibility": "FULL"}, &cfg)
	ts.do("GET", "/config/s?defaultToGlobal=true", nil, &cfg)
	if cfg["compatibilityLevel"] != LevelFull {
		t.Fatalf("global FULL: %v", cfg)
	}
	// Mode.
	var mode map[string]string
	ts.do("GET", "/mode", nil, &mode)
	if mode["mode"] != ModeReadWrite {
		t.Fatalf("default mode %v", mode)
	}
	ts.wantErr("GET", "/mode/s", nil, 404, codeSubjectModeNotFound)
	ts.wantErr("PUT", "/mode/s", map[string]string{"mode": "WRITEONLY"}, 422, codeInvalidMode)
	ts.do("PUT", "/mode/s", map[string]string{"mode": "READONLY"}, &mode)
	ts.wantErr("POST", "/subjects/s/versions", SchemaRequest{Schema: `"int"`}, 422, codeOperationNotPermitted)
	ts.wantErr("DELETE", "/subjects/s", nil, 422, codeOperationNotPermitted)
	ts.do("DELETE", "/mode/s", nil, &mode)
	if mode["mode"] != ModeReadOnly {
		t.Fatalf("delete mode returned %v", mode)
	}
	// IMPORT: needs an empty registry unless force; explicit ids kept.
	ts.wantErr("PUT", "/mode", map[string]string{"mode": "IMPORT"}, 422, codeOperationNotPermitted)
	ts.wantErr("POST", "/subjects/imp/versions", SchemaRequest{Schema: `"int"`, ID: 100, Version: 1}, 422, codeOperationNotPermitted)
	ts.do("PUT", "/mode/imp", map[string]string{"mode": "IMPORT"}, &mode)
	if id := ts.register("imp", SchemaRequest{Schema: `"int"`, ID: 100, Version: 5}); id != 100 {
		t.Fatalf("import id %d", id)
	}
	var si SchemaInfo
	ts.do("GET", "/subjects/imp/versions/5", nil, &si)
	if si.ID != 100 {
		t.Fatalf("imported version %+v", si)
	}
	// The id cannot be bound to another schema.
	ts.wantErr("POST", "/subjects/imp/versions", SchemaRequest{Schema: `"long"`, ID: 100, Version: 6}, 422, codeIDConflict)
	// New ids continue after the imported one.
	ts.do("DELETE", "/mode/imp", nil, nil)
	if id := ts.register("after", SchemaRequest{Schema: `"bytes"`}); id != 101 {
		t.Fatalf("id after import %d", id)
	}
}

func TestReferences(t *testing.T) {
	ts := newTestServer(t, Config{})
	addr := `{"type":"record","name":"Address","namespace":"ex","fields":[{"name":"city","type":"string"}]}`
	ts.register("address", SchemaRequest{Schema: addr})
	person := `{"type":"record","name":"Person","namespace":"ex","fields":[{"name":"home","type":"ex.Address"}]}`
	refs := []Reference{{Name: "ex.Address", Subject: "address", Version: 1}}
	pid := ts.register("person", SchemaRequest{Schema: person, References: refs})
	var si SchemaInfo
	ts.do("GET", "/subjects/person/versions/1", nil, &si)
	if !reflect.DeepEqual(si.References, refs) {
		t.Fatalf("references %+v", si.References)
	}
	var by []int
	ts.do("GET", "/subjects/address/versions/1/referencedby", nil, &by)
	if !reflect.DeepEqual(by, []int{pid}) {
		t.Fatalf("referencedby %v", by)
	}
	// A referenced version cannot be deleted.
	ts.wantErr("DELETE", "/subjects/address/versions/1", nil, 422, codeReferenceExists)
	// Unknown reference; unresolved name without reference.
	ts.wantErr("POST", "/subjects/p2/versions", SchemaRequest{Schema: person, References: []Reference{{Name: "ex.Address", Subject: "nope", Version: 1}}}, 422, codeInvalidSchema)
	ts.wantErr("POST", "/subjects/p2/versions", SchemaRequest{Schema: person}, 422, codeInvalidSchema)
	// Protobuf import by reference, and well-known types without one.
	ts.register("common.proto", SchemaRequest{SchemaType: TypeProtobuf, Schema: `syntax = "proto3"; package ex; message Money { int64 units = 1; }`})
	ts.register("order", SchemaRequest{SchemaType: TypeProtobuf,
		Schema:     `syntax = "proto3"; package ex; import "common.proto"; import "google/protobuf/timestamp.proto"; message Order { Money total = 1; google.protobuf.Timestamp at = 2; }`,
		References: []Reference{{Name: "common.proto", Subject: "common.proto", Version: 1}}})
	ts.wantErr("POST", "/subjects/o2/versions", SchemaRequest{SchemaType: TypeProtobuf,
		Schema: `syntax = "proto3"; import "missing.proto"; message O { int32 a = 1; }`}, 422, codeInvalidSchema)
	// JSON Schema $ref to a reference.
	ts.register("pt.json", SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":"object","properties":{"x":{"type":"number"}}}`})
	ts.register("shape", SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":"object","properties":{"p":{"$ref":"pt.json"}}}`,
		References: []Reference{{Name: "pt.json", Subject: "pt.json", Version: 1}}})
	ts.wantErr("POST", "/subjects/shape2/versions", SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":"object","properties":{"p":{"$ref":"other.json"}}}`}, 422, codeInvalidSchema)
	// No file or network loads.
	ts.wantErr("POST", "/subjects/shape3/versions", SchemaRequest{SchemaType: TypeJSON, Schema: `{"$ref":"file:///etc/passwd"}`}, 422, codeInvalidSchema)
}

// A reference cycle cannot be built through the API (references name
// existing versions), but records from elsewhere (IMPORT, another
// registry's topic) may hold one: resolution stops with 42201.
func TestCyclicReferences(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := `{"subject":"a","version":1,"id":1,"references":[{"name":"B","subject":"b","version":1}],"schema":"{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"b\",\"type\":[\"null\",\"B\"]}]}","deleted":false}`
	b := `{"subject":"b","version":1,"id":2,"references":[{"name":"A","subject":"a","version":1}],"schema":"{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\",\"A\"]}]}","deleted":false}`
	if err := ts.reg.Replay(schemaKey("a", 1), []byte(a)); err != nil {
		t.Fatal(err)
	}
	if err := ts.reg.Replay(schemaKey("b", 1), []byte(b)); err != nil {
		t.Fatal(err)
	}
	ts.wantErr("POST", "/subjects/c/versions", SchemaRequest{Schema: `"int"`, References: []Reference{{Name: "A", Subject: "a", Version: 1}}}, 422, codeInvalidSchema)
	ts.wantErr("POST", "/compatibility/subjects/a/versions/1", SchemaRequest{Schema: `"int"`}, 422, codeInvalidSchema)
}

func TestBadInput(t *testing.T) {
	ts := newTestServer(t, Config{MaxBodyBytes: 4096})
	ts.register("s", SchemaRequest{Schema: avroV1})
	before := len(ts.store.records())
	cases := []struct {
		name, method, path string
		body               any
		status, code       int
	}{
		{"invalid avro", "POST", "/subjects/s/versions", SchemaRequest{Schema: `{"type":"record","name":"X"}`}, 422, codeInvalidSchema},
		{"avro not json", "POST", "/subjects/s/versions", SchemaRequest{Schema: `{nope`}, 422, codeInvalidSchema},
		{"invalid protobuf", "POST", "/subjects/p/versions", SchemaRequest{SchemaType: TypeProtobuf, Schema: `message {`}, 422, codeInvalidSchema},
		{"invalid json schema", "POST", "/subjects/j/versions", SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":12}`}, 422, codeInvalidSchema},
		{"unknown type", "POST", "/subjects/x/versions", SchemaRequest{SchemaType: "XML", Schema: `<a/>`}, 422, codeInvalidSchema},
		{"empty schema", "POST", "/subjects/x/versions", SchemaRequest{}, 422, codeInvalidSchema},
		{"malformed json", "POST", "/subjects/s/versions", `{"schema":`, 400, codeBadRequest},
		{"trailing json", "POST", "/subjects/s/versions", `{"schema":"\"int\""} {}`, 400, codeBadRequest},
		{"oversized", "POST", "/subjects/s/versions", `{"schema":"` + strings.Repeat("x", 5000) + `"}`, 413, codeTooLarge},
		{"unknown subject", "GET", "/subjects/nope/versions", nil, 404, codeSubjectNotFound},
		{"unknown version", "GET", "/subjects/s/versions/9", nil, 404, codeVersionNotFound},
		{"bad version", "GET", "/subjects/s/versions/zero", nil, 422, codeInvalidVersion},
		{"version 0", "GET", "/subjects/s/versions/0", nil, 422, codeInvalidVersion},
		{"unknown id", "GET", "/schemas/ids/999", nil, 404, codeSchemaNotFound},
		{"bad id", "GET", "/schemas/ids/x", nil, 404, codeSchemaNotFound},
		{"unknown path", "GET", "/nothing", nil, 404, codeNotFound},
		{"wrong method", "PATCH", "/subjects", nil, 405, codeMethodNotAllowed},
		{"wrong method with wildcards", "PUT", "/subjects/s/versions/1", nil, 405, codeMethodNotAllowed},
		{"bad subject", "POST", "/subjects/%20/versions", SchemaRequest{Schema: `"int"`}, 422, codeInvalidSubject},
		{"bad config body", "PUT", "/config", `[1]`, 400, codeBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts.t = t
			ts.wantErr(c.method, c.path, c.body, c.status, c.code)
		})
	}
	ts.t = t
	// Wrong content type.
	req, _ := http.NewRequest("POST", ts.srv.URL+"/subjects/s/versions", strings.NewReader(`{"schema":"\"int\""}`))
	req.Header.Set("Content-Type", "text/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e apiError
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 415 || e.Code != codeUnsupportedContentType {
		t.Fatalf("wrong content type: %d %+v", resp.StatusCode, e)
	}
	if n := len(ts.store.records()); n != before {
		t.Fatalf("bad input wrote %d records", n-before)
	}
}

// A failed append leaves nothing behind: 500 with 50001, no state change.
func TestStoreFailureIsNotApplied(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.store.fail = true
	ts.wantErr("POST", "/subjects/s/versions", SchemaRequest{Schema: avroV1}, 500, codeStoreError)
	ts.wantErr("GET", "/subjects/s/versions", nil, 404, codeSubjectNotFound)
	st, raw := ts.do("GET", "/subjects", nil, nil)
	if st != 200 || string(raw) != "[]\n" {
		t.Fatalf("subjects after failed write: %d %s", st, raw)
	}
	ts.store.fail = false
	if id := ts.register("s", SchemaRequest{Schema: avroV1}); id != 1 {
		t.Fatalf("id after failed write %d, want 1", id)
	}
}

func TestContentTypes(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, ct := range []string{ctV1, ctGeneric, ctJSON} {
		req, _ := http.NewRequest("POST", ts.srv.URL+"/subjects/ct/versions", strings.NewReader(`{"schema":"\"int\""}`))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
			t.Fatalf("%s: %d %s", ct, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestMetadataAndRuleSetStored(t *testing.T) {
	ts := newTestServer(t, Config{})
	md := json.RawMessage(`{"properties":{"owner":"team-a"}}`)
	rs := json.RawMessage(`{"domainRules":[{"name":"r","kind":"CONDITION","mode":"WRITE","type":"CEL","expr":"true"}]}`)
	ts.register("m", SchemaRequest{Schema: avroV1, Metadata: md, RuleSet: rs})
	var raw map[string]json.RawMessage
	ts.do("GET", "/subjects/m/versions/1", nil, &raw)
	if !sameJSON(raw["metadata"], md) || !sameJSON(raw["ruleSet"], rs) {
		t.Fatalf("metadata/ruleSet: %s %s", raw["metadata"], raw["ruleSet"])
	}
	// Replayed from the records.
	r2 := New(Config{Store: &memStore{}})
	for _, rec := range ts.store.records() {
		if err := r2.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	e, err := r2.findVersion("m", "1", false)
	if err != nil || !sameJSON(e.meta, md) || !sameJSON(e.rules, rs) {
		t.Fatalf("replayed metadata: %v %+v", err, e)
	}
}

func TestNormalize(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := `{"type":"record","name":"N","doc":"first","fields":[{"name":"f","type":"string"}]}`
	b := `{"name":"N","type":"record","fields":[{"type":"string","name":"f"}]}`
	id := ts.register("n", SchemaRequest{Schema: a, SchemaType: TypeAvro}) // stored as given
	ts.wantErr("POST", "/subjects/n", SchemaRequest{Schema: b}, 404, codeSchemaNotFound)
	// Normalized registrations store and match the canonical form.
	id2 := ts.register("n2", SchemaRequest{Schema: a})
	if id2 != id {
		t.Fatalf("same text, ids %d %d", id, id2)
	}
	st, _ := ts.do("POST", "/subjects/n3/versions?normalize=true", SchemaRequest{Schema: a}, nil)
	var found SchemaInfo
	st2, raw := ts.do("POST", "/subjects/n3?normalize=true", SchemaRequest{Schema: b}, &found)
	if st != 200 || st2 != 200 || found.Version != 1 {
		t.Fatalf("normalized lookup: %d %d %s", st, st2, raw)
	}
}

func TestNormalizeProtobuf(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := `syntax = "proto3";
package ex;
// An order.
message Order { int64 id = 1; string item = 2; }`
	b := "syntax=\"proto3\"; package ex; message Order {\n  int64 id = 1;\n  string item = 2;\n}"
	st, raw := ts.do("POST", "/subjects/o/versions?normalize=true", SchemaRequest{SchemaType: TypeProtobuf, Schema: a}, nil)
	if st != 200 {
		t.Fatalf("register: %d %s", st, raw)
	}
	var found SchemaInfo
	if st, raw := ts.do("POST", "/subjects/o?normalize=true", SchemaRequest{SchemaType: TypeProtobuf, Schema: b}, &found); st != 200 || found.Version != 1 {
		t.Fatalf("normalized lookup: %d %s", st, raw)
	}
	ts.wantErr("POST", "/subjects/o", SchemaRequest{SchemaType: TypeProtobuf, Schema: b}, 404, codeSchemaNotFound)
	// The stored normalized form parses again (it is a descriptor).
	var si SchemaInfo
	ts.do("GET", "/subjects/o/versions/1", nil, &si)
	if _, err := parseSchema(TypeProtobuf, si.Schema, nil); err != nil {
		t.Fatalf("stored normalized schema %q: %v", si.Schema, err)
	}
}

// Concurrent registrations: the same schema in one subject is one version;
// distinct schemas get distinct ids; the same schema across subjects one id.
func TestConcurrentRegistrations(t *testing.T) {
	ts := newTestServer(t, Config{})
	const n = 8
	ids := make([]int, n)
	distinct := make([]int, n)
	shared := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if ids[i], err = ts.reg.Register("same", SchemaRequest{Schema: avroV1}, false); err != nil {
				t.Error(err)
			}
			if distinct[i], err = ts.reg.Register("mixed", SchemaRequest{Schema: fmt.Sprintf(`{"type":"enum","name":"E","symbols":["A%d"]}`, i)}, false); err != nil {
				// Enum symbols replaced: not BACKWARD compatible with the
				// earlier ones, so only the first wins there; use NONE below.
				distinct[i] = -1
			}
			if shared[i], err = ts.reg.Register(fmt.Sprintf("sub%d", i), SchemaRequest{Schema: `"bytes"`}, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("same schema, ids %v", ids)
		}
	}
	var vs []int
	ts.do("GET", "/subjects/same/versions", nil, &vs)
	if len(vs) != 1 {
		t.Fatalf("same schema registered as versions %v", vs)
	}
	for _, id := range shared {
		if id != shared[0] {
			t.Fatalf("one schema across subjects, ids %v", shared)
		}
	}
	ok := 0
	for _, id := range distinct {
		if id > 0 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("incompatible concurrent enums: %d accepted, want 1 (%v)", ok, distinct)
	}
	// Distinct schemas under NONE: distinct, increasing, unique ids.
	ts.reg.SetConfig("free", LevelNone)
	got := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = ts.reg.Register("free", SchemaRequest{Schema: fmt.Sprintf(`{"type":"fixed","name":"F","size":%d}`, i+1)}, false)
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, id := range got {
		if id <= 0 || seen[id] {
			t.Fatalf("ids %v", got)
		}
		seen[id] = true
	}
	ts.do("GET", "/subjects/free/versions", nil, &vs)
	if len(vs) != n {
		t.Fatalf("versions %v", vs)
	}
}

// Subjects may hold characters that need escaping in a path, "/" included.
func TestEscapedSubjects(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, s := range []string{"a/b", "with space", "ünï", "x%y", ":.ctx:sub"} {
		esc := url.PathEscape(s)
		if id := ts.register(esc, SchemaRequest{Schema: `"string"`}); id != 1 {
			t.Fatalf("%q: id %d", s, id)
		}
		var si SchemaInfo
		if st, raw := ts.do("GET", "/subjects/"+esc+"/versions/1", nil, &si); st != 200 || si.Subject != s {
			t.Fatalf("%q: %d %s", s, st, raw)
		}
	}
}

// Deeply nested schemas are refused quickly, never recursed into for long.
func TestDeeplyNestedSchemas(t *testing.T) {
	ts := newTestServer(t, Config{})
	n := 50000
	for name, req := range map[string]SchemaRequest{
		"protobuf":    {SchemaType: TypeProtobuf, Schema: `syntax = "proto3"; ` + strings.Repeat("message A { ", n) + strings.Repeat("}", n)},
		"json schema": {SchemaType: TypeJSON, Schema: strings.Repeat(`{"items":`, n) + `{}` + strings.Repeat("}", n)},
		"avro":        {Schema: strings.Repeat(`{"type":"array","items":`, n) + `"int"` + strings.Repeat("}", n)},
	} {
		t.Run(name, func(t *testing.T) {
			ts.t = t
			ts.wantErr("POST", "/subjects/deep/versions", req, 422, codeInvalidSchema)
		})
	}
	ts.t = t
	// Protobuf is refused by the nesting bound, before the compiler recurses.
	if _, err := parseSchema(TypeProtobuf, strings.Repeat("message A { ", 200)+strings.Repeat("}", 200), nil); err == nil || !strings.Contains(err.Error(), "nesting depth 200") {
		t.Fatalf("deep protobuf: %v", err)
	}
	// Braces in strings and comments do not count.
	ok := `syntax = "proto3"; // {{{{{{
/* {{{{ */ message M { string s = 1 [json_name = "{{{{"]; }`
	if d := protoNesting(ok + strings.Repeat(`// {`, 200)); d != 1 {
		t.Fatalf("nesting %d", d)
	}
	ts.register("shallow", SchemaRequest{SchemaType: TypeProtobuf, Schema: ok})
}

// A diamond-shaped reference graph (each level references the previous
// one twice, under two names) resolves in linear time.
func TestDiamondReferences(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.register("l0", SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":"integer"}`})
	for i := 1; i <= 30; i++ {
		prev := fmt.Sprintf("l%d", i-1)
		ts.register(fmt.Sprintf("l%d", i), SchemaRequest{SchemaType: TypeJSON,
			Schema:     fmt.Sprintf(`{"type":"object","properties":{"a":{"$ref":"a%d.json"},"b":{"$ref":"b%d.json"}}}`, i, i),
			References: []Reference{{Name: fmt.Sprintf("a%d.json", i), Subject: prev, Version: 1}, {Name: fmt.Sprintf("b%d.json", i), Subject: prev, Version: 1}}})
	}
	var si SchemaInfo
	if st, raw := ts.do("GET", "/subjects/l30/versions/1", nil, &si); st != 200 || len(si.References) != 2 {
		t.Fatalf("%d %s", st, raw)
	}
}

// Two spellings of one Avro schema (key order, {"type":"string"} for
// "string") are one schema, as Avro's Schema.toString makes them in
// Confluent's registry; a doc or default is not a spelling.
func TestAvroSpellings(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := `{"type":"record","name":"R","fields":[{"name":"f","type":"string"}]}`
	b := `{"fields":[{"type":{"type":"string"},"name":"f"}],"name":"R","type":"record"}`
	id := ts.register("s", SchemaRequest{Schema: a})
	if got := ts.register("s", SchemaRequest{Schema: b}); got != id {
		t.Fatalf("respelled registration: id %d, want %d", got, id)
	}
	var vs []int
	ts.do("GET", "/subjects/s/versions", nil, &vs)
	if len(vs) != 1 {
		t.Fatalf("versions %v", vs)
	}
	var found SchemaInfo
	if st, raw := ts.do("POST", "/subjects/s", SchemaRequest{Schema: b}, &found); st != 200 || found.Version != 1 {
		t.Fatalf("lookup: %d %s", st, raw)
	}
	// Another subject shares the id, and the id keeps one spelling.
	if got := ts.register("t", SchemaRequest{Schema: b}); got != id {
		t.Fatalf("other subject: id %d", got)
	}
	var si SchemaInfo
	ts.do("GET", "/subjects/t/versions/1", nil, &si)
	if si.Schema != a {
		t.Fatalf("stored spelling %s", si.Schema)
	}
	// A doc makes another schema.
	withDoc := `{"type":"record","name":"R","doc":"x","fields":[{"name":"f","type":"string"}]}`
	if got := ts.register("s", SchemaRequest{Schema: withDoc}); got == id {
		t.Fatal("a doc did not make a new schema")
	}
}

// Another schema type in a subject is incompatible (unless NONE).
func TestSchemaTypeChange(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.register("s", SchemaRequest{Schema: avroV1})
	js := SchemaRequest{SchemaType: TypeJSON, Schema: `{"type":"object"}`}
	var compat map[string]any
	ts.do("POST", "/compatibility/subjects/s/versions/latest?verbose=true", js, &compat)
	if compat["is_compatible"] != false {
		t.Fatalf("compatibility %v", compat)
	}
	ts.wantErr("POST", "/subjects/s/versions", js, 409, codeIncompatible)
	ts.do("PUT", "/config/s", map[string]string{"compatibility": "NONE"}, nil)
	ts.register("s", js)
}
