package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// consumeAll reads topic from the start until it has seen the records up
// to the end offsets of its partitions (at the given isolation) and
// returns their values.
func consumeAll(t *testing.T, addr, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
}

func TestTransactionsCommitAbortIsolation(t *testing.T) {
	tb := startBroker(t, "", nil)
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "tx", 3, nil)

	p := newClient(t, tb.addr, kgo.TransactionalID("tid-1"), kgo.DefaultProduceTopic("tx"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := ctxT(t)
	run := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := p.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", prefix, i))).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	run("c1", 6, true)
	run("a1", 6, false)
	run("c2", 6, true)

	// An open transaction holds back the LSO for read_committed.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("open-0"), kgo.StringRecord("open-1"), kgo.StringRecord("open-2")).FirstErr(); err != nil {
		t.Fatal(err)
	}

	committed := consumeAll(t, tb.addr, "tx", kgo.ReadCommitted())
	all := consumeAll(t, tb.addr, "tx", kgo.ReadUncommitted())
	count := func(vals []string) map[string]int {
		m := map[string]int{}
		for _, v := range vals {
			m[v[:2]]++
		}
		return m
	}
	if c := count(committed); c["c1"] != 6 || c["c2"] != 6 || c["a1"] != 0 || c["op"] != 0 || len(committed) != 12 {
		t.Fatalf("read_committed saw %v: %v", c, committed)
	}
	if c := count(all); c["c1"] != 6 || c["c2"] != 6 || c["a1"] != 6 || c["op"] != 3 {
		t.Fatalf("read_uncommitted saw %v", c)
	}

	// ListOffsets: latest at read_committed stops at the open transaction.
	adm := kadm.NewClient(admCl)
	hw, err := adm.ListEndOffsets(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	var sumHW, sumLSO int64
	hw.Each(func(o kadm.ListedOffset) { sumHW += o.Offset })
	lso.Each(func(o kadm.ListedOffset) { sumLSO += o.Offset })
	if sumHW-sumLSO != 3 {
		t.Fatalf("end offsets: high watermarks sum %d, stable %d; want 3 apart", sumHW, sumLSO)
	}

	// A new incarnation fences the old one and aborts its open transaction.
	p2 := newClient(t, tb.addr, kgo.TransactionalID("tid-1"), kgo.DefaultProduceTopic("tx"))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, kgo.StringRecord("z2-0")).FirstErr(); err != nil {
		t.Fatalf("new incarnation produce: %v", err)
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	err = p.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("old incarnation commit: %v, want fenced", err)
	}
	committed = consumeAll(t, tb.addr, "tx", kgo.ReadCommitted())
	if c := count(committed); c["c1"] != 6 || c["c2"] != 6 || c["z2"] != 1 || c["op"] != 0 || c["a1"] != 0 {
		t.Fatalf("read_committed after fencing saw %v", c)
	}
}

func TestTransactionTimeoutAborts(t *testing.T) {
	tb := startBroker(t, "", nil)
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "tt", 1, nil)
	p := newClient(t, tb.addr, kgo.TransactionalID("slow"), kgo.DefaultProduceTopic("tt"),
		kgo.TransactionTimeout(time.Second))
	ctx := ctxT(t)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("late")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine
	for {
		st, _, _, _, _ := tb.txns.coord.Describe("slow")
		if st.String() == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not aborted by timeout: %v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lso := tb.partition("tt", 0).log.LastStableOffset(); lso != 2 {
		t.Fatalf("LSO %d after the timeout abort, want 2 (record + marker)", lso)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("commit after the timeout succeeded")
	}
}

