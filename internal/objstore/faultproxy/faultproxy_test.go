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
