package objlog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
	"github.com/sluice-io/sluice/internal/objstore/faultproxy"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeS3 starts gofakes3 with the bucket "bkt" and returns its endpoint.
func fakeS3(t testing.TB) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// faultyS3 is gofakes3 behind a fault proxy.
func faultyS3(t testing.TB) (string, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.New(fakeS3(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); srv.Close() })
	return srv.URL, p
}

// openStore opens the S3 store at endpoint with fast retries.
func openStore(t testing.TB, endpoint string) *objstore.S3 {
	t.Helper()
	s, err := objstore.OpenS3(context.Background(), "s3://bkt/pfx?region=us-east-1&path_style=true&endpoint="+url.QueryEscape(endpoint), objstore.S3Options{
		Credentials:    credentials.NewStaticCredentialsProvider("test-key", "test-secret", ""),
		MaxAttempts:    3,
		RetryBase:      5 * time.Millisecond,
		RetryMax:       20 * time.Millisecond,
		AttemptTimeout: 5 * time.Second,
		Logger:         quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// broker is one broker of a test: etcd client, membership, flusher.
type broker struct {
	client *cluster.Client
	member *cluster.Member
	f      *Flusher
	store  objstore.Store
}

type brokerOpts struct {
	node    int32
	cfg     Config
	noStart bool
	ttl     time.Duration
}

func startBroker(t testing.TB, e *etcdtest.Server, store objstore.Store, o brokerOpts) *broker {
	t.Helper()
	ttl := o.ttl
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	c, err := cluster.Open(cluster.Config{Endpoints: []string{e.Endpoint}, ClusterID: "test", LeaseTTL: ttl,
		MaxTxnOps: e.MaxTxnOps, RequestTimeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m, err := c.Register(ctxT(t), cluster.BrokerInfo{NodeID: o.node, Host: "127.0.0.1", Port: 9092 + o.node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if o.cfg.Logger == nil {
		o.cfg.Logger = quiet
	}
	cache, err := objstore.NewCache(store, objstore.CacheOptions{MemoryBytes: 64 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := NewFlusher(o.cfg, c, m, store, cache)
	if !o.noStart {
		f.Start(context.Background())
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return &broker{client: c, member: m, f: f, store: store}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tpN(topic byte, p int32) cluster.TopicPartition {
	return cluster.TopicPartition{TopicID: [16]byte{0: topic, 15: 0x5A}, Partition: p}
}

func topicCfg() log.Config {
	c := log.DefaultConfig()
	c.TimestampBeforeMaxMs, c.TimestampAfterMaxMs = 1<<62, 1<<62
	return c
}

// mkBatch is a batch of n records whose values name (tag, i).
func mkBatch(tag string, n int, ts int64) []byte {
	recs := make([]log.KV, n)
	for i := range recs {
		recs[i] = log.KV{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	return log.EncodeBatch(recs, ts, -1, -1, false)
}

func acquire(t testing.TB, b *broker, tp cluster.TopicPartition) *Partition {
	t.Helper()
	p, err := b.f.Acquire(ctxT(t), tp, topicCfg())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAppend(t testing.TB, p *Partition, batch []byte) *Completion {
	t.Helper()
	c, err := p.Append(batch)
	if err != nil {
		t.Fatalf("append to %s: %v", p.tp, err)
	}
	return c
}

// waitResult waits (30 s at most) for a completion.
func waitResult(t testing.TB, c *Completion) (AppendResult, error) {
	t.Helper()
	select {
	case <-c.Done():
		return c.Result()
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an append's outcome")
		return AppendResult{}, nil
	}
}

func mustAck(t testing.TB, c *Completion) AppendResult {
	t.Helper()
	r, err := waitResult(t, c)
	if err != nil {
		t.Fatalf("append not acknowledged: %v", err)
	}
	return r
}

// waitState waits (30 s at most) until the partition is in state st.
func waitState(t testing.TB, p *Partition, st partState) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		cur, ch := p.state, p.changed
		p.mu.Unlock()
		if cur == st {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: timed out waiting for state %d (in %d)", p.tp, st, cur)
		}
	}
}

// records decodes every record of a read: offset -> value.
func records(t testing.TB, b []byte) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for len(b) > 0 {
		h, err := log.CheckStoredBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := log.DecodeRecords(b[:h.Size()])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out[r.Offset] = string(r.Value)
		}
		b = b[h.Size():]
	}
	return out
}

// readAll reads the partition from offset to its hw.
func readAll(t testing.TB, p *Partition, from int64) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	hw := p.HighWatermark()
	for off := from; off < hw; {
		b, err := p.Read(ctxT(t), off, 1<<20)
		if err != nil {
			t.Fatalf("read %s at %d: %v", p.tp, off, err)
		}
		if len(b) == 0 {
			t.Fatalf("read %s at %d below hw %d: nothing", p.tp, off, hw)
		}
		m := records(t, b)
		last := off
		for o, v := range m {
			if o >= off {
				out[o] = v
			}
			last = max(last, o)
		}
		off = last + 1
	}
	return out
}

// manualClock is a Clock the test moves.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.UnixMilli(1_700_000_000_000), added: make(chan struct{}, 100)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

// waitWaiter waits until someone waits on the clock.
func (c *manualClock) waitWaiter(t testing.TB) {
	t.Helper()
	for {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-c.added:
		case <-time.After(30 * time.Second):
			t.Fatal("timed out waiting for a clock waiter")
		}
	}
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// objects lists the objects/ records.
func objectNames(t testing.TB, c *cluster.Client) []string {
	t.Helper()
	var out []string
	if _, err := c.Objects(ctxT(t), func(r cluster.ObjectRecord) error { out = append(out, r.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func isDone(c *Completion) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// ledger records appends' outcomes for one partition: the acknowledged
// records by offset, and the tags of appends that failed with
// REQUEST_TIMED_OUT (their flush's outcome may have been unknown, so
// their records may have become durable unacknowledged).
type ledger struct {
	mu       sync.Mutex
	acked    map[int64]string
	timedOut map[string]bool
	// allowUnacked, if set, accepts an unacknowledged record's value
	// (a killed leader's in-flight flush may have committed).
	allowUnacked func(string) bool
}

func newLedger() *ledger { return &ledger{acked: map[int64]string{}, timedOut: map[string]bool{}} }

// record notes the outcome of an append of n records with tag (values
// tag-0 ... tag-(n-1)); it refuses an offset acknowledged twice and a
// non-retriable failure.
func (l *ledger) record(tag string, n int, r AppendResult, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		for k := range n {
			off := r.BaseOffset + int64(k)
			if prev, ok := l.acked[off]; ok {
				return fmt.Errorf("offset %d acknowledged twice (%s, then %s-%d)", off, prev, tag, k)
			}
			l.acked[off] = fmt.Sprintf("%s-%d", tag, k)
		}
	case ErrorCode(err) == kerr.RequestTimedOut.Code:
		l.timedOut[tag] = true
	case retriableCode(err):
	default:
		return fmt.Errorf("append %s failed with %w", tag, err)
	}
	return nil
}

func retriableCode(err error) bool {
	switch ErrorCode(err) {
	case kerr.RequestTimedOut.Code, kerr.KafkaStorageError.Code, kerr.NotLeaderForPartition.Code:
		return true
	}
	return false
}

// check reads the partition: no gap below the hw, every acknowledged
// record at its offset, any other record from an append that timed out.
func (l *ledger) check(t testing.TB, p *Partition) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	got := readAll(t, p, p.LogStartOffset())
	hw := p.HighWatermark()
	for off := p.LogStartOffset(); off < hw; off++ {
		v, ok := got[off]
		if !ok {
			t.Fatalf("%s: offset %d missing below hw %d", p.tp, off, hw)
		}
		if want, ok := l.acked[off]; ok {
			if v != want {
				t.Fatalf("%s offset %d: %q, acknowledged %q", p.tp, off, v, want)
			}
			continue
		}
		if l.allowUnacked != nil && l.allowUnacked(v) {
			continue
		}
		if i := strings.LastIndexByte(v, '-'); i < 0 || !l.timedOut[v[:i]] {
			t.Fatalf("%s offset %d holds %q, neither acknowledged nor timed out", p.tp, off, v)
		}
	}
	for off := range l.acked {
		if off >= hw {
			t.Fatalf("%s: acknowledged offset %d not below hw %d", p.tp, off, hw)
		}
	}
}