func TestTransactionalProduceNeedsAddedPartition(t *testing.T) {
	tb := startBroker(t, "", nil)
	// Produce v11 and EndTxn v4: transaction version 1 needs the
	// partition added first.
	v1 := kversion.Stable()
	v1.SetMaxKeyVersion(0, 11)
	v1.SetMaxKeyVersion(26, 4)
	cl := newClient(t, tb.addr, kgo.MaxVersions(v1))
	createTopic(t, cl, "tp", 1, nil)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID = kmsg.StringPtr("raw")
	ip.TransactionTimeoutMillis = 60000
	ipr := send[*kmsg.InitProducerIDResponse](t, cl, ip)
	if ipr.ErrorCode != 0 {
		t.Fatalf("init: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	batch := buildBatch(ipr.ProducerID, ipr.ProducerEpoch, 0, 1000, rawRecord{value: []byte("v")})
	batch[22] |= 0x10 // transactional
	putTestCRC(batch)
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	req.TransactionID = kmsg.StringPtr("raw")
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "tp", tb.topic("tp").meta.ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.ProduceResponse](t, cl, req)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidTxnState.Code {
		t.Fatalf("produce before AddPartitionsToTxn: %v", kerr.ErrorForCode(c))
	}
	// EndTxn commit with no transaction: INVALID_TXN_STATE.
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = "raw", ipr.ProducerID, ipr.ProducerEpoch, true
	if r := send[*kmsg.EndTxnResponse](t, cl, et); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn without a transaction: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// Produce v12+ (transaction version 2) adds the partition itself.
	cl2 := newClient(t, tb.addr)
	resp = send[*kmsg.ProduceResponse](t, cl2, req)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("v2 produce: %v", kerr.ErrorForCode(c))
	}
	st, _, _, parts, _ := tb.txns.coord.Describe("raw")
	if st.String() != "Ongoing" || len(parts) != 1 || parts[0].Topic != "tp" {
		t.Fatalf("after v2 produce: %v %v", st, parts)
	}
	// EndTxn v5 bumps the epoch and returns it; the marker carries it.
	et.Commit = true
	r := send[*kmsg.EndTxnResponse](t, cl2, et)
	if r.ErrorCode != 0 || r.ProducerID != ipr.ProducerID || r.ProducerEpoch != ipr.ProducerEpoch+1 {
		t.Fatalf("v5 commit: %v pid %d epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	}
	if ep := tb.partition("tp", 0).log.ProducerEpoch(ipr.ProducerID); ep != ipr.ProducerEpoch+1 {
		t.Fatalf("partition's producer epoch after the marker: %d", ep)
	}
	// The old epoch is fenced in the partition.
	resp = send[*kmsg.ProduceResponse](t, cl2, req)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("produce at the old epoch: %v", kerr.ErrorForCode(c))
	}
}

func putTestCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "in", 2, nil)
	createTopic(t, admCl, "out", 2, nil)
	ctx := ctxT(t)
	const n = 200
	for i := range n {
		admCl.Produce(ctx, &kgo.Record{Topic: "in", Value: []byte(fmt.Sprintf("v%03d", i))}, nil)
	}
	if err := admCl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(tb.addr), kgo.TransactionalID("etl"),
		kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("out"),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	seen, round := 0, 0
	for seen < n {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d records transformed", seen, n)
		}
		fs := sess.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		recs := fs.Records()
		for _, r := range recs {
			sess.Produce(ctx, kgo.StringRecord("out-"+string(r.Value)), nil)
		}
		// Abort the first non-empty round: its records must vanish and
		// be consumed again.
		abort := round == 0 && len(recs) > 0
		if len(recs) > 0 {
			round++
		}
		committed, err := sess.End(ctx, kgo.TransactionEndTry(!abort))
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			seen += len(recs)
		}
	}
	out := consumeAll(t, tb.addr, "out", kgo.ReadCommitted())
	uniq := map[string]bool{}
	for _, v := range out {
		uniq[v] = true
	}
	if len(out) != n || len(uniq) != n {
		t.Fatalf("read_committed output: %d records, %d distinct; want %d", len(out), len(uniq), n)
	}
	offs, err := kadm.NewClient(admCl).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Fatalf("committed offsets sum to %d, want %d", sum, n)
	}
}

