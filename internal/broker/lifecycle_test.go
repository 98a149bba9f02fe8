package broker

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func strp(s string) *string { return &s }

// sendDirect sends req to the broker itself, bypassing the client's
// routing by partition leader (which refuses unknown partitions).
func sendDirect[R kmsg.Response](t testing.TB, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.SeedBrokers()[0].Request(ctxT(t), req)
	if err != nil {
		t.Fatalf("%s request: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func deleteRecords(t *testing.T, cl *kgo.Client, topic string, partition int32, off int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return sendDirect[*kmsg.DeleteRecordsResponse](t, cl, req).Topics[0].Partitions[0]
}

func listOffset(t *testing.T, cl *kgo.Client, topic string, ts int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := send[*kmsg.ListOffsetsResponse](t, cl, req).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("list offsets %d: %v", ts, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// fetchAt fetches partition 0 of topic from off.
func fetchAt(t *testing.T, tb *testBroker, cl *kgo.Client, topic string, off int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.SessionEpoch = 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, tb.topic(topic).meta.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = off, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.FetchResponse](t, cl, req).Topics[0].Partitions[0]
}

func TestDeleteRecordsAPI(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "dr", 1, nil)
	createTopic(t, cl, "drc", 1, map[string]*string{"cleanup.policy": strp("compact")})
	produceN(t, cl, "dr", 10, func(r *kgo.Record) { r.Partition = 0 })

	if p := deleteRecords(t, cl, "dr", 0, 4); p.ErrorCode != 0 || p.LowWatermark != 4 {
		t.Fatalf("delete to 4: %+v", p)
	}
	if got := listOffset(t, cl, "dr", -2); got != 4 {
		t.Fatalf("earliest %d, want 4", got)
	}
	if p := fetchAt(t, tb, cl, "dr", 2); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 4 {
		t.Fatalf("fetch below the start: %v log start %d", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	if p := fetchAt(t, tb, cl, "dr", 4); p.ErrorCode != 0 || p.LogStartOffset != 4 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch at the start: %v log start %d", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	if p := deleteRecords(t, cl, "dr", 0, 11); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LowWatermark != -1 {
		t.Fatalf("beyond the high watermark: %+v", p)
	}
	if p := deleteRecords(t, cl, "dr", 0, 2); p.ErrorCode != 0 || p.LowWatermark != 4 {
		t.Fatalf("below the start: %+v", p)
	}
	if p := deleteRecords(t, cl, "dr", 0, -1); p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Fatalf("-1: %+v", p)
	}
	if p := deleteRecords(t, cl, "dr", 1, 0); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition: %+v", p)
	}
	if p := deleteRecords(t, cl, "nope", 0, 0); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", p)
	}
	if p := deleteRecords(t, cl, "drc", 0, -1); p.ErrorCode != kerr.PolicyViolation.Code {
		t.Fatalf("compacted topic: %+v", p)
	}
	// The start survives a restart.
	tb.stop(t)
	tb = startBroker(t, tb.dir, nil)
	cl = newClient(t, tb.addr)
	if got := listOffset(t, cl, "dr", -2); got != 10 {
		t.Fatalf("earliest after restart %d, want 10", got)
	}
}

func TestAlterReplicaLogDirs(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ar", 1, nil)
	alter := func(dir string, parts ...int32) []int16 {
		req := kmsg.NewPtrAlterReplicaLogDirsRequest()
		d := kmsg.NewAlterReplicaLogDirsRequestDir()
		d.Dir = dir
		dt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
		dt.Topic, dt.Partitions = "ar", parts
		d.Topics = append(d.Topics, dt)
		req.Dirs = append(req.Dirs, d)
		var codes []int16
		for _, p := range sendDirect[*kmsg.AlterReplicaLogDirsResponse](t, cl, req).Topics[0].Partitions {
			codes = append(codes, p.ErrorCode)
		}
		return codes
	}
	abs, _ := filepath.Abs(tb.dir)
	if got := alter(abs, 0, 7); got[0] != 0 || got[1] != kerr.ReplicaNotAvailable.Code {
		t.Fatalf("same dir: %v", got)
	}
	if got := alter(filepath.Join(abs, "elsewhere"), 0); got[0] != kerr.LogDirNotFound.Code {
		t.Fatalf("other dir: %v", got)
	}
}

func TestRetentionThroughBroker(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ret", 1, map[string]*string{"retention.ms": strp("60000"), "segment.ms": strp("1000"), "file.delete.delay.ms": strp("0")})
	for range 3 {
		produceN(t, cl, "ret", 5, func(r *kgo.Record) { r.Partition = 0; r.Timestamp = clk.Now() })
		clk.Advance(2 * time.Second) // the next append rolls
	}
	if n := tb.partition("ret", 0).log.NumSegments(); n != 3 {
		t.Fatalf("%d segments", n)
	}
	tb.runRetention(clk.Now())
	if got := listOffset(t, cl, "ret", -2); got != 0 {
		t.Fatalf("deleted too early: start %d", got)
	}
	clk.Advance(55 * time.Second) // the first batch is 61 s old, the second 59
	tb.runRetention(clk.Now())
	if got := listOffset(t, cl, "ret", -2); got != 5 {
		t.Fatalf("start %d after retention, want 5", got)
	}
	clk.Advance(time.Hour) // everything: the active segment rolls too
	tb.runRetention(clk.Now())
	if got := listOffset(t, cl, "ret", -2); got != 15 || tb.partition("ret", 0).log.Size() != 0 {
		t.Fatalf("start %d, size %d", got, tb.partition("ret", 0).log.Size())
	}
}

