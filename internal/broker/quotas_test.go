package broker

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func qent(kv ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(kv); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: kv[i]}
		if kv[i+1] != "<default>" {
			c.Name = kmsg.StringPtr(kv[i+1])
		}
		e = append(e, c)
	}
	return e
}

func setQuota(key string, v float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: v}
}

func alterQuotas(t *testing.T, adm *kadm.Client, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctxT(t), entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %s: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

func describeQuotas(t *testing.T, adm *kadm.Client, strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
	t.Helper()
	qs, err := adm.DescribeClientQuotas(ctxT(t), strict, comps)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		s := q.Entity.String()
		for _, v := range q.Values {
			s += " " + v.String()
		}
		out = append(out, s)
	}
	return out
}

func TestClientQuotasAlterDescribe(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	adm := kadm.NewClient(newClient(t, tb.addr))
	alterQuotas(t, adm,
		kadm.AlterClientQuotaEntry{Entity: qent("user", "alice", "client-id", "app"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1024)}},
		kadm.AlterClientQuotaEntry{Entity: qent("user", "alice"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", 2048), setQuota("request_percentage", 50)}},
		kadm.AlterClientQuotaEntry{Entity: qent("user", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 4096)}},
		kadm.AlterClientQuotaEntry{Entity: qent("client-id", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("controller_mutation_rate", 3)}},
	)
	any := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: 2}
	}
	exact := func(typ, name string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: &name}
	}
	dflt := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: 1}
	}
	for _, c := range []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   string
	}{
		{"all", false, nil, "{client-id=<default>} controller_mutation_rate=3.000000|{user=<default>} producer_byte_rate=4096.000000|{user=alice} consumer_byte_rate=2048.000000 request_percentage=50.000000|{user=alice, client-id=app} producer_byte_rate=1024.000000"},
		{"strict none", true, nil, ""},
		{"any user", false, []kadm.DescribeClientQuotaComponent{any("user")}, "{user=<default>} producer_byte_rate=4096.000000|{user=alice} consumer_byte_rate=2048.000000 request_percentage=50.000000|{user=alice, client-id=app} producer_byte_rate=1024.000000"},
		{"any user strict", true, []kadm.DescribeClientQuotaComponent{any("user")}, "{user=<default>} producer_byte_rate=4096.000000|{user=alice} consumer_byte_rate=2048.000000 request_percentage=50.000000"},
		{"exact alice", false, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, "{user=alice} consumer_byte_rate=2048.000000 request_percentage=50.000000|{user=alice, client-id=app} producer_byte_rate=1024.000000"},
		{"exact alice and client", true, []kadm.DescribeClientQuotaComponent{exact("user", "alice"), any("client-id")}, "{user=alice, client-id=app} producer_byte_rate=1024.000000"},
		{"default user", false, []kadm.DescribeClientQuotaComponent{dflt("user")}, "{user=<default>} producer_byte_rate=4096.000000"},
		{"default client", true, []kadm.DescribeClientQuotaComponent{dflt("client-id")}, "{client-id=<default>} controller_mutation_rate=3.000000"},
		{"nobody", false, []kadm.DescribeClientQuotaComponent{exact("user", "bob")}, ""},
		{"ip", false, []kadm.DescribeClientQuotaComponent{any("ip")}, ""},
	} {
		if got := strings.Join(describeQuotas(t, adm, c.strict, c.comps...), "|"); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}

	// validate_only changes nothing.
	res, err := adm.ValidateAlterClientQuotas(ctxT(t), []kadm.AlterClientQuotaEntry{{Entity: qent("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("validate only: %v %+v", err, res)
	}
	if got := describeQuotas(t, adm, false, exact("user", "bob")); len(got) != 0 {
		t.Fatalf("validate_only changed quotas: %v", got)
	}

	// Per-entry validation: the valid entry is applied, the others fail.
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: qent("user", "carol"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 100)}},
		{Entity: qent("user", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("bogus", 1)}},
		{Entity: qent("user", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1.5)}},
		{Entity: qent("user", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 0)}},
		{Entity: qent("user", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", -1)}},
		{Entity: qent("user", ""), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
		{Entity: qent("group", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
		{Entity: qent("user", "x", "user", "y"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
		{Entity: qent("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 1)}},
		{Entity: nil, Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
		{Entity: qent("user", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1), setQuota("producer_byte_rate", 2)}},
	}
	res, err = adm.AlterClientQuotas(ctxT(t), bad)
	if err != nil || len(res) != len(bad) {
		t.Fatalf("alter: %v %v", err, res)
	}
	if res[0].Err != nil {
		t.Errorf("valid entry failed: %v", res[0].Err)
	}
	for i, r := range res[1:] {
		if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage == "" {
			t.Errorf("bad entry %d (%s): %v %q", i+1, r.Entity, r.Err, r.ErrMessage)
		}
	}
	if got := describeQuotas(t, adm, false, exact("user", "x")); len(got) != 0 {
		t.Fatalf("invalid entries changed quotas: %v", got)
	}

	// Describe filter errors.
	for _, comps := range [][]kadm.DescribeClientQuotaComponent{
		{{Type: "user", MatchType: 0}},
		{{Type: "user", MatchType: 1, MatchName: kmsg.StringPtr("a")}},
		{any("user"), exact("user", "a")},
		{any("ip"), any("user")},
		{{Type: "", MatchType: 2}},
	} {
		if _, err := adm.DescribeClientQuotas(ctxT(t), false, comps); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("filter %+v: %v", comps, err)
		}
	}
	if _, err := adm.DescribeClientQuotas(ctxT(t), false, []kadm.DescribeClientQuotaComponent{any("group")}); !errors.Is(err, kerr.UnsupportedVersion) {
		t.Errorf("unknown entity type: %v", err)
	}

	// Removing, and persistence across a restart.
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: qent("user", "alice"), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Remove: true}, {Key: "not_set", Remove: true}}})
	tb.stop(t)
	tb = startBroker(t, dir, nil)
	adm = kadm.NewClient(newClient(t, tb.addr))
	if got := strings.Join(describeQuotas(t, adm, true, exact("user", "alice")), "|"); got != "{user=alice} consumer_byte_rate=2048.000000" {
		t.Fatalf("after restart: %s", got)
	}
	if got := describeQuotas(t, adm, false, exact("user", "carol")); len(got) != 1 {
		t.Fatalf("after restart, carol: %v", got)
	}
}

// noClusterConfigs denies DESCRIBE_CONFIGS and ALTER_CONFIGS on the cluster.
type noClusterConfigs struct{}

func (noClusterConfigs) Authorize(_ auth.Subject, op auth.Operation, res auth.Resource) bool {
	return res.Type != auth.ResourceCluster || (op != auth.OpAlterConfigs && op != auth.OpDescribeConfigs)
}

func TestClientQuotasAuthorization(t *testing.T) {
	tb := startBrokerWith(t, Config{Authorizer: noClusterConfigs{}})
	adm := kadm.NewClient(newClient(t, tb.addr))
	res, err := adm.AlterClientQuotas(ctxT(t), []kadm.AlterClientQuotaEntry{{Entity: qent("user", "a"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}}})
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alter: %v %+v", err, res)
	}
	if _, err := adm.DescribeClientQuotas(ctxT(t), false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("describe: %v", err)
	}
	if tb.quotas.Store().Active() {
		t.Fatal("a refused alter set a quota")
	}
}

// rawRoundTrip sends req on c with clientID and decodes the response.
func rawRoundTrip(t *testing.T, c net.Conn, clientID string, corr int32, req kmsg.Request) kmsg.Response {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, corr)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestClientQuotasThrottleProduceAndMute(t *testing.T) {
	// A 1 s window (2 samples of 1 s) keeps throttle times short.
	tb := startBroker(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "q", 1, nil)
	adm := kadm.NewClient(cl)
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: qent("client-id", "slow"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 100<<10)}})

	produce := func() *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "q", tb.topic("q").meta.ID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: make([]byte, 150<<10)})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	c := rawConn(t, tb.addr)
	resp := rawRoundTrip(t, c, "slow", 1, produce()).(*kmsg.ProduceResponse)
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(ec))
	}
	throttle := time.Duration(resp.ThrottleMillis) * time.Millisecond
	if throttle < 300*time.Millisecond || throttle > 1500*time.Millisecond {
		t.Fatalf("throttle %v, want about 500ms (150 KiB against 100 KiB/s over 1 s)", throttle)
	}
	start := time.Now()
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	rawRoundTrip(t, c, "slow", 2, av)
	if waited := time.Since(start); waited < throttle-20*time.Millisecond {
		t.Fatalf("connection answered after %v, before the throttle %v", waited, throttle)
	}

	// An unlimited client id on another connection is not throttled.
	c2 := rawConn(t, tb.addr)
	for i := range 3 {
		if r := rawRoundTrip(t, c2, "fast", int32(i), produce()).(*kmsg.ProduceResponse); r.ThrottleMillis != 0 {
			t.Fatalf("unlimited client throttled %d ms", r.ThrottleMillis)
		}
	}
}