func TestTransactionStateSurvivesRestart(t *testing.T) {
	tb := startBroker(t, "", nil)
	dir := tb.dir
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "rs", 1, nil)
	ctx := ctxT(t)
	p := newClient(t, tb.addr, kgo.TransactionalID("r1"), kgo.DefaultProduceTopic("rs"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("c-0"), kgo.StringRecord("c-1")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("o-0")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, pid, epoch, _, _ := tb.txns.coord.Describe("r1")
	p.Close()
	admCl.Close()
	tb.stop(t)

	// The open transaction stays open across the restart, as after a
	// Kafka coordinator fail-over.
	tb2 := startBroker(t, dir, nil)
	st, pid2, epoch2, parts, ok := tb2.txns.coord.Describe("r1")
	if !ok || st.String() != "Ongoing" || pid2 != pid || epoch2 != epoch || len(parts) != 1 {
		t.Fatalf("after restart: %v pid %d epoch %d %v (before: pid %d epoch %d)", st, pid2, epoch2, parts, pid, epoch)
	}
	l := tb2.partition("rs", 0).log
	if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != 3 || hw != 4 {
		t.Fatalf("LSO %d, high watermark %d: want the open transaction at 3 (after the marker at 2) to hold the LSO there", lso, hw)
	}
	got := consumeAll(t, tb2.addr, "rs", kgo.ReadCommitted())
	if len(got) != 2 || got[0] != "c-0" || got[1] != "c-1" {
		t.Fatalf("read_committed after restart: %v", got)
	}
	// A new incarnation of the same transactional id aborts it and
	// continues with the same producer id.
	p2 := newClient(t, tb2.addr, kgo.TransactionalID("r1"), kgo.DefaultProduceTopic("rs"))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, kgo.StringRecord("n-0")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// (Its epoch is above the old one; by how much depends on whether
	// franz-go had seen the transaction.version feature yet.)
	if _, pid3, epoch3, _, _ := tb2.txns.coord.Describe("r1"); pid3 != pid || epoch3 <= epoch {
		t.Fatalf("re-init after restart: pid %d epoch %d", pid3, epoch3)
	}
	if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw {
		t.Fatalf("LSO %d, high watermark %d after the abort and the commit", lso, hw)
	}
	got = consumeAll(t, tb2.addr, "rs", kgo.ReadCommitted())
	if len(got) != 3 || got[2] != "n-0" {
		t.Fatalf("read_committed at the end: %v", got)
	}
}

func TestTransactionAdminAPIs(t *testing.T) {
	tb := startBroker(t, "", nil)
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "ad", 2, nil)
	ctx := ctxT(t)
	p := newClient(t, tb.addr, kgo.TransactionalID("adm-1"), kgo.DefaultProduceTopic("ad"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Partition: 1}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admCl)

	lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if s := lt.Sorted(); len(s) != 1 || s[0].TxnID != "adm-1" || s[0].State != "Ongoing" {
		t.Fatalf("ListTransactions: %+v", s)
	}
	if lt, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"}); err != nil || len(lt) != 0 {
		t.Fatalf("ListTransactions CompleteCommit: %v %v", lt, err)
	}

	dt, err := adm.DescribeTransactions(ctx, "adm-1", "nope")
	if err != nil {
		t.Fatal(err)
	}
	d := dt["adm-1"]
	if d.Err != nil || d.State != "Ongoing" || d.StartTimestamp <= 0 || len(d.Topics["ad"]) != 1 {
		t.Fatalf("DescribeTransactions adm-1: %+v", d)
	}
	if !errors.Is(dt["nope"].Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("DescribeTransactions unknown: %+v", dt["nope"])
	}

	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"ad": {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	dp.EachProducer(func(ps kadm.DescribedProducer) {
		if ps.ProducerID == d.ProducerID && ps.CurrentTxnStartOffset == 0 {
			found = true
		}
	})
	if !found {
		t.Fatalf("DescribeProducers: %+v", dp)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	dt, _ = adm.DescribeTransactions(ctx, "adm-1")
	if d := dt["adm-1"]; d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Fatalf("after commit: %+v", d)
	}
}

// TestTransactionsRandomized runs concurrent transactional producers over
// overlapping partitions with random commits and aborts, then checks that
// a read_committed reader sees every committed transaction whole, no
// aborted record, and each transaction's records in order per partition.
func TestTransactionsRandomized(t *testing.T) {
	tb := startBroker(t, "", nil)
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "rnd", 4, nil)
	ctx := ctxT(t)
	const producers, txns, perTxn = 4, 8, 12
	type outcome struct {
		committed bool
		n         int
	}
	results := make([][]outcome, producers)
	errc := make(chan error, producers)
	for w := range producers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			p, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.TransactionalID(fmt.Sprintf("rnd-%d", w)),
				kgo.DefaultProduceTopic("rnd"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				errc <- err
				return
			}
			defer p.Close()
			for x := range txns {
				if err := p.BeginTransaction(); err != nil {
					errc <- err
					return
				}
				n := 1 + rng.IntN(perTxn)
				for i := range n {
					r := &kgo.Record{Partition: int32(rng.IntN(4)), Value: []byte(fmt.Sprintf("%d/%d/%d", w, x, i))}
					p.Produce(ctx, r, nil)
				}
				commit := rng.IntN(3) > 0
				if err := p.Flush(ctx); err != nil {
					errc <- err
					return
				}
				if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
					errc <- err
					return
				}
				results[w] = append(results[w], outcome{commit, n})
			}
			errc <- nil
		}()
	}
	for range producers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[[2]int][]int{} // (producer, txn) -> record indexes in partition order
	lastIdx := map[[3]int]int{}
	for _, v := range consumeAllRecords(t, tb.addr, "rnd") {
		var w, x, i int
		fmt.Sscanf(string(v.Value), "%d/%d/%d", &w, &x, &i)
		k := [3]int{w, x, int(v.Partition)}
		if last, ok := lastIdx[k]; ok && i <= last {
			t.Fatalf("transaction %d/%d out of order in partition %d: %d after %d", w, x, v.Partition, i, last)
		}
		lastIdx[k] = i
		seen[[2]int{w, x}] = append(seen[[2]int{w, x}], i)
	}
	for w, rs := range results {
		for x, o := range rs {
			got := len(seen[[2]int{w, x}])
			if o.committed && got != o.n || !o.committed && got != 0 {
				t.Errorf("transaction %d/%d (commit %v, %d records): read_committed saw %d", w, x, o.committed, o.n, got)
			}
		}
	}
}

