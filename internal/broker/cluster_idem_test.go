package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// Idempotent producers in cluster mode: a default (idempotent) kgo
// producer against two brokers; a replayed batch answered with its
// original offsets and stored once, also by the partition's next leader
// after the first one left; out-of-order sequences and fenced epochs; a
// transactional batch without a transactional id.
func TestClusterIdempotentProduce(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	brokers := map[int32]*Broker{1: startClusterBrokerOn(t, e, 1, s3), 2: startClusterBrokerOn(t, e, 2, s3)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, brokers[1], kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "idem"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	leaders := func(adm *kadm.Client) (map[int32]int32, error) {
		m, err := adm.Metadata(ctx, "idem")
		if err != nil {
			return nil, err
		}
		out := map[int32]int32{}
		for _, p := range m.Topics["idem"].Partitions {
			if p.Err != nil {
				return nil, p.Err
			}
			out[p.Partition] = p.Leader
		}
		return out, nil
	}
	var lead map[int32]int32
	clusterEventually(t, "both brokers lead partitions", func() error {
		l, err := leaders(adm)
		if err != nil {
			return err
		}
		seen := map[int32]bool{}
		for _, n := range l {
			seen[n] = true
		}
		if len(l) != 4 || !seen[1] || !seen[2] {
			return fmt.Errorf("leaders %v", l)
		}
		lead = l
		return nil
	})

	// A producer with kgo's defaults: idempotent, acks=all.
	prod := mustClient(t, brokers[2], kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const n = 40
	for i := range n {
		r := &kgo.Record{Topic: "idem", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons := mustClient(t, brokers[1], kgo.ConsumeTopics("idem"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int64{}
	for count := 0; count < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", count, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := got[string(r.Value)]; ok {
				t.Errorf("record %s read twice", r.Value)
			}
			if r.ProducerID < 0 {
				t.Errorf("record %s without a producer id", r.Value)
			}
			got[string(r.Value)] = r.Offset
			count++
		})
	}
	for i := range n {
		if off, ok := got[strconv.Itoa(i)]; !ok || off != int64(i/4) {
			t.Fatalf("record %d at offset %d (%v), want %d", i, off, ok, i/4)
		}
	}

	// Raw requests to partition 0's leader; the other broker stays.
	first := lead[0]
	other := int32(3 - first)
	cl := mustClient(t, brokers[other], kgo.MetadataMinAge(10*time.Millisecond))
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	txn := kmsg.NewPtrInitProducerIDRequest()
	txn.TransactionalID = kmsg.StringPtr("t1")
	txn.TransactionTimeoutMillis = 60000
	// Sent to a broker directly: kgo would look the coordinator up first.
	if r, err := cl.Broker(int(other)).Request(ctx, txn); err != nil || r.(*kmsg.InitProducerIDResponse).ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("InitProducerId with a transactional id: %+v %v", r, err)
	}
	ids := map[int64]bool{}
	for _, b := range []int32{1, 2, 1} {
		r, err := cl.Broker(int(b)).Request(ctx, kmsg.NewPtrInitProducerIDRequest())
		if err != nil {
			t.Fatal(err)
		}
		ip := r.(*kmsg.InitProducerIDResponse)
		if ip.ErrorCode != 0 || ip.ProducerID < 0 || ip.ProducerEpoch != 0 || ids[ip.ProducerID] {
			t.Fatalf("InitProducerId at broker %d: %+v (ids so far %v)", b, ip, ids)
		}
		ids[ip.ProducerID] = true
	}
	ip := send[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	pid := ip.ProducerID
	produceTo := func(node int32, batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, slices.Clone(batch)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(node)).Request(ctx, req)
		if err != nil {
			t.Fatalf("produce to broker %d: %v", node, err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	end := func() int64 {
		t.Helper()
		o, err := kadm.NewClient(cl).ListEndOffsets(ctx, "idem")
		if err != nil {
			t.Fatal(err)
		}
		l, _ := o.Lookup("idem", 0)
		if l.Err != nil {
			t.Fatal(l.Err)
		}
		return l.Offset
	}
	now := time.Now().UnixMilli()
	rec := rawRecord{key: []byte("k"), value: []byte("raw")}
	b0 := buildBatch(pid, 0, 0, now, rec, rec)
	if r := produceTo(first, b0); r.ErrorCode != 0 || r.BaseOffset != 10 {
		t.Fatalf("first raw batch: %+v", r)
	}
	if r := produceTo(first, b0); r.ErrorCode != 0 || r.BaseOffset != 10 {
		t.Fatalf("replayed batch: %+v, want offset 10 and no error", r)
	}
	if r := produceTo(first, buildBatch(pid, 0, 5, now, rec)); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d", r.ErrorCode)
	}
	if r := produceTo(first, buildBatch(pid, 0, 2, now, rec)); r.ErrorCode != 0 || r.BaseOffset != 12 {
		t.Fatalf("next batch: %+v", r)
	}
	if o := end(); o != 13 {
		t.Fatalf("end offset %d, want 13", o)
	}
	b1 := buildBatch(pid, 0, 3, now, rec)
	if r := produceTo(first, b1); r.ErrorCode != 0 || r.BaseOffset != 13 {
		t.Fatalf("batch before the failover: %+v", r)
	}
	// A transactional batch without a transactional id is refused.
	tb := buildBatch(pid, 0, 4, now, rec)
	tb[22] |= 0x10 // attributes: transactional
	putTestCRC(tb)
	if r := produceTo(first, tb); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("transactional batch without a transactional id: %+v", r)
	}

	// The leader leaves; the other broker takes partition 0 over.
	brokers[first].Close()
	clusterEventually(t, "partition 0 led by the other broker", func() error {
		l, err := leaders(kadm.NewClient(cl))
		if err != nil {
			return err
		}
		if l[0] != other {
			return fmt.Errorf("partition 0 led by %d", l[0])
		}
		return nil
	})
	// Both earlier batches are still recognised: their offsets, no append.
	for _, c := range []struct {
		batch []byte
		off   int64
	}{{b1, 13}, {b0, 10}} {
		var r kmsg.ProduceResponseTopicPartition
		clusterEventually(t, "the new leader answers", func() error {
			r = produceTo(other, c.batch)
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil && kerr.IsRetriable(err) {
				return err
			}
			return nil
		})
		if r.ErrorCode != 0 || r.BaseOffset != c.off {
			t.Fatalf("replay at the new leader: %+v, want offset %d and no error", r, c.off)
		}
	}
	if o := end(); o != 14 {
		t.Fatalf("end offset %d after the replays, want 14", o)
	}
	if r := produceTo(other, buildBatch(pid, 0, 9, now, rec)); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap at the new leader: error %d", r.ErrorCode)
	}
	if r := produceTo(other, buildBatch(pid, 1, 0, now, rec)); r.ErrorCode != 0 || r.BaseOffset != 14 {
		t.Fatalf("new epoch: %+v", r)
	}
	if r := produceTo(other, buildBatch(pid, 0, 4, now, rec)); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced epoch: error %d", r.ErrorCode)
	}
	// Partition 0 holds every record once: 10 from kgo, 5 raw.
	p0 := mustClient(t, brokers[other], kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"idem": {0: kgo.NewOffset().AtStart()}}))
	var offs []int64
	for len(offs) < 15 {
		fs := p0.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v of partition 0: %v", offs, err)
		}
		fs.EachRecord(func(r *kgo.Record) { offs = append(offs, r.Offset) })
	}
	for i, o := range offs {
		if o != int64(i) {
			t.Fatalf("partition 0 offsets %v", offs)
		}
	}
}