type throttleHook struct {
	mu  sync.Mutex
	max int32
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, after bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if after {
		h.max = max(h.max, int32(d.Milliseconds()))
	}
}

func (h *throttleHook) get() int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
}

func TestClientQuotasFranzGoProducerThrottled(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "q", 1, nil)
	alterQuotas(t, kadm.NewClient(admCl), kadm.AlterClientQuotaEntry{Entity: qent("user", "<default>", "client-id", "slow"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 100<<10)}})

	run := func(clientID string) int32 {
		h := &throttleHook{}
		cl := newClient(t, tb.addr, kgo.ClientID(clientID), kgo.WithHooks(h), kgo.DefaultProduceTopic("q"), kgo.ProducerLinger(0))
		for range 4 {
			v := make([]byte, 64<<10)
			rand.Read(v) // incompressible: kgo compresses by default
			if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		return h.get()
	}
	if got := run("slow"); got <= 0 {
		t.Fatalf("slow client: max throttle %d ms, want > 0", got)
	}
	if got := run("fast"); got != 0 {
		t.Fatalf("fast client throttled %d ms", got)
	}
}

func TestClientQuotasRequestPercentage(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	adm := kadm.NewClient(newClient(t, tb.addr))
	// 0.001% of a core over 1 s is 10 µs: the first requests exceed it.
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: qent("client-id", "busy"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 0.001)}})
	c := rawConn(t, tb.addr)
	var got int32
	for i := range 20 {
		mr := kmsg.NewPtrMetadataRequest()
		mr.Version = 12
		r := rawRoundTrip(t, c, "busy", int32(i), mr).(*kmsg.MetadataResponse)
		if got = r.ThrottleMillis; got > 0 {
			break
		}
	}
	if got <= 0 {
		t.Fatal("request_percentage never throttled")
	}
}

