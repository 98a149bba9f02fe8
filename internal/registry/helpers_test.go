package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// memStore keeps appended records; fail makes Append fail.
type memStore struct {
	mu   sync.Mutex
	recs []Record
	fail bool
}

var errInjected = errors.New("injected store failure")

func (m *memStore) Append(recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errInjected
	}
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memStore) records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

type testServer struct {
	t     *testing.T
	store *memStore
	reg   *Registry
	srv   *httptest.Server
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ms := &memStore{}
	if cfg.Store == nil {
		cfg.Store = ms
	}
	reg := New(cfg)
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	return &testServer{t: t, store: ms, reg: reg, srv: srv}
}

// do sends a request and decodes the JSON answer into out (when not nil),
// returning the status and raw body.
func (ts *testServer) do(method, path string, body any, out any) (int, []byte) {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.srv.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctV1)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			ts.t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// register registers schema under subject and returns the id (fatal on error).
func (ts *testServer) register(subject string, req SchemaRequest) int {
	ts.t.Helper()
	var out struct {
		ID int `json:"id"`
	}
	st, raw := ts.do("POST", "/subjects/"+subject+"/versions", req, nil)
	if st != 200 {
		ts.t.Fatalf("register %s: %d %s", subject, st, raw)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		ts.t.Fatal(err)
	}
	return out.ID
}

// wantErr asserts an error answer with status and Confluent code.
func (ts *testServer) wantErr(method, path string, body any, status, code int) {
	ts.t.Helper()
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	st, raw := ts.do(method, path, body, nil)
	if err := json.Unmarshal(raw, &e); err != nil {
		ts.t.Fatalf("%s %s: not a JSON error body: %q", method, path, raw)
	}
	if st != status || e.Code != code || e.Message == "" {
		ts.t.Fatalf("%s %s: got %d %s, want status %d error_code %d", method, path, st, raw, status, code)
	}
}