// A kgo producer with default settings keeps producing while a leader
// leaves: batches in flight at the closing broker (committed or not, an
// answer sent or not) are retried at the new leader, which knows the
// committed ones from etcd's producer state; every record is stored
// exactly once, and none fails.
func TestClusterIdempotentFailoverKgo(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	brokers := map[int32]*Broker{1: startClusterBrokerOn(t, e, 1, s3), 2: startClusterBrokerOn(t, e, 2, s3)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, brokers[2], kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "moving"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	clusterEventually(t, "both brokers lead partitions", func() error {
		m, err := adm.Metadata(ctx, "moving")
		if err != nil {
			return err
		}
		seen := map[int32]bool{}
		for _, p := range m.Topics["moving"].Partitions {
			if p.Err != nil {
				return p.Err
			}
			seen[p.Leader] = true
		}
		if !seen[1] || !seen[2] {
			return fmt.Errorf("leaders on %v", seen)
		}
		return nil
	})
	prod := mustClient(t, brokers[2], kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(10*time.Millisecond))
	const n = 400
	var mu sync.Mutex
	failed := map[string]error{}
	for i := range n {
		if i == n/2 {
			brokers[1].Close() // its partitions move to broker 2
		}
		r := &kgo.Record{Topic: "moving", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}
		prod.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed[string(r.Value)] = err
				mu.Unlock()
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 {
		t.Fatalf("%d produces failed: %v", len(failed), failed)
	}
	cons := mustClient(t, brokers[2], kgo.ConsumeTopics("moving"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for total := 0; total < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", total, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record %d stored %d times", i, c)
		}
	}
	// The partitions hold n records in all: none stored twice.
	ends, err := kadm.NewClient(cons).ListEndOffsets(ctx, "moving")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != n {
		t.Fatalf("the partitions end at %d offsets in all, %d records were produced", sum, n)
	}
}
