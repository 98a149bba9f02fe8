package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func produceN(t *testing.T, cl *kgo.Client, topic string, n int, opts ...func(*kgo.Record)) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte("value-" + strconv.Itoa(i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}}}
		for _, o := range opts {
			o(r)
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return recs
}

func consumeN(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	var got []*kgo.Record
	ctx := ctxT(t)
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got = append(got, fs.Records()...)
	}
	return got
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			tb := startBroker(t, "", nil)
			cl := newClient(t, tb.addr, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic("t"))
			createTopic(t, cl, "t", 3, nil)
			ts := time.UnixMilli(1700000000000)
			sent := produceN(t, cl, "t", 500, func(r *kgo.Record) { r.Timestamp = ts })
			got := consumeN(t, tb.addr, "t", len(sent))
			if len(got) != len(sent) {
				t.Fatalf("consumed %d records, want %d", len(got), len(sent))
			}
			byKey := map[string]*kgo.Record{}
			for _, r := range sent {
				byKey[string(r.Key)] = r
			}
			for _, r := range got {
				s := byKey[string(r.Key)]
				if s == nil || !bytes.Equal(s.Value, r.Value) || s.Partition != r.Partition || s.Offset != r.Offset ||
					!r.Timestamp.Equal(ts) || len(r.Headers) != 1 || !bytes.Equal(r.Headers[0].Value, s.Headers[0].Value) {
					t.Fatalf("consumed %+v does not match produced %+v", r, s)
				}
				delete(byKey, string(r.Key))
			}
		})
	}
}

