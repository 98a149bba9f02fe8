package broker

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// httpGet fetches url (with basic credentials when user is set) and
// returns the status and body.
func httpGet(t testing.TB, url, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape is a parsed /metrics page.
type scrape map[string]*dto.MetricFamily

func parseScrape(t testing.TB, text string) scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, text)
	}
	return mfs
}

func getScrape(t testing.TB, tb *testBroker, user, pass string) (scrape, string) {
	t.Helper()
	st, body := httpGet(t, "http://"+tb.HTTPAddr().String()+"/metrics", user, pass)
	if st != 200 {
		t.Fatalf("/metrics: %d %s", st, body)
	}
	return parseScrape(t, body), body
}

// value is the value of the series of name with exactly the given labels
// (pairs of name, value); ok is false when there is none.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func (s scrape) want(t testing.TB, name string, want float64, labels ...string) {
	t.Helper()
	got, ok := s.value(name, labels...)
	if !ok {
		t.Errorf("%s%v: no series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// hasLabel reports whether any series of any family has label name=value.
func (s scrape) hasLabel(name, value string) bool {
	for _, mf := range s {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == name && lp.GetValue() == value {
					return true
				}
			}
		}
	}
	return false
}

func rawFetch(t testing.TB, tb *testBroker, cl *kgo.Client, topic string, partition int32, offset int64) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.SessionEpoch = 10<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, tb.topic(topic).meta.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, 10<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.FetchResponse](t, cl, req)
}

// Produce and fetch known amounts: the partition and topic counters, the
// per-API request counts and histograms and the error counts read back
// exactly.
func TestMetricsCountsExactly(t *testing.T) {
	tb := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "m", 2, nil)
	const batches, perBatch = 7, 3
	for i := range batches {
		var recs []rawRecord
		for j := range perBatch {
			recs = append(recs, rawRecord{key: []byte("k"), value: bytes.Repeat([]byte{'v'}, 10*(i+j+1))})
		}
		if r := produceRaw(t, tb, cl, "m", 0, buildBatch(-1, -1, -1, 1_700_000_000_000, recs...)); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	// A produce to a partition that does not exist is an error.
	if r := produceRaw(t, tb, cl, "m", 9, buildBatch(-1, -1, -1, 0, rawRecord{value: []byte("x")})); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to partition 9: %d", r.ErrorCode)
	}
	// Fetch everything from offset 0, then from the middle (offset 10 is
	// inside the fourth batch, which is served whole), then at the end.
	size := tb.partition("m", 0).log.Size()
	if f := rawFetch(t, tb, cl, "m", 0, 0); len(f.Topics[0].Partitions[0].RecordBatches) != int(size) {
		t.Fatalf("fetch from 0 served %d bytes, log has %d", len(f.Topics[0].Partitions[0].RecordBatches), size)
	}
	mid := rawFetch(t, tb, cl, "m", 0, 10)
	midBytes := len(mid.Topics[0].Partitions[0].RecordBatches)
	rawFetch(t, tb, cl, "m", 0, batches*perBatch)

	// A request is recorded once its response is written (as Kafka
	// updates its request metrics on send completion): the client can
	// read the last response a moment before its request is counted.
	var s scrape
	eventually(t, "every request recorded", func() bool {
		s, _ = getScrape(t, tb, "", "")
		f, _ := s.value("sluice_requests_total", "request", "Fetch")
		p, _ := s.value("sluice_requests_total", "request", "Produce")
		return f >= 3 && p >= batches+1
	})
	tp := []string{"topic", "m", "partition", "0"}
	s.want(t, "sluice_partition_records_in_total", batches*perBatch, tp...)
	s.want(t, "sluice_partition_bytes_in_total", float64(size), tp...)
	s.want(t, "sluice_partition_log_size_bytes", float64(size), tp...)
	s.want(t, "sluice_partition_records_out_total", batches*perBatch+(batches*perBatch-10), tp...)
	s.want(t, "sluice_partition_bytes_out_total", float64(int(size)+midBytes), tp...)
	s.want(t, "sluice_partition_high_watermark", batches*perBatch, tp...)
	s.want(t, "sluice_partition_log_start_offset", 0, tp...)
	s.want(t, "sluice_partition_log_segments", 1, tp...)
	s.want(t, "sluice_partition_records_in_total", 0, "topic", "m", "partition", "1")
	s.want(t, "sluice_topic_records_in_total", batches*perBatch, "topic", "m")
	s.want(t, "sluice_topic_partitions", 2, "topic", "m")
	s.want(t, "sluice_requests_total", batches+1, "request", "Produce")
	s.want(t, "sluice_requests_total", 3, "request", "Fetch")
	for _, h := range []string{"sluice_request_queue_time_seconds", "sluice_request_local_time_seconds", "sluice_request_remote_time_seconds",
		"sluice_response_send_time_seconds", "sluice_request_total_time_seconds"} {
		s.want(t, h, batches+1, "request", "Produce")
	}
	s.want(t, "sluice_request_errors_total", 1, "request", "Produce", "error", "UNKNOWN_TOPIC_OR_PARTITION")
	if _, ok := s.value("sluice_request_errors_total", "request", "Fetch", "error", "UNKNOWN_TOPIC_OR_PARTITION"); ok {
		t.Error("an error counted for Fetch, which had none")
	}
	acc, _ := s.value("sluice_connections_accepted_total", "listener", "PLAINTEXT")
	closed, _ := s.value("sluice_connections_closed_total", "listener", "PLAINTEXT")
	if acc < 1 {
		t.Errorf("connections accepted: %v", acc)
	}
	s.want(t, "sluice_connections_active", acc-closed, "listener", "PLAINTEXT")
	s.want(t, "sluice_fetch_long_polls_waiting", 0)
	s.want(t, "sluice_metrics_partition_series_dropped", 0)
	if s["go_goroutines"] == nil || s["process_cpu_seconds_total"] == nil {
		t.Error("the Go runtime and process collectors are missing")
	}
}