func consumeAllRecords(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
}

// TestPendingTxnOffsetsSurviveRestart: offsets committed in a transaction
// are in __consumer_offsets at once, pending; across a restart they stay
// pending for the still-open transaction, become the group's offsets when
// it commits, and stay so after another restart (replayed from the
// marker).
func TestPendingTxnOffsetsSurviveRestart(t *testing.T) {
	tb := startBroker(t, "", nil)
	dir := tb.dir
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "in", 1, nil)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID = kmsg.StringPtr("tx")
	ip.TransactionTimeoutMillis = 60000
	ipr := send[*kmsg.InitProducerIDResponse](t, cl, ip)
	if ipr.ErrorCode != 0 {
		t.Fatalf("init: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = "tx", "g", ipr.ProducerID, ipr.ProducerEpoch
	tt := kmsg.NewTxnOffsetCommitRequestTopic()
	tt.Topic = "in"
	tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp.Offset = 42
	tt.Partitions = append(tt.Partitions, tp)
	toc.Topics = append(toc.Topics, tt)
	// v5: the offsets partition is added implicitly.
	if r := send[*kmsg.TxnOffsetCommitResponse](t, cl, toc); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	fetch := func(tb *testBroker, stable bool) (int64, int16) {
		c := newClient(t, tb.addr)
		req := kmsg.NewPtrOffsetFetchRequest()
		req.RequireStable = stable
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "g"
		ft := kmsg.NewOffsetFetchRequestGroupTopic()
		ft.Topic, ft.Partitions = "in", []int32{0}
		g.Topics = append(g.Topics, ft)
		req.Groups = append(req.Groups, g)
		r := send[*kmsg.OffsetFetchResponse](t, c, req)
		if len(r.Groups) != 1 || len(r.Groups[0].Topics) != 1 {
			t.Fatalf("offset fetch: %+v", r)
		}
		p := r.Groups[0].Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	if off, ec := fetch(tb, true); ec != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending offset before restart: %d %v", off, kerr.ErrorForCode(ec))
	}
	cl.Close()
	tb.stop(t)

	tb2 := startBroker(t, dir, nil)
	if off, ec := fetch(tb2, true); ec != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending offset after restart: %d %v", off, kerr.ErrorForCode(ec))
	}
	if off, ec := fetch(tb2, false); ec != 0 || off != -1 {
		t.Fatalf("uncommitted offset visible after restart: %d %v", off, kerr.ErrorForCode(ec))
	}
	cl2 := newClient(t, tb2.addr)
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = "tx", ipr.ProducerID, ipr.ProducerEpoch, true
	if r := send[*kmsg.EndTxnResponse](t, cl2, et); r.ErrorCode != 0 {
		t.Fatalf("commit after restart: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if off, ec := fetch(tb2, true); ec != 0 || off != 42 {
		t.Fatalf("committed offset: %d %v", off, kerr.ErrorForCode(ec))
	}
	cl2.Close()
	tb2.stop(t)

	tb3 := startBroker(t, dir, nil)
	if off, ec := fetch(tb3, true); ec != 0 || off != 42 {
		t.Fatalf("committed offset after another restart: %d %v", off, kerr.ErrorForCode(ec))
	}
}

// A transaction open when the broker stops is aborted by its timeout after
// the restart: the replayed coordinator's deadline reaches the ticker.
func TestTransactionTimeoutAbortsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	admCl := newClient(t, tb.addr)
	createTopic(t, admCl, "tt", 1, nil)
	p := newClient(t, tb.addr, kgo.TransactionalID("open"), kgo.DefaultProduceTopic("tt"),
		kgo.TransactionTimeout(2*time.Second))
	ctx := ctxT(t)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("open")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	admCl.Close()
	tb.stop(t)
	tb = startBroker(t, dir, nil)
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine
	for {
		st, _, _, _, _ := tb.txns.coord.Describe("open")
		if st.String() == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not aborted by timeout after the restart: %v", st)
		}
		time.Sleep(50 * time.Millisecond) // polls a condition with a deadline
	}
	if lso := tb.partition("tt", 0).log.LastStableOffset(); lso != 2 {
		t.Fatalf("LSO %d after the timeout abort, want 2 (record + marker)", lso)
	}
}
