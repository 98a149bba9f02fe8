package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
)

// testBroker is an in-process broker with its HTTP listener (and so the
// console) on a free port.
type testBroker struct {
	*broker.Broker
	base       string // http://host:port
	user, pass string // HTTP basic credentials, when user is set
}

// as is tb with the HTTP basic credentials of user.
func (tb *testBroker) as(user, pass string) *testBroker {
	c := *tb
	c.user, c.pass = user, pass
	return &c
}

func startBroker(t testing.TB, cfg broker.Config) *testBroker {
	t.Helper()
	cfg.DataDir = t.TempDir()
	if len(cfg.Listeners) == 0 {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.HTTPListen = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(context.Background()) }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing broker: %v", err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	// A Kafka request answered means the accept loops run, which start
	// after the broker turns ready (and the console serves).
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatalf("broker not answering: %v", err)
	}
	return &testBroker{Broker: b, base: "http://" + b.HTTPAddr().String()}
}

// response is a fetched page.
type response struct {
	status   int
	body     string
	location string
}

var noRedirect = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (tb *testBroker) do(t testing.TB, req *http.Request) response {
	t.Helper()
	if tb.user != "" {
		req.SetBasicAuth(tb.user, tb.pass)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", req.URL, err)
	}
	r := response{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}
	if r.status >= 500 || strings.Contains(r.body, "goroutine ") {
		t.Fatalf("%s %s: status %d, body:\n%s", req.Method, req.URL, r.status, r.body)
	}
	return r
}

func (tb *testBroker) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tb.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tb.do(t, req)
}

func (tb *testBroker) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tb.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return tb.do(t, req)
}

// want checks a response's status and that its body has every string.
func want(t testing.TB, r response, status int, has ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.status, status, r.body)
	}
	for _, s := range has {
		if !strings.Contains(r.body, s) {
			t.Fatalf("body lacks %q:\n%s", s, r.body)
		}
	}
}