// The lag of a group with a known backlog, in offsets and in seconds
// against the broker's clock; a caught-up group has none.
func TestMetricsGroupLag(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000)
	var nowMs atomic.Int64
	nowMs.Store(base.Add(20 * time.Second).UnixMilli())
	tb := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", Now: func() time.Time { return time.UnixMilli(nowMs.Load()) }})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lag", 1, nil)
	// Ten records at base+0s, base+1s, ..., base+9s: two batches of five.
	for b := range 2 {
		var recs []rawRecord
		for i := range 5 {
			recs = append(recs, rawRecord{value: []byte("v"), tsDelta: int64(i) * 1000})
		}
		if r := produceRaw(t, tb, cl, "lag", 0, buildBatch(-1, -1, -1, base.UnixMilli()+int64(b)*5000, recs...)); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	adm := kadm.NewClient(cl)
	commit := func(group string, off int64) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "lag", Partition: 0, At: off, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(context.Background(), group, offs); err != nil {
			t.Fatalf("commit %s: %v", group, err)
		}
	}
	commit("behind", 7) // inside the second batch: next record at base+7s
	commit("caught-up", 10)
	commit("early", 0)

	s, _ := getScrape(t, tb, "", "")
	gtp := func(g string) []string { return []string{"group", g, "topic", "lag", "partition", "0"} }
	s.want(t, "sluice_consumer_group_lag", 3, gtp("behind")...)
	s.want(t, "sluice_consumer_group_lag_seconds", 13, gtp("behind")...)
	s.want(t, "sluice_consumer_group_committed_offset", 7, gtp("behind")...)
	s.want(t, "sluice_consumer_group_lag", 0, gtp("caught-up")...)
	s.want(t, "sluice_consumer_group_lag_seconds", 0, gtp("caught-up")...)
	s.want(t, "sluice_consumer_group_lag", 10, gtp("early")...)
	s.want(t, "sluice_consumer_group_lag_seconds", 20, gtp("early")...)
	s.want(t, "sluice_consumer_group_topic_lag", 3, "group", "behind", "topic", "lag")
	s.want(t, "sluice_consumer_group_topic_max_lag_seconds", 13, "group", "behind", "topic", "lag")
	s.want(t, "sluice_consumer_group_members", 0, "group", "behind")
	s.want(t, "sluice_consumer_group_state", 1, "group", "behind", "type", "classic", "state", "Empty")
	s.want(t, "sluice_consumer_groups", 3, "state", "Empty")

	// The clock moves on: the time lag grows with it, the offsets do not.
	nowMs.Add(5000)
	s, _ = getScrape(t, tb, "", "")
	s.want(t, "sluice_consumer_group_lag_seconds", 18, gtp("behind")...)
	s.want(t, "sluice_consumer_group_lag", 3, gtp("behind")...)
}

