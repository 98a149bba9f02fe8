package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

func TestOperation(t *testing.T) {
	for target, want := range map[string]string{
		"GET /bkt?list-type=2&prefix=a":    "list",
		"GET /bkt/":                        "list",
		"GET /bkt/some/key?x-id=GetObject": "get",
		"GET /key?x-id=GetObject":          "get",
		"HEAD /bkt/key":                    "head",
		"PUT /bkt/key?x-id=PutObject":      "put",
		"DELETE /bkt/key":                  "delete",
		"POST /bkt?delete":                 "post",
	} {
		method, path, _ := strings.Cut(target, " ")
		r := httptest.NewRequest(method, "http://x"+path, nil)
		if got := Operation(r); got != want {
			t.Errorf("%s: %s, want %s", target, got, want)
		}
	}
}

func TestListenAndFaults(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream "+r.Method+" "+r.URL.Path)
	}))
	defer upstream.Close()
	p, err := New(upstream.URL, 7)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := p.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := get("/bkt/k?x-id=GetObject"); err != nil || code != 200 || body != "upstream GET /bkt/k" {
		t.Fatalf("forwarded: %d %q %v", code, body, err)
	}
	p.SetRules(Rule{Ops: []string{"list"}, ErrorRate: 1}, Rule{Ops: []string{"get"}, ResetRate: 1})
	if code, body, err := get("/bkt?list-type=2"); err != nil || code != 503 || !strings.Contains(body, "<Code>SlowDown</Code>") {
		t.Fatalf("injected error: %d %q %v", code, body, err)
	}
	if _, _, err := get("/bkt/k?x-id=GetObject"); err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF")) {
		t.Fatalf("injected reset: %v", err)
	}
	p.SetRules(Rule{TruncateRate: 1})
	if code, body, err := get("/bkt/long-key-name?x-id=GetObject"); err == nil {
		t.Fatalf("truncated response read without error: %d %q", code, body)
	}
	st := p.Stats()
	if st.Requests != 4 || st.Errors != 1 || st.Resets != 1 || st.Truncations != 1 || st.ByOp["get"] != 3 || st.ByOp["list"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := New("ftp://x", 1); err == nil {
		t.Fatal("ftp target accepted")
	}
}

func TestControlEndpoint(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	p, err := New(upstream.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer func() { p.Close(); srv.Close() }()
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("PUT", ControlPath+"rules", `[{"ops":["put"],"error_rate":1,"status":500,"delay_rate":1,"delay":"1ms"}]`); code != 204 {
		t.Fatalf("set rules: %d", code)
	}
	if code, body := do("GET", ControlPath+"rules", ""); code != 200 || !strings.Contains(body, `"delay":"1ms"`) || !strings.Contains(body, `"status":500`) {
		t.Fatalf("rules: %d %s", code, body)
	}
	if code, body := do("PUT", "/bkt/k", "data"); code != 500 || !strings.Contains(body, "InternalError") {
		t.Fatalf("put under the rule: %d %s", code, body)
	}
	if code, body := do("GET", "/bkt/k?x-id=GetObject", ""); code != 200 || body != "ok" {
		t.Fatalf("get (no rule): %d %s", code, body)
	}
	if code, body := do("GET", ControlPath+"stats", ""); code != 200 || !strings.Contains(body, `"errors":1`) || !strings.Contains(body, `"requests":2`) {
		t.Fatalf("stats: %d %s", code, body)
	}
	for _, bad := range []string{`[{"error_rate":2}]`, `[{"ops":["fetch"]}]`, `[{"delay":"soon"}]`, `[{"status":200}]`, `[{"colour":"red"}]`, `{`} {
		if code, _ := do("PUT", ControlPath+"rules", bad); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
	if code, _ := do("POST", ControlPath+"nothing", ""); code != 404 {
		t.Fatalf("unknown control request: %d", code)
	}
}