func TestClientQuotasThrottleFetch(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "q", 1, nil)
	alterQuotas(t, kadm.NewClient(cl), kadm.AlterClientQuotaEntry{Entity: qent("client-id", "reader"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", 100<<10)}})
	if p := produceRaw(t, tb, cl, "q", 0, buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: make([]byte, 150<<10)})); p.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	fetch := func() *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 11, -1, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "q"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes, fp.LogStartOffset = 1<<20, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		return req
	}
	c := rawConn(t, tb.addr)
	resp := rawRoundTrip(t, c, "reader", 1, fetch()).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) < 150<<10 {
		t.Fatalf("fetch returned no records: %+v", resp)
	}
	if resp.ThrottleMillis <= 0 {
		t.Fatalf("fetch of 150 KiB against 100 KiB/s not throttled")
	}
	// An unlimited client id reads the same without throttling.
	if r := rawRoundTrip(t, rawConn(t, tb.addr), "other", 1, fetch()).(*kmsg.FetchResponse); r.ThrottleMillis != 0 {
		t.Fatalf("unlimited reader throttled %d ms", r.ThrottleMillis)
	}
}

func TestClientQuotasLongPollIsNotRequestTime(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "empty", 1, nil)
	// 5% of a core over 1 s is 50 ms; the fetch waits 300 ms for data.
	alterQuotas(t, kadm.NewClient(cl), kadm.AlterClientQuotaEntry{Entity: qent("client-id", "poller"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 5)}})
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 11, -1, 1<<20, -1
	req.MaxWaitMillis, req.MinBytes = 300, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "empty"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.LogStartOffset = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	start := time.Now()
	r := rawRoundTrip(t, rawConn(t, tb.addr), "poller", 1, req).(*kmsg.FetchResponse)
	if time.Since(start) < 250*time.Millisecond {
		t.Fatal("the fetch did not wait")
	}
	if r.ThrottleMillis != 0 {
		t.Fatalf("long-poll wait counted as request time: throttled %d ms", r.ThrottleMillis)
	}
}