func TestRestartKeepsRecordsTopicsAndConfigs(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "keep", 2, map[string]*string{"retention.ms": kmsg.StringPtr("123456")})
	sent := produceN(t, cl, "keep", 300)
	cl.Close()
	tb.stop(t)

	tb2 := startBroker(t, dir, nil)
	got := consumeN(t, tb2.addr, "keep", len(sent))
	want := map[string]int64{}
	for _, r := range sent {
		want[fmt.Sprint(r.Partition, string(r.Key))] = r.Offset
	}
	for _, r := range got {
		if off, ok := want[fmt.Sprint(r.Partition, string(r.Key))]; !ok || off != r.Offset {
			t.Fatalf("record %s at %d/%d after restart, want offset %d", r.Key, r.Partition, r.Offset, off)
		}
	}
	adm := kadm.NewClient(newClient(t, tb2.addr))
	rc, err := adm.DescribeTopicConfigs(ctxT(t), "keep")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("keep", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range c.Configs {
		if e.Key == "retention.ms" {
			found = e.MaybeValue() == "123456" && e.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	if !found {
		t.Fatalf("retention.ms override lost across restart: %+v", c.Configs)
	}
}

func TestApiVersionsAdvertisesExactlyTheHandlers(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	resp := send[*kmsg.ApiVersionsResponse](t, cl, kmsg.NewPtrApiVersionsRequest())
	if resp.ErrorCode != 0 {
		t.Fatalf("error %d", resp.ErrorCode)
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	want := map[int16][2]int16{0: {0, 13}, 1: {0, 18}, 2: {0, 10}, 3: {0, 13}, 8: {2, 9}, 9: {1, 9}, 10: {0, 6}, 11: {0, 9},
		12: {0, 4}, 13: {0, 5}, 14: {0, 5}, 15: {0, 6}, 16: {0, 5}, 17: {0, 1}, 18: {0, 4}, 19: {2, 7}, 20: {1, 6}, 21: {0, 2}, 22: {0, 5},
		23: {2, 4}, 24: {0, 5}, 25: {0, 4}, 26: {0, 5}, 27: {1, 1}, 28: {0, 5}, 29: {1, 3}, 30: {1, 3}, 31: {1, 3}, 32: {1, 4}, 33: {0, 2}, 34: {1, 2}, 35: {1, 4}, 36: {0, 2}, 37: {0, 3}, 42: {0, 2}, 44: {0, 1}, 47: {0, 0}, 48: {0, 1}, 49: {0, 1}, 50: {0, 0}, 51: {0, 0}, 60: {0, 2}, 61: {0, 0}, 65: {0, 0}, 66: {0, 2}, 68: {0, 1}, 69: {0, 1}}
	for k, v := range map[int16][2]int16{43: {0, 2}, 45: {0, 1}, 46: {0, 0}, 75: {0, 0}} { // admin APIs of Kafka 4 tools
		want[k] = v
	}
	for k, v := range map[int16][2]int16{76: {1, 1}, 77: {1, 1}, 78: {1, 2}, 79: {1, 2}, 90: {0, 1}, 91: {0, 0}, 92: {0, 0}} { // share groups
		want[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s advertised %v, want %v", kmsg.NameForKey(k), got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("advertised %d APIs, want %d: %v", len(got), len(want), got)
	}
}

func TestApiVersionsUnsupportedVersionAnswersV0(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := rawConn(t, tb.addr)
	// ApiVersions v99, correlation id 7, client id "x", no body.
	frame := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'x'}
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
	c.Write(frame)
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(body); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("got error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestUnservedAPIClosesOnlyThatConnection(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	// DescribeAcls is not advertised: the broker closes the connection.
	req := kmsg.NewPtrDescribeACLsRequest()
	c := rawConn(t, tb.addr)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 7)
	c.Write(frame)
	if _, err := io.ReadFull(c, make([]byte, 4)); err == nil {
		t.Fatal("broker answered a request for an API it does not serve")
	}
	// Other clients are unaffected.
	send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
}

func TestOversizedAndMalformedFrames(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"socket.request.max.bytes": "1024"})
	for name, frame := range map[string][]byte{
		"oversized":        binary.BigEndian.AppendUint32(nil, 1<<30),
		"negative":         binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"truncated header": append(binary.BigEndian.AppendUint32(nil, 9), 0, 3, 0, 1, 0, 0, 0, 1, 0),
		"garbage body":     append(binary.BigEndian.AppendUint32(nil, 12), 0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff),
	} {
		t.Run(name, func(t *testing.T) {
			c := rawConn(t, tb.addr)
			c.Write(frame)
			if _, err := io.ReadFull(c, make([]byte, 4)); err == nil {
				t.Fatal("connection still answered")
			}
		})
	}
	cl := newClient(t, tb.addr)
	send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
}

func TestCreateTopicsValidation(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "exists", 1, nil)
	topicReq := func(name string, parts int32, rf int16, cfg map[string]string) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		for k, v := range cfg {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			rt.Configs = append(rt.Configs, c)
		}
		return rt
	}
	cases := []struct {
		topic kmsg.CreateTopicsRequestTopic
		want  *kerr.Error
	}{
		{topicReq("exists", 1, 1, nil), kerr.TopicAlreadyExists},
		{topicReq("zero", 0, 1, nil), kerr.InvalidPartitions},
		{topicReq("rf3", 1, 3, nil), kerr.InvalidReplicationFactor},
		{topicReq("bad/name", 1, 1, nil), kerr.InvalidTopicException},
		{topicReq("..", 1, 1, nil), kerr.InvalidTopicException},
		{topicReq("badcfg", 1, 1, map[string]string{"retention.ms": "soon"}), kerr.InvalidConfig},
		{topicReq("unknowncfg", 1, 1, map[string]string{"no.such.config": "1"}), kerr.InvalidConfig},
		{topicReq("defaults", -1, -1, nil), nil},
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	for _, c := range cases {
		req.Topics = append(req.Topics, c.topic)
	}
	resp := send[*kmsg.CreateTopicsResponse](t, cl, req)
	for i, c := range cases {
		got := resp.Topics[i]
		if got.Topic != c.topic.Topic || got.ErrorCode != code(errOrNil(c.want)) {
			t.Errorf("%s: error %d (%v), want %v", c.topic.Topic, got.ErrorCode, got.ErrorMessage, c.want)
		}
	}
	if d := resp.Topics[len(cases)-1]; d.NumPartitions != 1 || d.ReplicationFactor != 1 || d.TopicID == [16]byte{} || len(d.Configs) == 0 {
		t.Errorf("defaults topic: %+v", d)
	}

	// validate_only creates nothing.
	vreq := kmsg.NewPtrCreateTopicsRequest()
	vreq.ValidateOnly = true
	vreq.Topics = []kmsg.CreateTopicsRequestTopic{topicReq("dry", 4, 1, nil)}
	if vr := send[*kmsg.CreateTopicsResponse](t, cl, vreq); vr.Topics[0].ErrorCode != 0 || vr.Topics[0].NumPartitions != 4 {
		t.Fatalf("validate only: %+v", vr.Topics[0])
	}
	if tb.topic("dry") != nil {
		t.Fatal("validate_only created the topic")
	}
}

func errOrNil(e *kerr.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestMetadataAutoCreateAndDisabled(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"num.partitions": "3"})
	cl := newClient(t, tb.addr, kgo.AllowAutoTopicCreation())
	produceN(t, cl, "auto", 1)
	if tp := tb.topic("auto"); tp == nil || len(tp.partitions) != 3 {
		t.Fatalf("auto-created topic: %+v", tp)
	}

	off := startBroker(t, "", map[string]string{"auto.create.topics.enable": "false"})
	ocl := newClient(t, off.addr)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("nope")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp := send[*kmsg.MetadataResponse](t, ocl, req)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("error %d, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics[0].ErrorCode)
	}
	if off.topic("nope") != nil {
		t.Fatal("topic created although auto.create.topics.enable=false")
	}
}