// With more partitions than metrics.partition.series.max the
// per-partition series go and the per-topic ones stay.
func TestMetricsPartitionBudget(t *testing.T) {
	tb := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", MetricsPartitionSeriesMax: 3})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "few", 1, nil)
	s, _ := getScrape(t, tb, "", "")
	// __consumer_offsets has 50 partitions by default: already over.
	s.want(t, "sluice_metrics_partition_series_dropped", 1)
	if s["sluice_partition_high_watermark"] != nil {
		t.Error("per-partition series above the budget")
	}
	s.want(t, "sluice_topic_partitions", 1, "topic", "few")

	tb2 := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", MetricsPartitionSeriesMax: 1000,
		Kafka: map[string]string{"offsets.topic.num.partitions": "1"}})
	s, _ = getScrape(t, tb2, "", "")
	s.want(t, "sluice_metrics_partition_series_dropped", 0)
	s.want(t, "sluice_partition_high_watermark", 0, "topic", "__consumer_offsets", "partition", "0")
}

// /readyz is 503 with the reason until Serve accepts, /healthz 200 all
// along; /debug/pprof/ is 404 without PProf and served with it.
func TestHTTPReadyzAndPprof(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + b.HTTPAddr().String()
	if st, body := httpGet(t, url+"/readyz", "", ""); st != 503 || !strings.Contains(body, notReadyListeners) {
		t.Fatalf("/readyz before Serve: %d %q", st, body)
	}
	if st, body := httpGet(t, url+"/healthz", "", ""); st != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", st, body)
	}
	if st, _ := httpGet(t, url+"/debug/pprof/", "", ""); st != 404 {
		t.Fatalf("pprof without PProf: %d", st)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(context.Background()) }()
	// A Kafka request answered means the accept loops run, which start
	// after the broker turns ready.
	cl := newClient(t, b.Addr().String())
	if _, err := cl.Request(ctxT(t), kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	if st, body := httpGet(t, url+"/readyz", "", ""); st != 200 || body != "ready\n" {
		t.Fatalf("/readyz after Serve: %d %q", st, body)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("the HTTP listener still answers after Close")
	}

	tb := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", PProf: true})
	if st, body := httpGet(t, "http://"+tb.HTTPAddr().String()+"/debug/pprof/", "", ""); st != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof with PProf: %d %.200s", st, body)
	}
	if st, _ := httpGet(t, "http://"+tb.HTTPAddr().String()+"/debug/pprof/goroutine?debug=1", "", ""); st != 200 {
		t.Fatalf("pprof goroutine: %d", st)
	}
}

