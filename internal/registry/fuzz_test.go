package registry

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSchemas parses arbitrary schema texts of every type and compares any
// two that parse, at every level: errors are fine, panics and hangs are not.
func FuzzSchemas(f *testing.F) {
	f.Add(TypeAvro, avroV1, avroV2)
	f.Add(TypeAvro, `["null","int"]`, `{"type":"enum","name":"E","symbols":["A"]}`)
	f.Add(TypeProtobuf, `syntax = "proto3"; message M { int32 a = 1; oneof o { string b = 2; } }`, `syntax = "proto3"; message M { repeated string a = 1; map<string, M> m = 3; }`)
	f.Add(TypeProtobuf, `syntax = "proto2"; message M { required int32 a = 1; extensions 10 to 20; }`, `syntax = "proto2"; package p; message M { optional int32 a = 1; }`)
	f.Add(TypeJSON, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, `{"oneOf":[{"type":"string"},{"$ref":"#/definitions/x"}],"definitions":{"x":{"type":"integer"}}}`)
	f.Add(TypeJSON, `{"$ref":"#"}`, `{"items":{"$ref":"#"}}`)
	f.Fuzz(func(t *testing.T, typ, a, b string) {
		switch typ {
		case TypeAvro, TypeProtobuf, TypeJSON:
		default:
			return
		}
		pa, errA := parseSchema(typ, a, nil)
		pb, errB := parseSchema(typ, b, nil)
		if errA != nil || errB != nil {
			return
		}
		_ = pa.canonical(true)
		_ = pb.canonical(false)
		for _, level := range allLevels {
			checkLevel(level, pa, []parsedSchema{pb, pa})
		}
	})
}

// FuzzAPI sends arbitrary requests to the API: every answer is below 500,
// and every error is a JSON body with an error_code.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/subjects/s/versions", `{"schema":"\"string\""}`)
	f.Add("POST", "/subjects/s/versions", `{"schemaType":"PROTOBUF","schema":"syntax = \"proto3\"; message M { int32 a = 1; }","references":[{"name":"x","subject":"s","version":1}]}`)
	f.Add("POST", "/subjects/s", `{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}"}`)
	f.Add("GET", "/subjects/s/versions/latest/referencedby", "")
	f.Add("DELETE", "/subjects/s/versions/1?permanent=true", "")
	f.Add("PUT", "/mode/s?force=true", `{"mode":"IMPORT"}`)
	f.Add("POST", "/compatibility/subjects/s/versions/-1?verbose=true", `{"schemaType":"JSON","schema":"{}"}`)
	f.Add("GET", "/schemas/ids/1/versions?deleted=true", "")
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") || len(body) > 4096 {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return
		}
		switch method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			return
		}
		reg := New(Config{Store: &memStore{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		h := reg.Handler()
		for _, setup := range []string{`{"schema":"\"string\""}`, `{"schema":"\"int\"","schemaType":"AVRO"}`} {
			req := httptest.NewRequest("POST", "/subjects/s/versions", strings.NewReader(setup))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctV1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == 0 || e.Message == "" {
				t.Fatalf("%s %s: error body %q", method, path, rec.Body)
			}
		}
	})
}