func TestIdempotentProduceRules(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "idem", 1, nil)
	ip := send[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	if ip.ErrorCode != 0 || ip.ProducerID < 0 {
		t.Fatalf("init producer id: %+v", ip)
	}
	pid := ip.ProducerID
	now := time.Now().UnixMilli()
	rec := rawRecord{key: []byte("k"), value: []byte("v")}
	b0 := buildBatch(pid, 0, 0, now, rec, rec)
	first := produceRaw(t, tb, cl, "idem", 0, slices.Clone(b0))
	if first.ErrorCode != 0 || first.BaseOffset != 0 {
		t.Fatalf("first: %+v", first)
	}
	dup := produceRaw(t, tb, cl, "idem", 0, slices.Clone(b0))
	if dup.ErrorCode != 0 || dup.BaseOffset != 0 {
		t.Fatalf("duplicate must be acknowledged with its original offset: %+v", dup)
	}
	gap := produceRaw(t, tb, cl, "idem", 0, buildBatch(pid, 0, 5, now, rec))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: error %d", gap.ErrorCode)
	}
	next := produceRaw(t, tb, cl, "idem", 0, buildBatch(pid, 0, 2, now, rec))
	if next.ErrorCode != 0 || next.BaseOffset != 2 {
		t.Fatalf("next: %+v", next)
	}
	bumped := produceRaw(t, tb, cl, "idem", 0, buildBatch(pid, 1, 0, now, rec))
	if bumped.ErrorCode != 0 || bumped.BaseOffset != 3 {
		t.Fatalf("new epoch: %+v", bumped)
	}
	stale := produceRaw(t, tb, cl, "idem", 0, buildBatch(pid, 0, 3, now, rec))
	if stale.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale epoch: error %d", stale.ErrorCode)
	}
	if hw := tb.partition("idem", 0).log.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}

	// Producer state survives a restart: the duplicate is still detected.
	cl.Close()
	tb.stop(t)
	tb2 := startBroker(t, tb.dir, nil)
	cl2 := newClient(t, tb2.addr)
	again := produceRaw(t, tb2, cl2, "idem", 0, buildBatch(pid, 1, 0, now, rec))
	if again.ErrorCode != 0 || again.BaseOffset != 3 {
		t.Fatalf("duplicate after restart: %+v", again)
	}
	// Producer ids are not reused after a restart.
	ip2 := send[*kmsg.InitProducerIDResponse](t, cl2, kmsg.NewPtrInitProducerIDRequest())
	if ip2.ProducerID <= pid {
		t.Fatalf("producer id %d reused after restart (had %d)", ip2.ProducerID, pid)
	}
}

func TestCorruptAndOversizedBatchesAreRejected(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "c", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("200")})
	good := buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("hello")})
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0xff
	if r := produceRaw(t, tb, cl, "c", 0, bad); r.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("corrupt batch: error %d", r.ErrorCode)
	}
	big := buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: make([]byte, 500)})
	if r := produceRaw(t, tb, cl, "c", 0, big); r.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("oversized batch: error %d", r.ErrorCode)
	}
	if r := produceRaw(t, tb, cl, "c", 7, good); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition: error %d", r.ErrorCode)
	}
	if hw := tb.partition("c", 0).log.HighWatermark(); hw != 0 {
		t.Fatalf("rejected batches were appended: high watermark %d", hw)
	}
	if r := produceRaw(t, tb, cl, "c", 0, good); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("good batch: %+v", r)
	}
}

func TestLogAppendTime(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lat", 1, map[string]*string{"message.timestamp.type": kmsg.StringPtr("LogAppendTime")})
	before := time.Now().Add(-time.Second)
	r := produceRaw(t, tb, cl, "lat", 0, buildBatch(-1, -1, -1, 1000, rawRecord{value: []byte("x")}))
	if r.ErrorCode != 0 || r.LogAppendTime < before.UnixMilli() {
		t.Fatalf("produce: %+v", r)
	}
	got := consumeN(t, tb.addr, "lat", 1)
	if got[0].Timestamp.UnixMilli() != r.LogAppendTime || got[0].Attrs.TimestampType() != 1 {
		t.Fatalf("consumed timestamp %v type %d, want log append time %d", got[0].Timestamp, got[0].Attrs.TimestampType(), r.LogAppendTime)
	}
}