func (tb *testBroker) createTopic(t testing.TB, name string, partitions int) {
	t.Helper()
	r := tb.post(t, "/topics", url.Values{"name": {name}, "partitions": {fmt.Sprint(partitions)}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/topics/"+name) {
		t.Fatalf("creating %s: status %d location %q body:\n%s", name, r.status, r.location, r.body)
	}
}

func TestOverview(t *testing.T) {
	tb := startBroker(t, broker.Config{NodeID: 7})
	tb.createTopic(t, "orders", 3)
	r := tb.get(t, "/")
	want(t, r, http.StatusOK, `<meta name="viewport"`, `id="rate-all"`, `id="rate-Produce"`, `id="node-id">7<`, `id="topic-count">1<`, "PLAINTEXT", tb.Addr().String(), `id="log-dirs"`)
	if !regexp.MustCompile(`id="partition-count">\d+<`).MatchString(r.body) {
		t.Fatalf("no partition count:\n%s", r.body)
	}
	want(t, tb.get(t, "/static/style.css"), http.StatusOK, "@media")
	want(t, tb.get(t, "/no/such/page"), http.StatusNotFound, "no page at /no/such/page")
}

func TestTopicsCreateSearchDelete(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "orders", 3)
	tb.createTopic(t, "payments", 1)

	r := tb.get(t, "/topics?q=ORD")
	want(t, r, http.StatusOK, ">orders</a>", "1 of ")
	if strings.Contains(r.body, ">payments</a>") {
		t.Fatal("search for ORD lists payments")
	}
	want(t, tb.get(t, "/topics?q="+strings.Repeat("x", 300)), http.StatusBadRequest, "longer than 256")

	r = tb.get(t, "/topics/orders")
	want(t, r, http.StatusOK, `id="partitions"`, "cleanup.policy", "retention.ms")
	if n := strings.Count(r.body, `/topics/orders/messages?partition=`); n != 3 {
		t.Fatalf("%d partition rows, want 3", n)
	}

	// Validation: the console's own and Kafka's.
	want(t, tb.post(t, "/topics", url.Values{"name": {"bad"}, "partitions": {"abc"}}), http.StatusBadRequest, "partitions &#34;abc&#34; is not a positive number")
	want(t, tb.post(t, "/topics", url.Values{"name": {"bad"}, "replication": {"3"}}), http.StatusBadRequest, "INVALID_REPLICATION_FACTOR")
	want(t, tb.post(t, "/topics", url.Values{"name": {"bad name!"}}), http.StatusBadRequest, "INVALID_TOPIC_EXCEPTION")
	want(t, tb.post(t, "/topics", url.Values{"name": {"bad"}, "configs": {"retention.ms=forever"}}), http.StatusBadRequest, "INVALID_CONFIG")
	want(t, tb.post(t, "/topics", url.Values{"name": {"orders"}}), http.StatusConflict, "TOPIC_ALREADY_EXISTS")
	want(t, tb.get(t, "/topics/bad"), http.StatusNotFound, "does not exist")

	// Create with configs.
	r = tb.post(t, "/topics", url.Values{"name": {"compacted"}, "configs": {"cleanup.policy=compact\n# comment\n"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create with configs: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/topics/compacted"), http.StatusOK, "compact")

	// Delete needs the name typed again.
	want(t, tb.post(t, "/topics/orders/delete", url.Values{"confirm": {"order"}}), http.StatusBadRequest, "type the topic&#39;s name")
	want(t, tb.get(t, "/topics/orders"), http.StatusOK)
	r = tb.post(t, "/topics/orders/delete", url.Values{"confirm": {"orders"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/topics/orders"), http.StatusNotFound, "does not exist")
	want(t, tb.post(t, "/topics/orders/delete", url.Values{"confirm": {"orders"}}), http.StatusNotFound, "UNKNOWN_TOPIC_OR_PARTITION")
}

func TestConfigEdit(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "cfg", 1)
	r := tb.post(t, "/topics/cfg/config", url.Values{"name": {"retention.ms"}, "value": {"soon"}, "op": {"set"}})
	want(t, r, http.StatusBadRequest, "Config retention.ms not changed", "INVALID_CONFIG")
	want(t, tb.post(t, "/topics/cfg/config", url.Values{"name": {"no.such.config"}, "value": {"1"}, "op": {"set"}}), http.StatusBadRequest, "not changed")
	r = tb.post(t, "/topics/cfg/config", url.Values{"name": {"retention.ms"}, "value": {"123456"}, "op": {"set"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	row := regexp.MustCompile(`>retention\.ms</td><td class="wrap">([^<]*)</td><td>([^<]*)</td>`)
	m := row.FindStringSubmatch(tb.get(t, "/topics/cfg").body)
	if m == nil || m[1] != "123456" || m[2] != "topic" {
		t.Fatalf("retention.ms row after set: %q", m)
	}
	r = tb.post(t, "/topics/cfg/config", url.Values{"name": {"retention.ms"}, "op": {"reset"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	m = row.FindStringSubmatch(tb.get(t, "/topics/cfg").body)
	if m == nil || m[1] != "604800000" || m[2] == "topic" {
		t.Fatalf("retention.ms row after reset: %q", m)
	}
}

func TestMessagesProduceBrowseFilter(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "events", 2)
	produce := func(partition, key, value string) {
		t.Helper()
		r := tb.post(t, "/topics/events/produce", url.Values{"partition": {partition}, "key": {key}, "value": {value}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	produce("0", "k1", `{"id":1,"name":"first"}`)
	produce("0", "k2", "plain text two")
	produce("1", "", "on partition one")
	for i := range 30 {
		produce("0", fmt.Sprintf("bulk-%d", i), fmt.Sprintf("bulk value %d", i))
	}
	// Binary through a Kafka client.
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Partition: 1, Key: []byte("bin"), Value: []byte{0, 1, 2, 0xff, 0xfe}}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	big := make([]byte, 100000)
	for i := range big {
		big[i] = byte(i)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Partition: 1, Key: []byte("big"), Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want(t, tb.get(t, "/topics/events/messages?key=big"), http.StatusOK, "1 messages shown", "the first 2048 of 100000 bytes")
	zcl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer zcl.Close()
	if err := zcl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Partition: 1, Value: []byte(strings.Repeat("zstd-compressed ", 50))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want(t, tb.get(t, "/topics/events/messages?partition=1&value=zstd-compressed"), http.StatusOK, "1 messages shown", "zstd-compressed zstd-compressed")

	r := tb.get(t, "/topics/events/messages?partition=0&order=oldest&limit=2")
	want(t, r, http.StatusOK, "2 messages shown", "&#34;name&#34;: &#34;first&#34;", "plain text two", `id="next-page"`)
	if i, j := strings.Index(r.body, "first"), strings.Index(r.body, "plain text two"); i > j {
		t.Fatal("oldest first shows the second record first")
	}
	r = tb.get(t, "/topics/events/messages?partition=0&order=newest&limit=1")
	want(t, r, http.StatusOK, "bulk value 29", "offset 31")
	r = tb.get(t, "/topics/events/messages?partition=0&order=newest&offset=1&limit=5")
	want(t, r, http.StatusOK, "2 messages shown", "plain text two", "first")

	// Filters over every partition.
	r = tb.get(t, "/topics/events/messages?value=bulk+value+1")
	// bulk value 1, 10..19
	want(t, r, http.StatusOK, "11 messages shown")
	r = tb.get(t, "/topics/events/messages?key=bin")
	want(t, r, http.StatusOK, "1 messages shown", `<pre class="hex">`, "00 01 02 ff fe")
	r = tb.get(t, "/topics/events/messages?key=nothing-matches")
	want(t, r, http.StatusOK, "No messages.")

	// Bad input.
	want(t, tb.get(t, "/topics/events/messages?partition=0&offset=99"), http.StatusBadRequest, "offset 99 is past the end of partition 0")
	want(t, tb.get(t, "/topics/events/messages?partition=0&offset=-5"), http.StatusBadRequest, "not a non-negative number")
	want(t, tb.get(t, "/topics/events/messages?partition=7"), http.StatusBadRequest, "has no partition")
	want(t, tb.get(t, "/topics/events/messages?offset=3"), http.StatusBadRequest, "choose a partition")
	want(t, tb.get(t, "/topics/events/messages?value="+strings.Repeat("v", 1000)), http.StatusBadRequest, "longer than 256")
	want(t, tb.get(t, "/topics/events/messages?limit=100000"), http.StatusBadRequest, "limit")
	want(t, tb.get(t, "/topics/events/messages?order=sideways"), http.StatusBadRequest, "neither newest nor oldest")
	want(t, tb.post(t, "/topics/events/produce", url.Values{"partition": {"9"}, "value": {"x"}}), http.StatusBadRequest, "Not produced", "has no partition")
	want(t, tb.post(t, "/topics/events/produce", url.Values{"value": {strings.Repeat("x", 3<<20)}}), http.StatusBadRequest, "malformed form")

	// Deleted while browsed.
	if r := tb.post(t, "/topics/events/delete", url.Values{"confirm": {"events"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	want(t, tb.get(t, "/topics/events/messages?partition=0"), http.StatusNotFound, "does not exist")
	want(t, tb.post(t, "/topics/events/produce", url.Values{"value": {"x"}}), http.StatusNotFound, "does not exist")
}

func TestGroupsLagResetDelete(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "jobs", 2)
	for i := range 10 {
		r := tb.post(t, "/topics/jobs/produce", url.Values{"partition": {fmt.Sprint(i % 2)}, "value": {fmt.Sprintf("job %d", i)}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 6 {
		fs := cl.PollRecords(ctx, 6-got)
		if err := ctx.Err(); err != nil {
			t.Fatalf("polling: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			// Commit offsets of a known total: 6 records consumed of 10.
			if err := cl.CommitRecords(ctx, r); err != nil {
				t.Errorf("commit: %v", err)
			}
		})
	}
	r := tb.get(t, "/groups")
	want(t, r, http.StatusOK, ">workers</a>", "Stable")
	r = tb.get(t, "/groups/workers")
	want(t, r, http.StatusOK, `id="group-state">Stable<`, `id="total-lag">4<`, "jobs: [0 1]")
	// A group with members cannot be reset.
	want(t, tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"earliest"}, "confirm": {"yes"}}), http.StatusBadRequest, "only while it has no members")
	want(t, tb.post(t, "/groups/workers/delete", url.Values{"confirm": {"workers"}}), http.StatusConflict, "NON_EMPTY_GROUP")
	cl.Close() // leaves the group

	want(t, tb.get(t, "/groups/workers"), http.StatusOK, `id="group-state">Empty<`, `id="total-lag">4<`)
	want(t, tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"earliest"}}), http.StatusBadRequest, "tick the confirmation box")
	want(t, tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"offset"}, "offset": {"99"}, "confirm": {"yes"}}), http.StatusBadRequest, "outside partition")
	want(t, tb.post(t, "/groups/workers/reset", url.Values{"topic": {"nope"}, "to": {"latest"}, "confirm": {"yes"}}), http.StatusNotFound, "does not exist")
	if r := tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"earliest"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/workers"), http.StatusOK, `id="total-lag">10<`)
	if r := tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"latest"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/workers"), http.StatusOK, `id="total-lag">0<`)
	if r := tb.post(t, "/groups/workers/reset", url.Values{"topic": {"jobs"}, "to": {"offset"}, "offset": {"2"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/workers"), http.StatusOK, `id="total-lag">6<`)

	if r := tb.post(t, "/groups/workers/delete", url.Values{"confirm": {"workers"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete group: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/workers"), http.StatusNotFound, "does not exist")
}

func TestCrossOriginPostRefused(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, tb.base+"/topics", strings.NewReader("name=csrf"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		want(t, tb.do(t, req), http.StatusForbidden, "cross-origin request refused")
	}
	want(t, tb.get(t, "/topics/csrf"), http.StatusNotFound)
	// Same-origin browser posts pass.
	req, _ := http.NewRequest(http.MethodPost, tb.base+"/topics", strings.NewReader("name=same"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := tb.do(t, req); r.status != http.StatusSeeOther {
		t.Fatalf("same-origin post: %d %s", r.status, r.body)
	}
}

// denyTopic lets everything but Describe (and so everything) on one topic.
type denyTopic struct{ name string }

func (d denyTopic) Authorize(_ auth.Subject, _ auth.Operation, res auth.Resource) bool {
	return res != auth.Topic(d.name)
}

func TestACLsHideTopics(t *testing.T) {
	tb := startBroker(t, broker.Config{Authorizer: denyTopic{"secret"}})
	tb.createTopic(t, "public", 1)
	// Create on the cluster lets the user create "secret", which it may
	// not Describe after.
	tb.createTopic(t, "secret", 1)
	r := tb.get(t, "/topics")
	want(t, r, http.StatusOK, ">public</a>")
	if strings.Contains(r.body, ">secret</a>") {
		t.Fatal("an undescribable topic is listed")
	}
	want(t, tb.get(t, "/topics/secret"), http.StatusForbidden, "TOPIC_AUTHORIZATION_FAILED")
	want(t, tb.get(t, "/topics/secret/messages"), http.StatusForbidden)
}

// With a SASL listener the console needs credentials (the broker's HTTP
// authentication) and shows each user what its ACLs let it Describe.
func TestSASLUsersAndACLs(t *testing.T) {
	tb := startBroker(t, broker.Config{Listeners: []broker.Listener{
		{Name: "PLAINTEXT", Protocol: broker.ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	}, Kafka: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512", "super.users": "User:ANONYMOUS;User:admin"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.ListenerAddr("PLAINTEXT").String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "admin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "admin-secret"},
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-secret"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testBroker{tb, tb.as("alice", "wrong"), tb.as("mallory", "x")} {
		want(t, c.get(t, "/"), http.StatusUnauthorized)
		want(t, c.get(t, "/topics"), http.StatusUnauthorized)
	}
	admin, alice := tb.as("admin", "admin-secret"), tb.as("alice", "alice-secret")
	admin.createTopic(t, "visible", 1)
	admin.createTopic(t, "hidden", 1)
	want(t, admin.get(t, "/topics"), http.StatusOK, ">visible</a>", ">hidden</a>")

	r := alice.get(t, "/topics")
	want(t, r, http.StatusOK, "0 of 0 topics")
	want(t, alice.post(t, "/topics", url.Values{"name": {"mine"}}), http.StatusForbidden, "AUTHORIZATION_FAILED")
	if rs, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("visible").Operations(kadm.OpDescribe)); err != nil || rs[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, rs)
	}
	r = alice.get(t, "/topics")
	want(t, r, http.StatusOK, ">visible</a>", "1 of 1 topics")
	if strings.Contains(r.body, "hidden") {
		t.Fatal("alice sees the topic she may not Describe")
	}
	want(t, alice.get(t, "/topics?q=hid"), http.StatusOK, "0 of 1 topics")
	want(t, alice.get(t, "/topics/hidden"), http.StatusForbidden, "TOPIC_AUTHORIZATION_FAILED")
	want(t, alice.get(t, "/topics/visible"), http.StatusOK, `id="partitions"`)
	// Describe is not Write.
	want(t, alice.post(t, "/topics/visible/produce", url.Values{"value": {"x"}}), http.StatusForbidden, "TOPIC_AUTHORIZATION_FAILED")
	// Without Describe on the cluster: no disk use.
	want(t, alice.get(t, "/"), http.StatusOK, "needs Describe on the cluster")
}

// Before Serve the console answers 503 with the reason, not a page built
// from a half-started broker.
func TestNotReadyBeforeServe(t *testing.T) {
	b, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tb := &testBroker{Broker: b, base: "http://" + b.HTTPAddr().String()}
	req, _ := http.NewRequest(http.MethodGet, tb.base+"/", nil)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "not ready") {
		t.Fatalf("before Serve: %d %s", resp.StatusCode, body)
	}
}

// Group names are any string: the console's links and forms escape them.
func TestGroupNameEscaping(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "t", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const name = "team a/b?<x>&%"
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "t", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), name, os); err != nil {
		t.Fatal(err)
	}
	r := tb.get(t, "/groups")
	link := "/groups/" + url.PathEscape(name)
	want(t, r, http.StatusOK, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`)
	want(t, tb.get(t, link), http.StatusOK, `id="group-state">Empty<`, "team a/b?&lt;x&gt;&amp;%")
	if r := tb.post(t, link+"/delete", url.Values{"confirm": {name}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, link), http.StatusNotFound)
}

// Looking at a topic that does not exist does not create it, though
// auto.create.topics.enable is on (Kafka's default).
func TestViewingDoesNotAutoCreate(t *testing.T) {
	tb := startBroker(t, broker.Config{Kafka: map[string]string{"auto.create.topics.enable": "true"}})
	want(t, tb.get(t, "/topics/ghost"), http.StatusNotFound, "does not exist")
	want(t, tb.get(t, "/topics/ghost/messages"), http.StatusNotFound, "does not exist")
	if r := tb.get(t, "/topics"); strings.Contains(r.body, ">ghost</a>") {
		t.Fatal("viewing /topics/ghost created it")
	}
}

// A KIP-848 consumer group (the broker assigns): described with
// ConsumerGroupDescribe, lag, reset while empty.
func TestKIP848Group(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "jobs848", 1)
	for i := range 4 {
		if r := tb.post(t, "/topics/jobs848/produce", url.Values{"partition": {"0"}, "value": {fmt.Sprint("job ", i)}}); r.status != http.StatusSeeOther {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.ConsumerGroup("next-gen"), kgo.ConsumeTopics("jobs848"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 1; {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("polling: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if err := cl.CommitRecords(ctx, r); err != nil {
				t.Errorf("commit: %v", err)
			}
		})
	}
	r := tb.get(t, "/groups/next-gen")
	want(t, r, http.StatusOK, "consumer (KIP-848)", `id="group-state">Stable<`, `id="total-lag">3<`, "jobs848: [0]", "group epoch", "member epoch", "subscribed: jobs848")
	cl.Close()
	want(t, tb.get(t, "/groups/next-gen"), http.StatusOK, `id="group-state">Empty<`)
	if r := tb.post(t, "/groups/next-gen/reset", url.Values{"topic": {"jobs848"}, "to": {"latest"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/next-gen"), http.StatusOK, `id="total-lag">0<`)
}

// Every form answers a malformed body with a 400 and a message.
func TestMalformedForms(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "t", 1)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "t", Partition: 0, At: 0, LeaderEpoch: -1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "g", os); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/topics", "/topics/t/delete", "/topics/t/config", "/topics/t/produce", "/groups/g/reset", "/groups/g/delete"} {
		req, _ := http.NewRequest(http.MethodPost, tb.base+path, strings.NewReader("name=%zz&confirm=t"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		want(t, tb.do(t, req), http.StatusBadRequest, "malformed form")
	}
	want(t, tb.get(t, "/topics/t"), http.StatusOK) // nothing deleted
}

// A filter that matches nothing stops at the scan budget and says where,
// with a link to go on.
func TestBrowseScanBudget(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "many", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.DefaultProduceTopic("many"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 25000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = kgo.StringRecord(fmt.Sprint("record ", i))
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := tb.get(t, "/topics/many/messages?value=absent")
	want(t, r, http.StatusOK, "No messages.", "20000 records read", "partition 0: read 20000 records without finding 50 matches; stopped before offset 4999", `id="next-page"`)
	r = tb.get(t, "/topics/many/messages?partition=0&order=newest&offset=4999&value=absent")
	want(t, r, http.StatusOK, "No messages.", "5000 records read")
	if strings.Contains(r.body, `id="next-page"`) {
		t.Fatal("a More link after the log start")
	}
	r = tb.get(t, "/topics/many/messages?partition=0&order=oldest&value=record+2499")
	// 2499 and, past the budget, 24990..24999.
	want(t, r, http.StatusOK, "record 2499", "1 messages shown", "stopped before offset 20000")
	r = tb.get(t, "/topics/many/messages?partition=0&order=oldest&offset=20000&value=record+2499")
	want(t, r, http.StatusOK, "record 24999", "10 messages shown")
}

// With NoConsole the listener serves metrics but no console.
func TestNoConsole(t *testing.T) {
	tb := startBroker(t, broker.Config{NoConsole: true})
	want(t, tb.get(t, "/"), http.StatusNotFound)
	want(t, tb.get(t, "/topics"), http.StatusNotFound)
	want(t, tb.get(t, "/metrics"), http.StatusOK, "sluice_")
}
