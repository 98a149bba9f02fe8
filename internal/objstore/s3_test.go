package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/internal/objstore/faultproxy"
)

// s3URLEnv names an object-store URL (credentials from the AWS environment
// variables) that the store tests also run against, e.g. the versitygw of
// scripts/s3-server.sh.
const s3URLEnv = "SLUICE_S3_URL"

// fakeS3 starts gofakes3 with the bucket "bkt" and returns its endpoint.
func fakeS3(t *testing.T) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

func testOpts() S3Options {
	return S3Options{
		Credentials:    credentials.NewStaticCredentialsProvider("test-key", "test-secret", ""),
		MaxAttempts:    4,
		AttemptTimeout: 20 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
		// No waiting between attempts in tests.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
}

func openTest(t *testing.T, rawURL string, opts S3Options) *S3 {
	t.Helper()
	s, err := OpenS3(context.Background(), rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stores returns the stores the contract runs against: gofakes3, and the
// store of $SLUICE_S3_URL when set. Each gets a fresh key prefix.
func stores(t *testing.T) map[string]*S3 {
	out := map[string]*S3{"gofakes3": openTest(t, "s3://bkt/pfx?region=us-east-1&path_style=true&endpoint="+url.QueryEscape(fakeS3(t)), testOpts())}
	if raw := os.Getenv(s3URLEnv); raw != "" {
		o := testOpts()
		o.Credentials = nil // the SDK's chain: the AWS environment variables
		out["env"] = openTest(t, raw, o)
	}
	return out
}

func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test-" + hex.EncodeToString(b) + "/"
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("s3://my-bucket/a/b?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true")
	if err != nil {
		t.Fatal(err)
	}
	want := S3Config{Bucket: "my-bucket", Prefix: "a/b/", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", PathStyle: true}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c, err := ParseURL("s3://b"); err != nil || c != (S3Config{Bucket: "b"}) {
		t.Fatalf("s3://b: %+v %v", c, err)
	}
	for _, bad := range []string{
		"http://b/p", "s3:///p", "s3://b/p?endpoint=ftp://x", "s3://b/p?path_style=maybe",
		"s3://b/p?regoin=x", "s3://key:secret@b/p", "s3://b/p?endpoint=",
	} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestStoreContract(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { storeContract(t, s) })
	}
}

func storeContract(t *testing.T, s Store) {
	ctx := context.Background()
	p := uniquePrefix(t)
	t.Cleanup(func() {
		_ = s.List(ctx, p, func(o ObjectInfo) error { return s.Delete(ctx, o.Key) })
	})
	data := []byte("0123456789abcdefghij")
	if err := s.Put(ctx, p+"a/obj1", data); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, p+"a/obj1", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole get: %q %v", got, err)
	}
	got, err = s.Get(ctx, p+"a/obj1", 5, 7)
	if err != nil || string(got) != "56789ab" {
		t.Fatalf("ranged get: %q %v", got, err)
	}
	got, err = s.Get(ctx, p+"a/obj1", 15, -1)
	if err != nil || string(got) != "fghij" {
		t.Fatalf("get to end: %q %v", got, err)
	}
	if got, err := s.Get(ctx, p+"a/obj1", 15, 10); !errors.Is(err, ErrOutOfRange) || !errors.Is(err, ErrPermanent) || got != nil {
		t.Fatalf("range past the end: %q %v", got, err)
	}
	if _, err := s.Get(ctx, p+"a/obj1", 40, 10); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("range after the end: %v", err)
	}
	if _, err := s.Get(ctx, p+"a/missing", 0, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	var keys []string
	for i := range 7 {
		k := fmt.Sprintf("%sb/obj%02d", p, i)
		keys = append(keys, k)
		if err := s.Put(ctx, k, bytes.Repeat([]byte{byte(i)}, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	if err := s.List(ctx, p+"b/", func(o ObjectInfo) error {
		if o.Size != int64(len(listed)+1) {
			t.Errorf("%s: size %d", o.Key, o.Size)
		}
		listed = append(listed, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, keys) {
		t.Fatalf("listed %v, want %v", listed, keys)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.List(ctx, p, func(ObjectInfo) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("list stopped by fn: %v after %d", err, n)
	}
	if err := s.Delete(ctx, p+"a/obj1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, p+"a/obj1", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted object: %v", err)
	}
	if err := s.Delete(ctx, p+"a/obj1"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

func TestListPages(t *testing.T) {
	o := testOpts()
	o.ListPageSize = 3
	s := openTest(t, "s3://bkt/x/y?region=us-east-1&path_style=true&endpoint="+url.QueryEscape(fakeS3(t)), o)
	ctx := context.Background()
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("k%02d", i)
		want = append(want, k)
		if err := s.Put(ctx, k, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.List(ctx, "", func(o ObjectInfo) error { got = append(got, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestMissingBucketIsPermanent(t *testing.T) {
	s := openTest(t, "s3://nobucket/p?region=us-east-1&path_style=true&endpoint="+url.QueryEscape(fakeS3(t)), testOpts())
	err := s.Put(context.Background(), "k", []byte("x"))
	if !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetriable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("put into a missing bucket: %v", err)
	}
	if _, err := s.Get(context.Background(), "k", 0, 1); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrNotFound) {
		t.Fatalf("get from a missing bucket: %v", err)
	}
}

// faulty returns a store behind a fault proxy in front of gofakes3 (or of
// $SLUICE_S3_URL's endpoint when set), its proxy and its metrics registry.
func faulty(t *testing.T, opts S3Options) (*S3, *faultproxy.Proxy, *prometheus.Registry) {
	t.Helper()
	target, bucketURL := fakeS3(t), "s3://bkt/pfx?region=us-east-1&path_style=true"
	if raw := os.Getenv(s3URLEnv); raw != "" {
		c, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.Endpoint == "" {
			t.Skip("$" + s3URLEnv + " has no endpoint to put the proxy in front of")
		}
		target = c.Endpoint
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Del("endpoint")
		u.RawQuery = q.Encode()
		bucketURL = u.String()
		opts.Credentials = nil
	}
	p, err := faultproxy.New(target, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); srv.Close() }) // p.Close ends pending delays first
	reg := prometheus.NewRegistry()
	if opts.Metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	sep := "&"
	if !strings.Contains(bucketURL, "?") {
		sep = "?"
	}
	return openTest(t, bucketURL+sep+"endpoint="+url.QueryEscape(srv.URL), opts), p, reg
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			if m.GetHistogram() != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestFaultErrorsAreRetriable(t *testing.T) {
	s, p, reg := faulty(t, testOpts())
	ctx := context.Background()
	if err := s.Put(ctx, "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	p.SetRules(faultproxy.Rule{Ops: []string{"get"}, ErrorRate: 1})
	got, err := s.Get(ctx, "k", 0, 5)
	if !errors.Is(err, ErrRetriable) || got != nil {
		t.Fatalf("get through 503s: %q %v", got, err)
	}
	if st := p.Stats(); st.ByOp["get"] != 4 || st.Errors != 4 {
		t.Fatalf("proxy saw %+v, want 4 gets answered with errors (MaxAttempts)", st)
	}
	if n := counter(t, reg, "sluice_objstore_requests_total", "op", "get", "result", "retriable"); n != 4 {
		t.Fatalf("requests_total{get,retriable} = %v", n)
	}
	if n := counter(t, reg, "sluice_objstore_errors_total", "op", "get", "class", "retriable"); n != 1 {
		t.Fatalf("errors_total{get,retriable} = %v", n)
	}
	if n := counter(t, reg, "sluice_objstore_bytes_total", "op", "put"); n != 5 {
		t.Fatalf("bytes_total{put} = %v", n)
	}
	if n := counter(t, reg, "sluice_objstore_request_duration_seconds", "op", "get"); n != 4 {
		t.Fatalf("duration samples {get} = %v", n)
	}

	// A put answered with errors is retriable and leaves no object.
	p.SetRules(faultproxy.Rule{Ops: []string{"put"}, ErrorRate: 1, Status: 500})
	if err := s.Put(ctx, "k2", []byte("x")); !errors.Is(err, ErrRetriable) {
		t.Fatalf("put through 500s: %v", err)
	}
	p.SetRules()
	if _, err := s.Get(ctx, "k2", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object of a failed put: %v", err)
	}

	// 403 is permanent: one attempt, not retried.
	p.SetRules(faultproxy.Rule{Ops: []string{"get"}, ErrorRate: 1, Status: 403})
	before := p.Stats().ByOp["get"]
	if _, err := s.Get(ctx, "k", 0, 5); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetriable) {
		t.Fatalf("get through 403: %v", err)
	}
	if n := p.Stats().ByOp["get"] - before; n != 1 {
		t.Fatalf("403 tried %d times", n)
	}
}

func TestFaultResetsAndTruncationsAreRetriable(t *testing.T) {
	s, p, _ := faulty(t, testOpts())
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := s.Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	p.SetRules(faultproxy.Rule{ResetRate: 1})
	if got, err := s.Get(ctx, "k", 0, -1); !errors.Is(err, ErrRetriable) || got != nil {
		t.Fatalf("get through resets: %d bytes, %v", len(got), err)
	}
	if err := s.Put(ctx, "k3", data); !errors.Is(err, ErrRetriable) {
		t.Fatalf("put through resets: %v", err)
	}
	p.SetRules(faultproxy.Rule{Ops: []string{"get"}, TruncateRate: 1})
	for _, r := range [][2]int64{{0, -1}, {100, 5000}} {
		if got, err := s.Get(ctx, "k", r[0], r[1]); !errors.Is(err, ErrRetriable) || got != nil {
			t.Fatalf("get %v through truncation: %d bytes, %v", r, len(got), err)
		}
	}
	p.SetRules(faultproxy.Rule{Ops: []string{"list"}, TruncateRate: 1})
	if err := s.List(ctx, "", func(ObjectInfo) error { return nil }); !errors.Is(err, ErrRetriable) {
		t.Fatalf("list through truncation: %v", err)
	}
	if st := p.Stats(); st.Resets == 0 || st.Truncations == 0 {
		t.Fatalf("no faults injected: %+v", st)
	}
}

// TestFaultMix: under random errors, resets, truncations and delays every
// operation either succeeds with the right bytes or fails retriably.
func TestFaultMix(t *testing.T) {
	o := testOpts()
	o.MaxAttempts = 4
	o.AttemptTimeout = 500 * time.Millisecond
	s, p, _ := faulty(t, o)
	p.SetRules(faultproxy.Rule{ErrorRate: 0.2, ResetRate: 0.15, TruncateRate: 0.15, DelayRate: 0.05, Delay: time.Minute})
	ctx := context.Background()
	stored := map[string][]byte{}
	var ok, failed, verified int
	for i := range 60 {
		k := fmt.Sprintf("obj%d", (i/2)%5) // a put, then a get of what it wrote
		if i%2 == 0 {
			data := bytes.Repeat([]byte{byte(i)}, 1000+i)
			err := s.Put(ctx, k, data)
			switch {
			case err == nil:
				stored[k] = data
				ok++
			case errors.Is(err, ErrRetriable):
				failed++
				delete(stored, k) // unknown: the put may or may not have landed
			default:
				t.Fatalf("put: unclassified error %v", err)
			}
			continue
		}
		want, known := stored[k]
		got, err := s.Get(ctx, k, 10, 500)
		switch {
		case err == nil:
			ok++
			if known {
				if !bytes.Equal(got, want[10:510]) {
					t.Fatalf("get %s: wrong bytes", k)
				}
				verified++
			}
			if len(got) != 500 {
				t.Fatalf("get %s: %d bytes", k, len(got))
			}
		case errors.Is(err, ErrRetriable), errors.Is(err, ErrNotFound) && !known:
			failed++
		default:
			t.Fatalf("get %s: unexpected error %v", k, err)
		}
	}
	st := p.Stats()
	t.Logf("%d ok (%d reads verified), %d failed; proxy %+v", ok, verified, failed, st)
	if verified == 0 || st.Errors == 0 || st.Resets == 0 || st.Truncations == 0 || st.Delays == 0 {
		t.Fatalf("the mix did not exercise both outcomes and every fault: %d ok, %+v", ok, st)
	}
}

func TestTimeouts(t *testing.T) {
	o := testOpts()
	o.MaxAttempts = 3
	o.AttemptTimeout = 100 * time.Millisecond
	s, p, _ := faulty(t, o)
	ctx := context.Background()
	if err := s.Put(ctx, "k", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	p.SetRules(faultproxy.Rule{Ops: []string{"get"}, DelayRate: 1, Delay: time.Minute})
	start := time.Now()
	_, err := s.Get(ctx, "k", 0, 3)
	if !errors.Is(err, ErrRetriable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get past the attempt timeout: %v", err)
	}
	if p.Stats().ByOp["get"] != 3 {
		t.Fatalf("attempts: %+v", p.Stats())
	}
	// The caller's deadline ends the operation, whatever the attempt budget.
	s.opts.AttemptTimeout, s.opts.MaxAttempts = time.Hour, 100
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = s.Get(cctx, "k", 0, 3)
	if !errors.Is(err, ErrRetriable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get past the caller's deadline: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("timeouts took %v", d)
	}
}

func TestFaultListAndMetricsRegistration(t *testing.T) {
	s, p, reg := faulty(t, testOpts())
	ctx := context.Background()
	if err := s.Put(ctx, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	p.SetRules(faultproxy.Rule{Ops: []string{"list"}, ErrorRate: 1})
	n := 0
	if err := s.List(ctx, "", func(ObjectInfo) error { n++; return nil }); !errors.Is(err, ErrRetriable) || n != 0 {
		t.Fatalf("list through 503s: %v after %d objects", err, n)
	}
	if _, err := s.Get(ctx, "a", 0, 1); err != nil {
		t.Fatalf("get while lists fail: %v", err)
	}
	if got := counter(t, reg, "sluice_objstore_requests_total", "op", "list", "result", "retriable"); got != 4 {
		t.Fatalf("requests_total{list,retriable} = %v", got)
	}
	if got := counter(t, reg, "sluice_objstore_requests_total", "op", "get", "result", "ok"); got != 1 {
		t.Fatalf("requests_total{get,ok} = %v", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("metrics registered twice on one registry")
	}
}

// TestEnvPermanentErrors: against a real server ($SLUICE_S3_URL), wrong
// credentials and a missing bucket are permanent, not retried. (gofakes3
// checks no signatures, so this runs only against a real server.)
func TestEnvPermanentErrors(t *testing.T) {
	raw := os.Getenv(s3URLEnv)
	if raw == "" {
		t.Skip("$" + s3URLEnv + " not set")
	}
	ctx := context.Background()
	o := testOpts() // static credentials the server does not know
	reg := prometheus.NewRegistry()
	var err error
	if o.Metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, raw, o)
	if err := s.Put(ctx, uniquePrefix(t)+"k", []byte("x")); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetriable) {
		t.Fatalf("put with unknown credentials: %v", err)
	}
	if n := counter(t, reg, "sluice_objstore_requests_total", "op", "put", "result", "permanent"); n != 1 {
		t.Fatalf("attempts with unknown credentials: %v", n)
	}
	u, _ := url.Parse(raw)
	u.Host = "no-such-bucket-" + strings.TrimSuffix(uniquePrefix(t)[5:], "/")
	o.Credentials = nil
	s = openTest(t, u.String(), o)
	if err := s.Put(ctx, "k", []byte("x")); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrNotFound) {
		t.Fatalf("put into a missing bucket: %v", err)
	}
}

func TestClassify(t *testing.T) {
	resp := func(status int, code string) error {
		var inner error = errors.New("no body")
		if code != "" {
			inner = &smithy.GenericAPIError{Code: code, Message: "m"}
		}
		return &smithy.OperationError{ServiceID: "S3", OperationName: "Op", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: inner},
		}}
	}
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want error
	}{
		{resp(404, "NoSuchKey"), ErrNotFound},
		{resp(404, ""), ErrNotFound},
		{resp(404, "NotFound"), ErrNotFound},
		{resp(404, "NoSuchBucket"), ErrPermanent},
		{resp(404, "XAdminUserNotFound"), ErrPermanent}, // versitygw's unknown access key
		{resp(403, "AccessDenied"), ErrPermanent},
		{resp(403, "SignatureDoesNotMatch"), ErrPermanent},
		{resp(400, "InvalidArgument"), ErrPermanent},
		{resp(416, "InvalidRange"), ErrOutOfRange},
		{resp(503, "SlowDown"), ErrRetriable},
		{resp(500, "InternalError"), ErrRetriable},
		{resp(502, ""), ErrRetriable},
		{resp(429, ""), ErrRetriable},
		{resp(400, "RequestTimeout"), ErrRetriable},
		{&smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: syscall.ECONNREFUSED}}, ErrRetriable},
		{fmt.Errorf("op: %w", io.ErrUnexpectedEOF), ErrRetriable},
		{&smithy.DeserializationError{Err: errors.New("xml")}, ErrRetriable},
		{context.DeadlineExceeded, ErrRetriable},
		{errors.New("something else"), ErrPermanent},
	} {
		got := classify(ctx, c.err)
		if !errors.Is(got, c.want) {
			t.Errorf("%v: classified %v, want %v", c.err, got, c.want)
		}
		n := 0
		for _, s := range []error{ErrNotFound, ErrRetriable, ErrPermanent} {
			if errors.Is(got, s) {
				n++
			}
		}
		if n != 1 && !errors.Is(got, ErrOutOfRange) {
			t.Errorf("%v: %d classes", c.err, n)
		}
	}
}

// A Get's result holds no more memory than its length (the read cache
// counts lengths): ranged and whole reads of sizes around the read
// buffer's growth steps.
func TestGetExactCapacity(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			p := uniquePrefix(t)
			t.Cleanup(func() {
				_ = s.List(ctx, p, func(o ObjectInfo) error { return s.Delete(ctx, o.Key) })
			})
			data := make([]byte, 300<<10)
			for i := range data {
				data[i] = byte(i * 7)
			}
			if err := s.Put(ctx, p+"obj", data); err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]int64{{0, -1}, {0, 512}, {100, 4096}, {1, 64 << 10}, {5000, 200 << 10}} {
				got, err := s.Get(ctx, p+"obj", r[0], r[1])
				n := r[1]
				if n < 0 {
					n = int64(len(data)) - r[0]
				}
				if err != nil || !bytes.Equal(got, data[r[0]:r[0]+n]) {
					t.Fatalf("Get(%d, %d): %d bytes, %v", r[0], r[1], len(got), err)
				}
				if cap(got) != len(got) {
					t.Errorf("Get(%d, %d): %d bytes in a buffer of %d", r[0], r[1], len(got), cap(got))
				}
			}
		})
	}
}

// readBody's result has its length as capacity whatever the body's read
// sizes and whether Content-Length is known.
func TestReadBodyExactCapacity(t *testing.T) {
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(i)
	}
	cl := int64(len(data))
	for name, tc := range map[string]struct {
		r  func() io.Reader
		cl *int64
	}{
		"length known, data then EOF":   {func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, &cl},
		"length unknown, data then EOF": {func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, nil},
		"length known, EOF with data":   {func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }, &cl},
	} {
		got, err := readBody(tc.r(), tc.cl, 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
		if cap(got) != len(got) {
			t.Errorf("%s: %d bytes in a buffer of %d", name, len(got), cap(got))
		}
	}
	short := int64(len(data) + 1)
	if _, err := readBody(bytes.NewReader(data), &short, 1<<20); !errors.Is(err, ErrRetriable) {
		t.Errorf("body shorter than Content-Length: %v", err)
	}
	if _, err := readBody(bytes.NewReader(data), nil, 100); !errors.Is(err, ErrPermanent) {
		t.Errorf("body over the bound: %v", err)
	}
}