func TestListOffsets(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lo", 1, nil)
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 5 {
		produceN(t, cl, "lo", 1, func(r *kgo.Record) { r.Timestamp = base.Add(time.Duration(i) * time.Second); r.Partition = 0 })
	}
	adm := kadm.NewClient(cl)
	check := func(name string, lo kadm.ListedOffsets, err error, wantOff int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, _ := lo.Lookup("lo", 0)
		if o.Err != nil || o.Offset != wantOff {
			t.Fatalf("%s: offset %d err %v, want %d", name, o.Offset, o.Err, wantOff)
		}
	}
	lo, err := adm.ListStartOffsets(ctxT(t), "lo")
	check("earliest", lo, err, 0)
	lo, err = adm.ListEndOffsets(ctxT(t), "lo")
	check("latest", lo, err, 5)
	lo, err = adm.ListOffsetsAfterMilli(ctxT(t), base.Add(2500*time.Millisecond).UnixMilli(), "lo")
	check("by timestamp", lo, err, 3)
	lo, err = adm.ListOffsetsAfterMilli(ctxT(t), base.Add(time.Hour).UnixMilli(), "lo")
	check("after the last timestamp", lo, err, 5) // kadm maps "none" to the end offset

	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.ListOffsetsResponse](t, cl, req)
	if p := resp.Topics[0].Partitions[0]; p.Offset != 4 || p.Timestamp != base.Add(4*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: %+v", p)
	}
}

func TestFetchLongPollWokenByAppend(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "lp", 1, nil)
	fetch := func(maxWait int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, 1, 1<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "lp", tb.topic("lp").meta.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return send[*kmsg.FetchResponse](t, cl, req)
	}
	start := time.Now()
	if r := fetch(300); len(r.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatal("fetch of an empty log returned records")
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("empty fetch returned after %v, before MaxWait", waited)
	}
	done := make(chan *kmsg.FetchResponse, 1)
	go func() { done <- fetch(60_000) }()
	eventually(t, "the fetch to wait in its long poll", func() bool { return tb.fetchWaiting.Load() == 1 })
	pcl := newClient(t, tb.addr)
	produceN(t, pcl, "lp", 1)
	select {
	case r := <-done:
		if len(r.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatal("woken fetch returned no records")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long poll was not woken by the append")
	}
}

func TestFetchSessions(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "fs", 2, nil)
	id := tb.topic("fs").meta.ID
	fetch := func(sessionID, epoch int32, parts ...int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.MinBytes = 1<<20, 0
		req.SessionID, req.SessionEpoch = sessionID, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "fs", id
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		return send[*kmsg.FetchResponse](t, cl, req)
	}
	full := fetch(0, 0, 0, 1)
	if full.ErrorCode != 0 || full.SessionID == 0 || len(full.Topics) != 1 || len(full.Topics[0].Partitions) != 2 {
		t.Fatalf("full fetch creating a session: %+v", full)
	}
	sid := full.SessionID
	if inc := fetch(sid, 1); len(inc.Topics) != 0 || inc.ErrorCode != 0 {
		t.Fatalf("incremental fetch without changes returned %+v", inc.Topics)
	}
	produceN(t, cl, "fs", 1, func(r *kgo.Record) { r.Partition = 1 })
	inc := fetch(sid, 2)
	if len(inc.Topics) != 1 || len(inc.Topics[0].Partitions) != 1 || inc.Topics[0].Partitions[0].Partition != 1 ||
		len(inc.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("incremental fetch after produce: %+v", inc.Topics)
	}
	if r := fetch(sid, 7); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d", r.ErrorCode)
	}
	if r := fetch(sid+1000, 1); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", r.ErrorCode)
	}
}

func TestFetchOffsetOutOfRangeAndMaxBytes(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr, kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	createTopic(t, cl, "oor", 1, nil)
	for range 3 {
		produceN(t, cl, "oor", 1, func(r *kgo.Record) { r.Value = make([]byte, 1000) })
	}
	fetch := func(offset int64, maxBytes int32) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionEpoch = maxBytes, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "oor", tb.topic("oor").meta.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, maxBytes
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return send[*kmsg.FetchResponse](t, cl, req).Topics[0].Partitions[0]
	}
	if p := fetch(10, 1<<20); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 3 || p.LogStartOffset != 0 {
		t.Fatalf("out of range: %+v", p)
	}
	// A limit smaller than one batch still returns that first batch whole.
	p := fetch(0, 10)
	if p.ErrorCode != 0 {
		t.Fatalf("error %d", p.ErrorCode)
	}
	batches := countBatches(t, p.RecordBatches)
	if batches != 1 {
		t.Fatalf("fetch with a tiny limit returned %d batches, want exactly the first", batches)
	}
	if n := countBatches(t, fetch(0, 1<<20).RecordBatches); n != 3 {
		t.Fatalf("fetch returned %d batches, want 3", n)
	}
}