func TestFreeSpaceFloor(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now, Kafka: map[string]string{minFreeBytesConfig: "1000000"}})
	var mu sync.Mutex
	free := int64(1 << 30)
	tb.lc.space.SetStatfs(func(string) (int64, error) { mu.Lock(); defer mu.Unlock(); return free, nil })
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "full", 1, nil)
	batch := func() []byte { return buildBatch(-1, 0, -1, clk.Now().UnixMilli(), rawRecord{value: []byte("x")}) }
	if p := produceRaw(t, tb, cl, "full", 0, batch()); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	mu.Lock()
	free = 999_999
	mu.Unlock()
	clk.Advance(time.Second)
	if p := produceRaw(t, tb, cl, "full", 0, batch()); p.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce on a full disk: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetchAt(t, tb, cl, "full", 0); p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("fetch on a full disk: %v hw %d", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
	}
	mu.Lock()
	free = 1 << 30
	mu.Unlock()
	clk.Advance(time.Second)
	if p := produceRaw(t, tb, cl, "full", 0, batch()); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce after space returned: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

func TestCompactedTopicThroughBroker(t *testing.T) {
	clk := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	tb := startBrokerWith(t, Config{Now: clk.Now})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "cmp", 1, map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("1000"),
		"delete.retention.ms": strp("1000")})
	keyless := buildBatch(-1, 0, -1, clk.Now().UnixMilli(), rawRecord{value: []byte("x")})
	if p := produceRaw(t, tb, cl, "cmp", 0, keyless); p.ErrorCode != kerr.InvalidRecord.Code {
		t.Fatalf("keyless record: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	for round := range 4 {
		var recs []rawRecord
		for k := range 10 {
			recs = append(recs, rawRecord{key: fmt.Appendf(nil, "k%d", k), value: fmt.Appendf(nil, "v%d", round)})
		}
		if p := produceRaw(t, tb, cl, "cmp", 0, buildBatch(-1, 0, -1, clk.Now().UnixMilli(), recs...)); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
		clk.Advance(2 * time.Second)
	}
	tb.runRetention(clk.Now()) // rolls the idle active segment (segment.ms)
	if !tb.runCleaner(clk.Now()) {
		t.Fatal("cleaner found no work")
	}
	if tb.runCleaner(clk.Now()) {
		t.Fatal("cleaner cleaned twice")
	}
	cons := newClient(t, tb.addr, kgo.ConsumeTopics("cmp"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	var offs []int64
	for len(offs) < 10 {
		fs := cons.PollFetches(ctxT(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Key)] = string(r.Value)
			offs = append(offs, r.Offset)
		})
	}
	for k := range 10 {
		if v := got[fmt.Sprintf("k%d", k)]; v != "v3" {
			t.Fatalf("k%d = %q", k, v)
		}
	}
	if len(offs) != 10 || offs[0] != 30 || offs[9] != 39 {
		t.Fatalf("offsets %v", offs)
	}
}

// TestCleanerMaxKeys: the cleaner's key map is sized as Kafka sizes its
// offset map, log.cleaner.dedupe.buffer.size / 24 entries filled up to
// log.cleaner.io.buffer.load.factor.
func TestCleanerMaxKeys(t *testing.T) {
	if got, want := startBroker(t, "", nil).cleanerMaxKeys(), 5033164; got != want {
		t.Fatalf("default: %d keys, want %d", got, want)
	}
	tb := startBroker(t, "", map[string]string{"log.cleaner.dedupe.buffer.size": "2400", "log.cleaner.io.buffer.load.factor": "0.5"})
	if got := tb.cleanerMaxKeys(); got != 50 {
		t.Fatalf("2400 bytes at 0.5: %d keys, want 50", got)
	}
}

// The cleaner's busy signal: not busy before any request, busy right after
// one (a monotonic reading from the request path), and a request seen
// again within busyGranularity does not write the shared word.
func TestLifecycleBusy(t *testing.T) {
	var lc lifecycle
	if lc.busy() {
		t.Fatal("busy before any request")
	}
	now := monoNow()
	lc.sawRequest(now)
	if !lc.busy() {
		t.Fatal("not busy right after a request")
	}
	lc.sawRequest(now + busyGranularity/2)
	if got := lc.lastRequest.Load(); got != int64(now) {
		t.Fatalf("last request %d, want %d", got, now)
	}
	lc.lastRequest.Store(int64(monoNow() - 2*busyWindow))
	if lc.busy() {
		t.Fatal("busy two windows after the last request")
	}
}
