// Package faultproxy is an HTTP reverse proxy in front of an S3-compatible
// endpoint that injects faults: error responses (503 SlowDown by default),
// slow responses, connections reset before the response, and responses cut
// off mid-body by a reset. Rules select the S3 operations they apply to
// (put, get, head, delete, list, post) and the rate of each fault; the
// random choices come from a seeded generator. Tests put a Proxy in an
// httptest.Server and point a store's endpoint at it; the kill/fault runs
// start cmd/s3faultproxy and change its rules while it runs:
//
//	curl -X PUT --data '[{"ops":["put"],"error_rate":0.3,"delay_rate":0.1,"delay":"2s"}]' $PROXY/_faultproxy/rules
//	curl $PROXY/_faultproxy/stats
//
// (an S3 bucket name cannot contain "_", so the control path never shadows
// a bucket).
package faultproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rule is one set of faults. A request matches the first rule whose Ops
// contain its operation (an empty Ops matches every operation); at most one
// fault is injected per request, tried in the order reset, error, truncate,
// with the delay applied first.
type Rule struct {
	Ops []string `json:"ops,omitempty"`
	// ErrorRate answers with Status (default 503) and an S3 error body
	// (code SlowDown for 503, InternalError for other 5xx, else
	// AccessDenied) without forwarding.
	ErrorRate float64 `json:"error_rate,omitempty"`
	Status    int     `json:"status,omitempty"`
	// DelayRate delays the request by Delay before anything else.
	DelayRate float64       `json:"delay_rate,omitempty"`
	Delay     time.Duration `json:"-"` // "delay" in JSON: a Go duration string
	// DelayJSON carries Delay in the control endpoint's JSON.
	DelayJSON string `json:"delay,omitempty"`
	// ResetRate resets the connection (TCP RST) without answering; the
	// request is not forwarded.
	ResetRate float64 `json:"reset_rate,omitempty"`
	// TruncateRate forwards the request, then sends the response's
	// headers and half its body and resets the connection.
	TruncateRate float64 `json:"truncate_rate,omitempty"`
}

// Stats count requests and injected faults.
type Stats struct {
	Requests    int            `json:"requests"`
	Forwarded   int            `json:"forwarded"`
	Errors      int            `json:"errors"`
	Delays      int            `json:"delays"`
	Resets      int            `json:"resets"`
	Truncations int            `json:"truncations"`
	ByOp        map[string]int `json:"by_op"` // requests per operation
}

// ControlPath prefixes the control endpoint: PUT ControlPath+"rules" with
// a JSON array of rules, GET ControlPath+"stats" and ControlPath+"rules".
const ControlPath = "/_faultproxy/"

// Proxy is the fault-injecting reverse proxy (an http.Handler).
type Proxy struct {
	target    *url.URL
	transport *http.Transport
	closed    chan struct{}
	closeOnce sync.Once
	log       *slog.Logger

	mu    sync.Mutex
	rules []Rule
	rng   *rand.Rand
	stats Stats
}

// New creates a proxy forwarding to target (an http URL), with random
// choices seeded by seed.
func New(target string, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http(s) URL", target)
	}
	return &Proxy{
		target:    u,
		transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		closed:    make(chan struct{}),
		log:       slog.Default(),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		stats:     Stats{ByOp: map[string]int{}},
	}, nil
}

// SetRules replaces the rules (none: forward everything untouched).
func (p *Proxy) SetRules(rules ...Rule) {
	p.mu.Lock()
	p.rules = append([]Rule(nil), rules...)
	p.mu.Unlock()
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ByOp = make(map[string]int, len(p.stats.ByOp))
	for k, v := range p.stats.ByOp {
		s.ByOp[k] = v
	}
	return s
}

// Close ends pending delays and closes idle upstream connections. The
// server serving the proxy is the caller's to close.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() { close(p.closed) })
	p.transport.CloseIdleConnections()
}

// Operation names the S3 operation of a request: list (a GET with
// list-type, or of a bucket), get, head, put, delete, post, or other.
func Operation(r *http.Request) string {
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Has("list-type") || r.URL.Path == "/" || !strings.Contains(strings.Trim(r.URL.Path, "/"), "/") && !r.URL.Query().Has("x-id") {
			return "list"
		}
		return "get"
	case http.MethodHead:
		return "head"
	case http.MethodPut:
		return "put"
	case http.MethodDelete:
		return "delete"
	case http.MethodPost:
		return "post"
	}
	return "other"
}

type decision struct {
	delay                 time.Duration
	fail, reset, truncate bool
	status                int
}