// With SASL on, /metrics refuses anonymous and bad credentials (401, an
// authentication failure counted), accepts a SCRAM user's, and shows a
// user only the topics and groups it may Describe.
func TestMetricsBasicAuthAndACLs(t *testing.T) {
	cfg := Config{Listeners: []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	}, Kafka: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512", "super.users": "User:ANONYMOUS;User:admin"},
		HTTPListen: "127.0.0.1:0", PProf: true}
	tb, _ := startSecure(t, cfg)
	admin := secClient(t, listenerAddr(tb, "PLAINTEXT"))
	addUser(t, admin, "alice", "alice-secret", kadm.ScramSha256)
	addUser(t, admin, "admin", "admin-secret", kadm.ScramSha512)
	createTopic(t, admin, "visible", 1, nil)
	createTopic(t, admin, "hidden", 1, nil)
	adm := kadm.NewClient(admin)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "visible", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(context.Background(), "hidden-group", offs); err != nil {
		t.Fatal(err)
	}
	url := "http://" + tb.HTTPAddr().String()
	for name, c := range map[string]struct{ user, pass string }{
		"no credentials": {"", ""}, "wrong password": {"alice", "nope"}, "unknown user": {"mallory", "x"},
	} {
		if st, body := httpGet(t, url+"/metrics", c.user, c.pass); st != 401 {
			t.Errorf("%s: %d %s", name, st, body)
		}
		if st, _ := httpGet(t, url+"/debug/pprof/", c.user, c.pass); st != 401 {
			t.Errorf("pprof %s: %d", name, st)
		}
	}
	// Probes stay open.
	if st, _ := httpGet(t, url+"/healthz", "", ""); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
	s, _ := getScrape(t, tb, "admin", "admin-secret")
	if !s.hasLabel("topic", "hidden") || !s.hasLabel("topic", "visible") || !s.hasLabel("group", "hidden-group") {
		t.Fatal("the super user does not see every topic and group")
	}
	s.want(t, "sluice_authentication_failures_total", 6, "listener", "http")
	// alice has no ACLs: no topic, group or quota series at all.
	s, _ = getScrape(t, tb, "alice", "alice-secret")
	if s.hasLabel("topic", "hidden") || s.hasLabel("topic", "visible") || s.hasLabel("group", "hidden-group") {
		t.Fatal("alice sees topics or groups without Describe")
	}
	if s["sluice_requests_total"] == nil {
		t.Fatal("alice does not see the broker-wide series")
	}
	if st, _ := httpGet(t, url+"/debug/pprof/", "alice", "alice-secret"); st != 403 {
		t.Errorf("pprof for alice without Describe on the cluster: %d", st)
	}
	if res, err := adm.CreateACLs(context.Background(), kadm.NewACLs().Allow("User:alice").Topics("visible").Operations(kadm.OpDescribe)); err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	s, _ = getScrape(t, tb, "alice", "alice-secret")
	if !s.hasLabel("topic", "visible") || s.hasLabel("topic", "hidden") || s.hasLabel("group", "hidden-group") {
		t.Fatal("alice with Describe on visible: wrong topics or groups")
	}
	s.want(t, "sluice_partition_high_watermark", 0, "topic", "visible", "partition", "0")
}

// promtool (Debian's prometheus package) finds nothing to complain about
// in a scrape with every kind of series present.
func TestMetricsPromtoolLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing (apt-get install prometheus; scripts/test.sh installs it)")
		}
		t.Skip("promtool is not installed")
	}
	tb := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", Kafka: map[string]string{"offsets.topic.num.partitions": "1"}})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lint", 1, nil)
	if r := produceRaw(t, tb, cl, "lint", 0, buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("v")})); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	produceRaw(t, tb, cl, "lint", 7, buildBatch(-1, -1, -1, 0, rawRecord{value: []byte("v")})) // an error series
	rawFetch(t, tb, cl, "lint", 0, 0)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lint", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(context.Background(), "g", offs); err != nil {
		t.Fatal(err)
	}
	_, body := getScrape(t, tb, "", "")
	for _, want := range []string{"sluice_consumer_group_lag_seconds", "sluice_request_errors_total", "sluice_partition_bytes_in_total", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the scrape lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// With a TLS listener the HTTP listener speaks HTTPS with the same
// certificate, and a client certificate is the scrape's principal.
func TestHTTPTLSClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	cert, key, _ := pki.issue(t, "server", pkix.Name{CommonName: "broker"}, true)
	authz := &recordingAuthz{}
	cfg := Config{Listeners: []Listener{{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"}},
		TLSCertFile: cert, TLSKeyFile: key, TLSClientCAFile: pki.caFile, Authorizer: authz,
		Kafka: map[string]string{"ssl.client.auth": "required"}, HTTPListen: "127.0.0.1:0"}
	tb, _ := startSecure(t, cfg)
	url := "https://" + tb.HTTPAddr().String() + "/metrics"
	noCert := pki.clientTLS()
	noCert.Certificates = nil
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: noCert}}).Get(url); err == nil {
		t.Fatal("request without a client certificate succeeded")
	}
	if resp, err := http.Get("http://" + tb.HTTPAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on a TLS listener")
		}
	}
	_, _, pair := pki.issue(t, "client", pkix.Name{CommonName: "carol"}, false)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.clientTLS(pair)}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `topic="__consumer_offsets"`) {
		t.Fatalf("scrape over mTLS: %d %.300s", resp.StatusCode, body)
	}
	if !authz.saw("User:CN=carol") {
		t.Fatalf("principal from the certificate not seen; saw %v", authz.seen)
	}
}