func countBatches(t *testing.T, b []byte) int {
	n := 0
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("partial batch of %d bytes", len(b))
		}
		size := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if size > len(b) {
			t.Fatalf("partial batch: %d of %d bytes", len(b), size)
		}
		b = b[size:]
		n++
	}
	return n
}

func TestConfigsDescribeAlterIncremental(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"log.retention.hours": "24"})
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "cfg", 1, nil)
	value := func(topic, key string) (string, kmsg.ConfigSource) {
		t.Helper()
		rc, err := adm.DescribeTopicConfigs(ctxT(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rc.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range c.Configs {
			if e.Key == key {
				return e.MaybeValue(), e.Source
			}
		}
		t.Fatalf("config %s not described", key)
		return "", 0
	}
	if v, src := value("cfg", "retention.ms"); v != "86400000" || src != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms = %s from %v, want 86400000 from the static log.retention.hours", v, src)
	}
	if v, src := value("cfg", "cleanup.policy"); v != "delete" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %s from %v", v, src)
	}
	resps, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kmsg.StringPtr("1048576")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("incremental alter: %v %v", err, resps)
	}
	if v, src := value("cfg", "segment.bytes"); v != "1048576" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.bytes = %s from %v", v, src)
	}
	if got := tb.partition("cfg", 0).log.Config().SegmentBytes; got != 1048576 {
		t.Fatalf("live log segment.bytes %d", got)
	}
	resps, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kmsg.StringPtr("big")}}, "cfg")
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("invalid value: %v %+v", err, resps)
	}
	resps, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "segment.bytes"}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("delete config: %v %v", err, resps)
	}
	if _, src := value("cfg", "segment.bytes"); src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes source after delete %v", src)
	}
	// Broker dynamic config changes topic defaults and persists.
	bresps, err := adm.AlterBrokerConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.segment.bytes", Value: kmsg.StringPtr("2097152")}}, 1)
	if err != nil || bresps[0].Err != nil {
		t.Fatalf("alter broker config: %v %+v", err, bresps)
	}
	// One node: a change to broker 1 is the cluster-wide dynamic default.
	if v, src := value("cfg", "segment.bytes"); v != "2097152" || src != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("segment.bytes = %s from %v after broker change", v, src)
	}
	brc, err := adm.DescribeBrokerConfigs(ctxT(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range brc {
		for _, e := range rc.Configs {
			if e.Key == "num.partitions" && e.MaybeValue() == "1" {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("broker configs do not describe num.partitions")
	}
}

func TestDeleteTopicAndCreatePartitions(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "grow", 1, nil)
	if _, err := adm.UpdatePartitions(ctxT(t), 3, "grow"); err != nil {
		t.Fatal(err)
	}
	if n := len(tb.topic("grow").partitions); n != 3 {
		t.Fatalf("%d partitions after growing to 3", n)
	}
	r, err := adm.UpdatePartitions(ctxT(t), 2, "grow")
	if err != nil || !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking: %v %+v", err, r)
	}
	produceN(t, cl, "grow", 10)
	dr, err := adm.DeleteTopics(ctxT(t), "grow")
	if err != nil || dr["grow"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	dr, _ = adm.DeleteTopics(ctxT(t), "grow")
	if !errors.Is(dr["grow"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting again: %+v", dr["grow"])
	}
	// Re-creating the name gives an empty topic.
	createTopic(t, cl, "grow", 1, nil)
	if hw := tb.partition("grow", 0).log.HighWatermark(); hw != 0 {
		t.Fatalf("recreated topic has high watermark %d", hw)
	}
}

func TestDescribeLogDirsAndCluster(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ld", 1, nil)
	produceN(t, cl, "ld", 5)
	adm := kadm.NewClient(cl)
	dirs, err := adm.DescribeAllLogDirs(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "ld" {
				size = p.Size
			}
		})
	})
	if size <= 0 {
		t.Fatalf("log dir size of ld: %d", size)
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 1
	resp := send[*kmsg.DescribeClusterResponse](t, cl, req)
	if resp.ErrorCode != 0 || resp.ClusterID != tb.ClusterID() || len(resp.Brokers) != 1 || resp.Brokers[0].Port != tb.lns[0].advertise.port {
		t.Fatalf("describe cluster: %+v", resp)
	}
}