func (p *Proxy) decide(op string) decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	p.stats.ByOp[op]++
	var d decision
	for _, r := range p.rules {
		if len(r.Ops) > 0 && !contains(r.Ops, op) {
			continue
		}
		if r.DelayRate > 0 && p.rng.Float64() < r.DelayRate {
			d.delay = r.Delay
			p.stats.Delays++
		}
		switch {
		case r.ResetRate > 0 && p.rng.Float64() < r.ResetRate:
			d.reset = true
			p.stats.Resets++
		case r.ErrorRate > 0 && p.rng.Float64() < r.ErrorRate:
			d.fail = true
			d.status = r.Status
			if d.status == 0 {
				d.status = http.StatusServiceUnavailable
			}
			p.stats.Errors++
		case r.TruncateRate > 0 && p.rng.Float64() < r.TruncateRate:
			d.truncate = true
			p.stats.Truncations++
		}
		break
	}
	if !d.fail && !d.reset {
		p.stats.Forwarded++
	}
	return d
}

func contains(ops []string, op string) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPath) {
		p.control(w, r)
		return
	}
	d := p.decide(Operation(r))
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.closed:
			t.Stop()
			return
		}
	}
	switch {
	case d.reset:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		resetConn(w)
		return
	case d.fail:
		code := "AccessDenied"
		switch {
		case d.status == http.StatusServiceUnavailable:
			code = "SlowDown"
		case d.status >= 500:
			code = "InternalError"
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(d.status)
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>injected by faultproxy</Message></Error>", code)
		return
	}
	p.forward(w, r, d.truncate)
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, truncate bool) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = p.target.Scheme
	out.URL.Host = p.target.Host
	out.Host = r.Host // the signature covers the Host header
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() == nil {
			p.log.Warn("faultproxy: upstream", "err", err)
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if !truncate {
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		resetConn(w)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	resetConn(w)
}

// resetConn closes the client's connection with a TCP RST.
func resetConn(w http.ResponseWriter) {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	_ = bufrw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// Listen serves the proxy on addr (e.g. "127.0.0.1:0") until ctx ends and
// returns its base URL. The returned stop function closes the listener and
// waits for the server to end.
func (p *Proxy) Listen(ctx context.Context, addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("faultproxy: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stopCtx, cancel := context.WithCancel(ctx)
	go func() {
		<-stopCtx.Done()
		_ = srv.Close()
	}()
	stop := func() {
		cancel()
		<-done
		p.Close()
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func (p *Proxy) control(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch what := strings.TrimPrefix(r.URL.Path, ControlPath); {
	case what == "stats" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(p.Stats())
	case what == "rules" && r.Method == http.MethodGet:
		p.mu.Lock()
		rules := append([]Rule(nil), p.rules...)
		p.mu.Unlock()
		for i := range rules {
			if rules[i].Delay > 0 {
				rules[i].DelayJSON = rules[i].Delay.String()
			}
		}
		_ = json.NewEncoder(w).Encode(rules)
	case what == "rules" && r.Method == http.MethodPut:
		rules, err := ParseRules(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			p.log.Warn("faultproxy: bad rules", "err", err)
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		p.SetRules(rules...)
		p.log.Info("faultproxy: rules set", "rules", len(rules))
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unknown control request " + r.Method + " " + r.URL.Path})
	}
}

// ParseRules reads a JSON array of rules (delay as a Go duration string)
// and checks them: rates within [0, 1], known operations, an error status
// of 400..599.
func ParseRules(rd io.Reader) ([]Rule, error) {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	var rules []Rule
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("faultproxy: rules: %w", err)
	}
	for i := range rules {
		r := &rules[i]
		if r.DelayJSON != "" {
			d, err := time.ParseDuration(r.DelayJSON)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("faultproxy: rule %d: delay %q is not a duration", i, r.DelayJSON)
			}
			r.Delay = d
		}
		for _, rate := range []float64{r.ErrorRate, r.DelayRate, r.ResetRate, r.TruncateRate} {
			if rate < 0 || rate > 1 {
				return nil, fmt.Errorf("faultproxy: rule %d: rate %v outside [0, 1]", i, rate)
			}
		}
		if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
			return nil, fmt.Errorf("faultproxy: rule %d: status %d is not an error", i, r.Status)
		}
		for _, op := range r.Ops {
			if !contains([]string{"put", "get", "head", "delete", "list", "post", "other"}, op) {
				return nil, fmt.Errorf("faultproxy: rule %d: unknown operation %q", i, op)
			}
		}
	}
	return rules, nil
}
