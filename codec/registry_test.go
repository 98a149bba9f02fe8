package codec

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type recordedRequest struct {
	Method, Path, ContentType, Accept, Auth string
	Body                                    map[string]any
}

// registryServer answers with the canned response of each "METHOD path" and
// records the requests.
func registryServer(t *testing.T, responses map[string]struct {
	status int
	body   string
}) (*httptest.Server, func() []recordedRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recordedRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordedRequest{Method: r.Method, Path: r.URL.EscapedPath(), ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), Auth: r.Header.Get("Authorization")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &rec.Body); err != nil {
				t.Errorf("request body is not JSON: %q", b)
			}
		}
		mu.Lock()
		reqs = append(reqs, rec)
		mu.Unlock()
		resp, ok := responses[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			resp.status, resp.body = 404, `{"error_code":40401,"message":"Subject not found"}`
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(resp.status)
		io.WriteString(w, resp.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recordedRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]recordedRequest(nil), reqs...)
	}
}

type resp = struct {
	status int
	body   string
}

func TestRegistryClientRequests(t *testing.T) {
	ctx := context.Background()
	srv, reqs := registryServer(t, map[string]resp{
		"POST /subjects/orders-value/versions": {200, `{"id":7}`},
		"POST /subjects/orders-value":          {200, `{"subject":"orders-value","id":7,"version":1,"schema":"\"string\""}`},
		"GET /schemas/ids/7":                   {200, `{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF","references":[{"name":"a.proto","subject":"a","version":2}]}`},
		"GET /schemas/ids/8":                   {200, `{"schema":"\"int\""}`},
		"GET /schemas/ids/9":                   {500, `{"error_code":50001,"message":"Error in the backend data store"}`},
		"GET /subjects/address/versions/2":     {200, `{"subject":"address","version":2,"id":4,"schemaType":"JSON","schema":"{}"}`},
	})
	cl, err := NewRegistryClient([]string{srv.URL}, BasicAuth("alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.Register(ctx, "orders-value", Schema{Type: SchemaTypeJSON, Text: `{"type":"object"}`})
	if err != nil || id != 7 {
		t.Fatalf("Register = %d %v", id, err)
	}
	id, err = cl.Lookup(ctx, "orders-value", Schema{Type: SchemaTypeAvro, Text: `"string"`})
	if err != nil || id != 7 {
		t.Fatalf("Lookup = %d %v", id, err)
	}
	s, err := cl.SchemaByID(ctx, 7)
	if err != nil || s.Type != SchemaTypeProtobuf || s.Text != `syntax = "proto3";` || len(s.References) != 1 ||
		s.References[0] != (SchemaReference{Name: "a.proto", Subject: "a", Version: 2}) {
		t.Fatalf("SchemaByID(7) = %+v %v", s, err)
	}
	if s, err := cl.SchemaByID(ctx, 8); err != nil || s.Type != SchemaTypeAvro || s.Text != `"int"` {
		t.Fatalf("SchemaByID(8) = %+v %v (no schemaType means AVRO)", s, err)
	}
	if _, err := cl.SchemaByID(ctx, 9); err == nil || errors.Is(err, ErrSchemaNotFound) || !strings.Contains(err.Error(), "backend data store") {
		t.Fatalf("SchemaByID(9) server error: %v", err)
	}
	if _, err := cl.Lookup(ctx, "missing-value", Schema{Text: `"string"`}); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("Lookup of an unknown subject: %v", err)
	}
	if s, err := cl.SchemaByVersion(ctx, "address", 2); err != nil || s.Type != SchemaTypeJSON || s.Text != "{}" {
		t.Fatalf("SchemaByVersion = %+v %v", s, err)
	}
	if _, err := cl.SchemaByVersion(ctx, "address", 3); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("SchemaByVersion of an unknown version: %v", err)
	}

	got := reqs()
	want := []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/subjects/orders-value/versions", map[string]any{"schema": `{"type":"object"}`, "schemaType": "JSON"}},
		{"POST", "/subjects/orders-value", map[string]any{"schema": `"string"`}},
		{"GET", "/schemas/ids/7", nil},
		{"GET", "/schemas/ids/8", nil},
		{"GET", "/schemas/ids/9", nil},
		{"POST", "/subjects/missing-value", map[string]any{"schema": `"string"`}},
		{"GET", "/subjects/address/versions/2", nil},
		{"GET", "/subjects/address/versions/3", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.method || g.Path != w.path {
			t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.Path, w.method, w.path)
		}
		gb, _ := json.Marshal(g.Body)
		wb, _ := json.Marshal(w.body)
		if string(gb) != string(wb) {
			t.Errorf("request %d body %s, want %s", i, gb, wb)
		}
		if g.Accept != "application/vnd.schemaregistry.v1+json" {
			t.Errorf("request %d Accept %q", i, g.Accept)
		}
		if w.body != nil && g.ContentType != "application/vnd.schemaregistry.v1+json" {
			t.Errorf("request %d Content-Type %q", i, g.ContentType)
		}
		if g.Auth != "Basic YWxpY2U6czNjcmV0" { // alice:s3cret
			t.Errorf("request %d Authorization %q", i, g.Auth)
		}
	}
}

