package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objlog"
)

// The partition side of transactions in cluster mode: transactional
// batches are taken (with a transactional id), a read_committed fetch
// stops at the last stable offset until the transaction's marker
// (written here straight through the leader's objlog partition: there is
// no transaction coordinator in cluster mode yet) is committed, then
// lists the aborted transaction, which a read_committed kgo consumer
// drops; ListOffsets' latest under read_committed is the LSO.
func TestClusterTxnReadCommitted(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	brokers := map[int32]*Broker{1: startClusterBrokerOn(t, e, 1, s3), 2: startClusterBrokerOn(t, e, 2, s3)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := mustClient(t, brokers[1], kgo.MetadataMinAge(10*time.Millisecond))
	adm := kadm.NewClient(cl)
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "txd"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	var leader int32
	clusterEventually(t, "partition 0 led", func() error {
		m, err := adm.Metadata(ctx, "txd")
		if err != nil {
			return err
		}
		p := m.Topics["txd"].Partitions[0]
		if p.Err != nil || p.Leader < 1 {
			return fmt.Errorf("partition 0: leader %d, %v", p.Leader, p.Err)
		}
		leader = p.Leader
		return nil
	})
	// The leader's own view may trail etcd's leaders/ key a little.
	var part *objlog.Partition
	clusterEventually(t, "the leader holds partition 0", func() error {
		lb := brokers[leader]
		ti, ok := lb.cl.topic("txd")
		if !ok {
			return fmt.Errorf("broker %d does not know the topic", leader)
		}
		if part = lb.cl.partition(ti.Partition(0)); part == nil {
			return fmt.Errorf("broker %d does not lead partition 0 yet", leader)
		}
		return nil
	})
	pid := send[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest()).ProducerID

	produce := func(batch []byte, txnID *string) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, txnID
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "txd"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = slices.Clone(batch)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	fetch := func(level int8, offset int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.IsolationLevel = -1, 0, 1, 1<<20, level
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "txd"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = offset, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatalf("fetch at %d: %v", offset, kerr.ErrorForCode(sp.ErrorCode))
		}
		return sp
	}
	latest := func(level int8) int64 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID, req.IsolationLevel = -1, level
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "txd"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(sp.ErrorCode))
		}
		return sp.Offset
	}

	now := time.Now().UnixMilli()
	rec := func(v string) rawRecord { return rawRecord{key: []byte("k"), value: []byte(v)} }
	txnID := kmsg.StringPtr("tx")
	if r := produce(buildBatch(-1, -1, -1, now, rec("p0"), rec("p1")), nil); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("plain batch: %+v", r)
	}
	tb := buildBatch(pid, 0, 0, now, rec("t0"), rec("t1"))
	tb[22] |= 0x10 // attributes: transactional
	putTestCRC(tb)
	if r := produce(tb, nil); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("transactional batch without a transactional id: %+v", r)
	}
	if r := produce(tb, txnID); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("transactional batch: %+v", r)
	}
	if r := produce(buildBatch(-1, -1, -1, now, rec("p2")), nil); r.ErrorCode != 0 || r.BaseOffset != 4 {
		t.Fatalf("plain batch after the transaction's: %+v", r)
	}

	// The transaction is open: read_committed stops at 2.
	sp := fetch(1, 0)
	if sp.HighWatermark != 5 || sp.LastStableOffset != 2 || sp.AbortedTransactions == nil || len(sp.AbortedTransactions) != 0 {
		t.Fatalf("read_committed: hw %d LSO %d aborted %v", sp.HighWatermark, sp.LastStableOffset, sp.AbortedTransactions)
	}
	if got := batchSpans(t, sp.RecordBatches); !slices.Equal(got, [][2]int64{{0, 1}}) {
		t.Fatalf("read_committed batches %v, want [0 1]", got)
	}
	if sp := fetch(1, 2); len(sp.RecordBatches) != 0 {
		t.Fatalf("read_committed at the LSO returned %d bytes", len(sp.RecordBatches))
	}
	sp = fetch(0, 0)
	if sp.LastStableOffset != 2 || sp.AbortedTransactions != nil {
		t.Fatalf("read_uncommitted: LSO %d aborted %v", sp.LastStableOffset, sp.AbortedTransactions)
	}
	if got := batchSpans(t, sp.RecordBatches); !slices.Equal(got, [][2]int64{{0, 1}, {2, 3}, {4, 4}}) {
		t.Fatalf("read_uncommitted batches %v", got)
	}
	if l0, l1 := latest(0), latest(1); l0 != 5 || l1 != 2 {
		t.Fatalf("latest offsets: read_uncommitted %d (want 5), read_committed %d (want 2)", l0, l1)
	}

	// The transaction aborts.
	c, err := part.AppendMarker(pid, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Wait(ctx); err != nil || r.BaseOffset != 5 {
		t.Fatalf("abort marker: %+v %v", r, err)
	}
	sp = fetch(1, 0)
	aborted := sp.AbortedTransactions
	if sp.HighWatermark != 6 || sp.LastStableOffset != 6 || len(aborted) != 1 || aborted[0].ProducerID != pid || aborted[0].FirstOffset != 2 {
		t.Fatalf("read_committed after the abort: hw %d LSO %d aborted %+v", sp.HighWatermark, sp.LastStableOffset, sp.AbortedTransactions)
	}
	if got := batchSpans(t, sp.RecordBatches); !slices.Equal(got, [][2]int64{{0, 1}, {2, 3}, {4, 4}, {5, 5}}) {
		t.Fatalf("read_committed batches after the abort %v", got)
	}
	if l1 := latest(1); l1 != 6 {
		t.Fatalf("latest under read_committed %d, want 6", l1)
	}
	// A read_committed consumer drops the aborted records and the marker.
	cons := mustClient(t, brokers[3-leader], kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"txd": {0: kgo.NewOffset().AtStart()}}))
	var vals []string
	for len(vals) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v: %v", vals, err)
		}
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	if !slices.Equal(vals, []string{"p0", "p1", "p2"}) {
		t.Fatalf("read_committed consumer read %v", vals)
	}
}

// batchSpans is the [base, last] offsets of each batch in b.
func batchSpans(t *testing.T, b []byte) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for len(b) > 0 {
		h, err := log.CheckStoredBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{h.BaseOffset, h.LastOffset()})
		b = b[h.Size():]
	}
	return out
}