// Retention's deletions, quota throttling and transaction states show in
// the metrics.
func TestMetricsRetentionThrottleTransactions(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now, HTTPListen: "127.0.0.1:0"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ret", 1, map[string]*string{"retention.ms": strp("60000"), "segment.ms": strp("1000"), "file.delete.delay.ms": strp("0")})
	for range 3 {
		produceN(t, cl, "ret", 5, func(r *kgo.Record) { r.Partition = 0; r.Timestamp = clk.Now() })
		clk.Advance(2 * time.Second) // the next append rolls
	}
	size := tb.partition("ret", 0).log.Size()
	clk.Advance(time.Hour)
	tb.runRetention(clk.Now())
	if tb.partition("ret", 0).log.Size() != 0 {
		t.Fatal("retention deleted nothing")
	}
	s, _ := getScrape(t, tb, "", "")
	s.want(t, "sluice_log_retention_segments_deleted_total", 3)
	s.want(t, "sluice_log_retention_deleted_bytes_total", float64(size))
	s.want(t, "sluice_partition_log_start_offset", 15, "topic", "ret", "partition", "0")

	tb2 := startBrokerWith(t, Config{HTTPListen: "127.0.0.1:0", Kafka: map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"}})
	cl2 := newClient(t, tb2.addr)
	createTopic(t, cl2, "q", 1, nil)
	alterQuotas(t, kadm.NewClient(cl2), kadm.AlterClientQuotaEntry{Entity: qent("client-id", "slow"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 100<<10)}})
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "q"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: make([]byte, 150<<10)})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRoundTrip(t, rawConn(t, tb2.addr), "slow", 1, req).(*kmsg.ProduceResponse)
	if resp.ThrottleMillis <= 0 {
		t.Fatalf("not throttled: %+v", resp)
	}
	s, _ = getScrape(t, tb2, "", "")
	got, ok := s.value("sluice_quota_throttle_time_seconds_total", "quota_type", "produce", "user", "ANONYMOUS", "client_id", "slow")
	if want := float64(resp.ThrottleMillis) / 1000; !ok || got < want || got >= want+0.001 {
		t.Fatalf("throttle time %v (series %v), want the response's %v s", got, ok, want)
	}

	txc := newClient(t, tb2.addr, kgo.TransactionalID("tx-metrics"), kgo.DefaultProduceTopic("q"))
	if err := txc.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txc.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s, _ = getScrape(t, tb2, "", "")
	s.want(t, "sluice_transactions", 1, "state", "Ongoing")
	if err := txc.EndTransaction(ctxT(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	s, _ = getScrape(t, tb2, "", "")
	if _, ok := s.value("sluice_transactions", "state", "Ongoing"); ok {
		t.Error("a transaction still ongoing after its commit")
	}
	s.want(t, "sluice_transactions", 1, "state", "CompleteCommit")

	// A group whose next offset is the commit marker: its time lag is that
	// of the first data record after the marker.
	hw := tb2.partition("q", 0).log.HighWatermark() // after the marker
	hourAgo := time.Now().Add(-time.Hour)
	if err := cl2.ProduceSync(ctxT(t), &kgo.Record{Topic: "q", Value: []byte("late"), Timestamp: hourAgo}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "q", Partition: 0, At: hw - 1, LeaderEpoch: -1})
	if err := kadm.NewClient(cl2).CommitAllOffsets(ctxT(t), "after-marker", offs); err != nil {
		t.Fatal(err)
	}
	s, _ = getScrape(t, tb2, "", "")
	s.want(t, "sluice_consumer_group_lag", 2, "group", "after-marker", "topic", "q", "partition", "0")
	if v, _ := s.value("sluice_consumer_group_lag_seconds", "group", "after-marker", "topic", "q", "partition", "0"); v < 3600 || v > 3600+300 {
		t.Errorf("time lag past a marker: %v s, want about an hour", v)
	}
}