func TestRegistryClientEscapesSubject(t *testing.T) {
	srv, reqs := registryServer(t, map[string]resp{
		"POST /subjects/a%2Fb%20c-value/versions": {200, `{"id":1}`},
	})
	cl, _ := NewRegistryClient([]string{srv.URL})
	if id, err := cl.Register(context.Background(), "a/b c-value", Schema{Text: `"int"`}); err != nil || id != 1 {
		t.Fatalf("Register = %d %v (requests %+v)", id, err, reqs())
	}
	if got := reqs(); got[0].Auth != "" {
		t.Fatalf("Authorization without BasicAuth: %q", got[0].Auth)
	}
}

func TestRegistryClientBoundsResponses(t *testing.T) {
	big := `{"schema":"` + strings.Repeat("x", 4096) + `"}`
	srv, _ := registryServer(t, map[string]resp{"GET /schemas/ids/1": {200, big}})
	cl, _ := NewRegistryClient([]string{srv.URL}, MaxResponseBytes(1024))
	if _, err := cl.SchemaByID(context.Background(), 1); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("oversized response: %v", err)
	}
	exact, _ := NewRegistryClient([]string{srv.URL}, MaxResponseBytes(int64(len(big))))
	if s, err := exact.SchemaByID(context.Background(), 1); err != nil || len(s.Text) != 4096 {
		t.Fatalf("response of exactly the limit: %d %v", len(s.Text), err)
	}
	if _, err := NewRegistryClient(nil); err == nil {
		t.Fatal("no URLs accepted")
	}
}

// TestSerdeOverHTTP runs a Serde against the HTTP client and a registry
// server that stores what it is sent.
func TestSerdeOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var stored string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == "/subjects/users-value/versions":
			var body struct{ Schema string }
			json.NewDecoder(r.Body).Decode(&body)
			stored = body.Schema
			io.WriteString(w, `{"id":3}`)
		case r.Method == "GET" && r.URL.Path == "/schemas/ids/3":
			b, _ := json.Marshal(map[string]string{"schema": stored})
			w.Write(b)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error_code":40403,"message":"Schema not found"}`)
		}
	}))
	defer srv.Close()
	cl, _ := NewRegistryClient([]string{srv.URL})
	c, _ := Avro[user1]("")
	b, err := mustSerde(t, c, cl).Encode(context.Background(), "users", user1{Name: "z", Age: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustSerde(t, c, cl).Decode(context.Background(), b)
	if err != nil || got != (user1{Name: "z", Age: 3}) {
		t.Fatalf("decode = %+v %v", got, err)
	}
	if _, err := mustSerde(t, c, cl).Decode(context.Background(), append(AppendHeader(nil, 4), b[5:]...)); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}
