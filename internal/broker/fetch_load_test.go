package broker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch stops loading partitions once its load budget is spent: the
// partitions whose read would load their log are answered with no records,
// no error and no offsets (-1), and a later fetch reads them. Every fetch
// loads at least one, so a consumer of every partition reads them all.
// (With 100,000 partitions under log.open.files.max, one fetch loading
// them all ran past the client's request timeout and never answered.)
func TestFetchDefersLoadsPastBudget(t *testing.T) {
	const parts = 12
	dir := t.TempDir()
	kafka := map[string]string{"log.lazy.load.enable": "true"}
	tb := startBroker(t, dir, kafka)
	cl := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "lazy", parts, nil)
	var recs []*kgo.Record
	for p := range int32(parts) {
		recs = append(recs, &kgo.Record{Topic: "lazy", Partition: p, Value: fmt.Appendf(nil, "v%d", p)})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	tb.stop(t)

	tb = startBroker(t, dir, kafka) // clean restart: every partition dormant
	tb.fetchLoadBudget = 0          // past the budget after the first load
	if n := tb.awakeUserPartitions(); n != 0 {
		t.Fatalf("%d partitions loaded after a clean restart", n)
	}
	raw := newClient(t, tb.addr)
	req := fullFetch(tb, 5000, 1, parts, "lazy")
	start := time.Now()
	resp, err := req.RequestWith(ctxT(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("the fetch with deferred partitions long-polled for %v", waited)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
		t.Fatalf("full fetch answered %+v, want every partition", resp.Topics)
	}
	for i, p := range resp.Topics[0].Partitions {
		switch {
		case p.ErrorCode != 0:
			t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
		case i == 0 && (p.HighWatermark != 1 || len(p.RecordBatches) == 0):
			t.Fatalf("the first partition was not read: hw %d, %d bytes", p.HighWatermark, len(p.RecordBatches))
		case i > 0 && (p.HighWatermark != -1 || p.LastStableOffset != -1 || p.LogStartOffset != -1 || len(p.RecordBatches) != 0):
			t.Fatalf("partition %d past the budget: hw %d lso %d log start %d, %d bytes; want deferred", p.Partition,
				p.HighWatermark, p.LastStableOffset, p.LogStartOffset, len(p.RecordBatches))
		}
	}
	if n := tb.awakeUserPartitions(); n != 1 {
		t.Fatalf("%d partitions loaded by the fetch, want 1", n)
	}

	// A consumer with a fetch session reads every partition, one more
	// loaded by each fetch.
	cons := newClient(t, tb.addr, kgo.ConsumeTopics("lazy"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[int32]string{}
	for len(got) < parts {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d partitions: %v", len(got), parts, err)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("partition %d: %v", fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = string(r.Value) })
	}
	for p := range int32(parts) {
		if got[p] != fmt.Sprintf("v%d", p) {
			t.Fatalf("partition %d read %q", p, got[p])
		}
	}
}

// A consumer of partitions nobody has written to creates nothing: a fetch
// at offset 0, the start and end offsets, an offset by time and a
// deletion of records up to offset 0 are answered (0, no records) without
// creating a directory or loading a log, even past the fetch load budget.
// The first record creates the partition's log.
func TestFetchOfNotCreatedPartitionsCreatesNothing(t *testing.T) {
	const parts = 12
	dir := t.TempDir()
	tb := startBroker(t, dir, map[string]string{"log.lazy.load.enable": "true"})
	tb.fetchLoadBudget = 0
	cl := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "empty", parts, nil)
	created := func() (n int) {
		for p := range int32(parts) {
			if _, err := os.Stat(partitionDir(dir, "empty", p)); err == nil {
				n++
			}
		}
		return n
	}

	req := fullFetch(tb, 50, 1, parts, "empty")
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
		t.Fatalf("full fetch answered %+v, want every partition", resp.Topics)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.HighWatermark != 0 || p.LastStableOffset != 0 || p.LogStartOffset != 0 || len(p.RecordBatches) != 0 {
			t.Fatalf("partition %d: error %d, hw %d, lso %d, log start %d, %d bytes; want empty at 0", p.Partition,
				p.ErrorCode, p.HighWatermark, p.LastStableOffset, p.LogStartOffset, len(p.RecordBatches))
		}
	}
	adm := kadm.NewClient(cl)
	afterMilli := func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, 1, topics...) // no record: the end offset
	}
	for _, list := range []func(context.Context, ...string) (kadm.ListedOffsets, error){adm.ListStartOffsets, adm.ListEndOffsets, afterMilli} {
		lo, err := list(ctxT(t), "empty")
		if err != nil {
			t.Fatal(err)
		}
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err != nil || o.Offset != 0 {
				t.Fatalf("partition %d listed at %d: %v", o.Partition, o.Offset, o.Err)
			}
		})
	}
	var upTo kadm.Offsets
	for p := range int32(parts) {
		upTo.Add(kadm.Offset{Topic: "empty", Partition: p, At: -int64(p % 2)}) // 0, or -1: the high watermark
	}
	drs, err := adm.DeleteRecords(ctxT(t), upTo)
	if err != nil {
		t.Fatal(err)
	}
	drs.Each(func(d kadm.DeleteRecordsResponse) {
		if d.Err != nil || d.LowWatermark != 0 {
			t.Fatalf("deleting the records of partition %d: low watermark %d, %v", d.Partition, d.LowWatermark, d.Err)
		}
	})
	if n, awake := created(), tb.awakeUserPartitions(); n != 0 || awake != 0 {
		t.Fatalf("reading empty partitions created %d directories and loaded %d logs", n, awake)
	}

	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "empty", Partition: 3, Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := created(); n != 1 {
		t.Fatalf("%d directories after the first record, want 1", n)
	}
	resp, err = req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[0].Partitions {
		written := p.Partition == 3
		if p.ErrorCode != 0 || (p.HighWatermark == 1) != written || (len(p.RecordBatches) > 0) != written {
			t.Fatalf("partition %d after the first record: error %d, hw %d, %d bytes", p.Partition, p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
		}
	}
}

// fullFetch is a sessionless Fetch (a full answer) of every partition of
// topics (parts each) at offset 0, 1 MiB each, named by topic id as v13+
// does.
func fullFetch(tb *testBroker, maxWait, minBytes int32, parts int, topics ...string) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, maxWait, minBytes, 1<<20
	req.SessionEpoch = -1
	for _, name := range topics {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = name, tb.topic(name).meta.ID
		for p := range int32(parts) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}
