package broker

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/coordkey"
)

// Transactions in cluster mode, across two brokers: coordinators of
// __transaction_state and __consumer_offsets partitions on both, a
// consume-transform-produce loop (kgo's GroupTransactSession, Kafka's
// exactly-once recipe) whose output and committed offsets must agree, an
// aborted transaction invisible to read_committed consumers, and a
// transactional id that goes on after the broker that coordinated it
// left.
func TestClusterTransactions(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	kafka := map[string]string{"transaction.state.log.num.partitions": "4", "offsets.topic.num.partitions": "4"}
	b1 := startClusterBrokerKafka(t, e, 1, s3, kafka)
	b2 := startClusterBrokerKafka(t, e, 2, s3, kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	for _, name := range []string{"src", "dst"} {
		if r, err := adm.CreateTopic(ctx, 4, 1, nil, name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", name, err, r.Err)
		}
	}
	waitLed(t, ctx, adm, "src", "dst")

	const n = 60
	prod := mustClient(t, b2, kgo.DefaultProduceTopic("src"))
	for i := range n {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// An aborted transaction first: its records must never be read
	// committed.
	abortCl := mustClient(t, b1, kgo.TransactionalID("aborter"), kgo.DefaultProduceTopic("dst"),
		kgo.MetadataMinAge(10*time.Millisecond))
	if err := abortCl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		abortCl.Produce(ctx, &kgo.Record{Value: []byte("aborted-" + strconv.Itoa(i))}, nil)
	}
	if err := abortCl.Flush(ctx); err != nil {
		t.Fatalf("flush aborted: %v", err)
	}
	if err := abortCl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}

	// Consume-transform-produce, a few records per transaction.
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b2.Addr().String()),
		kgo.TransactionalID("etl"),
		kgo.ConsumerGroup("etl-group"),
		kgo.ConsumeTopics("src"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic("dst"),
		kgo.MetadataMinAge(10*time.Millisecond),
		kgo.FetchMaxBytes(200),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	moved := 0
	for moved < n {
		fs := sess.PollRecords(ctx, 7)
		if ctx.Err() != nil {
			t.Fatalf("moved %d of %d: %v", moved, n, ctx.Err())
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		recs := fs.Records()
		for _, r := range recs {
			sess.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end after %d: %v", moved, err)
		}
		if committed {
			moved += len(recs)
		}
	}

	// readDst reads count records of dst, then polls once more (1 s) to
	// see that no more come.
	readDst := func(iso kgo.IsolationLevel, count int) []string {
		cons := mustClient(t, b1, kgo.ConsumeTopics("dst"), kgo.FetchIsolationLevel(iso),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(10*time.Millisecond))
		defer cons.Close()
		var out []string
		for len(out) < count {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("reading dst: %v (read %d of %d)", ctx.Err(), len(out), count)
			}
			fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		}
		more, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		cons.PollFetches(more).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		slices.Sort(out)
		return out
	}
	var want []string
	for i := range n {
		want = append(want, "out-"+strconv.Itoa(i))
	}
	slices.Sort(want)
	got := readDst(kgo.ReadCommitted(), n)
	if !slices.Equal(got, want) {
		t.Fatalf("read committed: got %d records %v, want %d", len(got), got, len(want))
	}
	offs, err := adm.FetchOffsets(ctx, "etl-group")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Fatalf("committed offsets of etl-group sum to %d, want %d", sum, n)
	}
	if uncommitted := readDst(kgo.ReadUncommitted(), n+8); len(uncommitted) != n+8 {
		t.Fatalf("read uncommitted: %d records, want %d", len(uncommitted), n+8)
	}

	// The transaction admin APIs find both ids at their coordinators
	// (kadm asks every broker, or the id's coordinator), and the
	// producers in dst's partitions at their leaders.
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"etl", "aborter"} {
		if _, ok := listed[id]; !ok {
			t.Fatalf("ListTransactions: %s missing from %v", id, listed.TransactionalIDs())
		}
	}
	described, err := adm.DescribeTransactions(ctx, "etl", "aborter")
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range described {
		if d.Err != nil || d.State != "CompleteCommit" && d.State != "CompleteAbort" && d.State != "Empty" {
			t.Fatalf("DescribeTransactions %s: state %q err %v", id, d.State, d.Err)
		}
	}
	prods, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"dst": {0: {}, 1: {}, 2: {}, 3: {}}})
	if err != nil {
		t.Fatal(err)
	}
	prods.EachPartition(func(p kadm.DescribedProducersPartition) {
		if p.Err != nil {
			t.Errorf("DescribeProducers dst-%d: %v", p.Partition, p.Err)
		}
	})
	nprod := 0
	prods.EachProducer(func(p kadm.DescribedProducer) {
		if p.CurrentTxnStartOffset != -1 {
			t.Errorf("producer %d in dst-%d has an open transaction at %d", p.ProducerID, p.Partition, p.CurrentTxnStartOffset)
		}
		nprod++
	})
	if nprod == 0 {
		t.Fatal("DescribeProducers: no producer in dst")
	}

	// The broker coordinating "aborter" leaves; the id goes on at the
	// new coordinator, which fences the old producer.
	other := b2
	if br, ok := b1.cl.keyLeaderNode("__transaction_state", func(p int32) int32 { return coordkey.Partition("aborter", p) }); ok && br.NodeID == 2 {
		other = b1
		b2.Close()
	} else {
		b1.Close()
	}
	again := mustClient(t, other, kgo.TransactionalID("aborter"), kgo.DefaultProduceTopic("dst"),
		kgo.MetadataMinAge(10*time.Millisecond))
	if err := again.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := again.ProduceSync(ctx, &kgo.Record{Value: []byte("after-failover")}).FirstErr(); err != nil {
		t.Fatalf("produce after failover: %v", err)
	}
	if err := again.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after failover: %v", err)
	}
	cons := mustClient(t, other, kgo.ConsumeTopics("dst"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := 0
	for seen < n+1 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after failover read %d of %d committed: %v", seen, n+1, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) > 8 && string(r.Value[:8]) == "aborted-" {
				t.Errorf("aborted record read committed: %s", r.Value)
			}
			seen++
		})
	}
	if seen != n+1 {
		t.Fatalf("read %d committed records after failover, want %d", seen, n+1)
	}
}
