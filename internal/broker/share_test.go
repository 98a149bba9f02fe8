package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setShareEarliest sets share.auto.offset.reset=earliest on a group.
func setShareEarliest(t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	req := newShareResetReq(group)
	resp := send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
}

func newShareResetReq(group string) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	return req
}

// TestShareGroupConsumersShareAPartition: several franz-go share consumers
// of one partition receive each record once while acknowledging.
func TestShareGroupConsumersShareAPartition(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	const n = 400
	produceN(t, adm, "q", n)

	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		cl := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					r.Ack(kgo.AckAccept)
					mu.Lock()
					seen[string(r.Value)]++
					done := len(seen) == n
					mu.Unlock()
					if done {
						cancel()
					}
				}
			}
			_ = cl.FlushAcks(context.Background())
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("received %d distinct records, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	// All acknowledged: the start offset reached the end.
	offs := shareStart(t, adm, "sg", "q")
	if offs != n {
		t.Errorf("share-partition start offset %d, want %d", offs, n)
	}
}

func shareStart(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg)
	resp := send[*kmsg.DescribeShareGroupOffsetsResponse](t, cl, req)
	if err := kerr.ErrorForCode(resp.Groups[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0].Topics[0].Partitions[0].StartOffset
}

// pollShare polls a share consumer until it has want records or times out,
// acknowledging each with ack (none: leave it acquired).
func pollShare(t *testing.T, cl *kgo.Client, want int, ack func(*kgo.Record)) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollRecords(ctx, want-len(out))
		for _, r := range fs.Records() {
			if ack != nil {
				ack(r)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestShareRestartKeepsAcks: after a broker restart, accepted records are
// never redelivered and acquired-but-unacknowledged ones are.
func TestShareRestartKeepsAcks(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	produceN(t, adm, "q", 10)

	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"), kgo.ShareMaxRecords(10))
	if err != nil {
		t.Fatal(err)
	}
	recs := pollShare(t, cl, 10, nil)
	if len(recs) != 10 {
		t.Fatalf("got %d records", len(recs))
	}
	accepted := map[int64]bool{}
	for _, r := range recs[:6] {
		r.Ack(kgo.AckAccept)
		accepted[r.Offset] = true
	}
	if err := cl.FlushAcks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	adm.Close()
	tb.stop(t) // the client still holds 4 acquired records
	cl.Close()

	tb2 := startBroker(t, dir, nil)
	cl2 := newClient(t, tb2.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	again := pollShare(t, cl2, 4, func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
	if len(again) != 4 {
		t.Fatalf("redelivered %d records after restart, want 4", len(again))
	}
	for _, r := range again {
		if accepted[r.Offset] {
			t.Errorf("accepted offset %d redelivered after restart", r.Offset)
		}
	}
}

// TestShareLockExpiryRedelivers: records a consumer stops acknowledging
// go to another consumer after the lock duration; reject archives.
func TestShareLockExpiryRedelivers(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"group.share.record.lock.duration.ms": "1000", "group.share.min.record.lock.duration.ms": "1000"})
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	produceN(t, adm, "q", 5)

	stuck := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"), kgo.ShareMaxRecords(5))
	held := pollShare(t, stuck, 5, nil) // acquired, never acknowledged
	if len(held) != 5 {
		t.Fatalf("first consumer got %d", len(held))
	}
	other := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	got := pollShare(t, other, 5, func(r *kgo.Record) {
		if r.Offset == 0 {
			r.Ack(kgo.AckReject)
		} else {
			r.Ack(kgo.AckAccept)
		}
	})
	if len(got) != 5 {
		t.Fatalf("second consumer got %d redelivered records, want 5", len(got))
	}
	if err := other.FlushAcks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s := shareStart(t, adm, "sg", "q"); s != 5 {
		t.Errorf("start offset %d after accept+reject, want 5", s)
	}
}

// shareRaw drives the share APIs with raw requests.
type shareRaw struct {
	t     *testing.T
	cl    *kgo.Client
	group string
	topic [16]byte
}

func (s *shareRaw) heartbeat(member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = s.group, member, epoch
	if topics != nil {
		req.SubscribedTopicNames = topics
	}
	return send[*kmsg.ShareGroupHeartbeatResponse](s.t, s.cl, req)
}

func (s *shareRaw) fetch(member string, epoch int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &s.group, &member, epoch
	req.MaxRecords, req.MaxBytes, req.MaxWaitMillis = 3, 1<<20, 0
	req.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: s.topic, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0, AcknowledgementBatches: acks}}}}
	return send[*kmsg.ShareFetchResponse](s.t, s.cl, req)
}

func (s *shareRaw) ack(member string, epoch int32, acks ...kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareAcknowledgeResponse {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &s.group, &member, epoch
	req.Topics = []kmsg.ShareAcknowledgeRequestTopic{{TopicID: s.topic, Partitions: []kmsg.ShareAcknowledgeRequestTopicPartition{{Partition: 0, AcknowledgementBatches: acks}}}}
	return send[*kmsg.ShareAcknowledgeResponse](s.t, s.cl, req)
}

func ackB(first, last int64, typ int8) kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch {
	return kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{FirstOffset: first, LastOffset: last, AcknowledgeTypes: []int8{typ}}
}

// TestShareBadInput: acknowledgements of records another member holds,
// overlapping batches, stale member and session epochs get Kafka's error
// codes, and nothing is acknowledged by mistake.
func TestShareBadInput(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "q", 1, nil)
	setShareEarliest(t, cl, "sg")
	produceN(t, cl, "q", 6)
	id := tb.topic("q").meta.ID
	s := &shareRaw{t: t, cl: cl, group: "sg", topic: id}

	if r := s.heartbeat("a", 0, "q"); r.ErrorCode != 0 || r.MemberEpoch != 1 {
		t.Fatalf("join a: %+v", r)
	}
	if r := s.heartbeat("b", 0, "q"); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("join b: %+v", r)
	}
	if r := s.heartbeat("a", 5); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Errorf("stale epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := s.heartbeat("nobody", 2); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := s.heartbeat("", 0, "q"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("empty member id: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	ra := s.fetch("a", 0)
	if ra.ErrorCode != 0 || len(ra.Topics) != 1 || len(ra.Topics[0].Partitions[0].AcquiredRecords) != 1 ||
		ra.Topics[0].Partitions[0].AcquiredRecords[0].LastOffset != 2 || len(ra.Topics[0].Partitions[0].Records) == 0 {
		t.Fatalf("a's fetch: %+v", ra)
	}
	rb := s.fetch("b", 0)
	if got := rb.Topics[0].Partitions[0].AcquiredRecords; len(got) != 1 || got[0].FirstOffset != 3 || got[0].LastOffset != 5 {
		t.Fatalf("b's fetch acquired %+v", got)
	}
	partErr := func(r *kmsg.ShareAcknowledgeResponse) error {
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode)
		}
		return kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode)
	}
	// b acknowledging a's records (and its own in the same request).
	if err := partErr(s.ack("b", 1, ackB(0, 0, 1), ackB(3, 5, 1))); err != kerr.InvalidRecordState {
		t.Errorf("ack of another member's records: %v", err)
	}
	// Overlapping batches.
	if err := partErr(s.ack("a", 1, ackB(0, 1, 1), ackB(1, 2, 1))); err != kerr.InvalidRequest {
		t.Errorf("overlapping batches: %v", err)
	}
	// Stale and unknown share sessions.
	if err := partErr(s.ack("a", 7, ackB(0, 2, 1))); err != kerr.InvalidShareSessionEpoch {
		t.Errorf("wrong session epoch: %v", err)
	}
	if err := partErr(s.ack("c", 1, ackB(0, 2, 1))); err != kerr.ShareSessionNotFound {
		t.Errorf("no session: %v", err)
	}
	if err := partErr(s.ack("a", 0, ackB(0, 2, 1))); err != kerr.InvalidShareSessionEpoch {
		t.Errorf("acks at epoch 0: %v", err)
	}
	// Nothing was acknowledged by mistake.
	if st := shareStart(t, cl, "sg", "q"); st != 0 {
		t.Fatalf("start offset %d after refused acks, want 0", st)
	}
	// The session epoch moved on with every request the session accepted
	// (partition errors included): a accepts its records at epoch 2.
	if err := partErr(s.ack("a", 2, ackB(0, 2, 1))); err != nil {
		t.Fatalf("a's ack: %v", err)
	}
	if st := shareStart(t, cl, "sg", "q"); st != 3 {
		t.Fatalf("start offset %d, want 3", st)
	}
	// Piggybacked acks on ShareFetch: b rejects its records, and closing
	// the session (epoch -1) ends it.
	r := s.fetch("b", 2, kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: 3, LastOffset: 5, AcknowledgeTypes: []int8{3}})
	if r.ErrorCode != 0 || r.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 {
		t.Fatalf("piggybacked ack: %+v", r)
	}
	if st := shareStart(t, cl, "sg", "q"); st != 6 {
		t.Fatalf("start offset %d after reject, want 6", st)
	}
	if r := s.fetch("b", -1); r.ErrorCode != 0 {
		t.Fatalf("close: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := s.fetch("b", 3); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("closed session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// Unknown topic ids and partitions are errors, not session members.
	bad := &shareRaw{t: t, cl: cl, group: "sg", topic: [16]byte{9, 9}}
	if r := bad.fetch("c", 0); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: %+v", r)
	}
	tb.shares.smu.Lock()
	n := len(tb.shares.sessions[shareSessKey{"sg", "c"}].parts)
	tb.shares.smu.Unlock()
	if n != 0 {
		t.Fatalf("session kept %d unknown partitions", n)
	}
}

// TestShareDeliveryLimitArchivesPoison: a record released on every
// delivery is archived after group.share.delivery.count.limit deliveries.
func TestShareDeliveryLimitArchivesPoison(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"group.share.delivery.count.limit": "3"})
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	produceN(t, adm, "q", 3)

	cl := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	deliveries := map[int64]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, r := range fs.Records() {
			deliveries[r.Offset]++
			if r.Offset == 1 {
				r.Ack(kgo.AckRelease) // the poison record
			} else {
				r.Ack(kgo.AckAccept)
			}
		}
		if err := cl.FlushAcks(ctx); err != nil {
			t.Fatal(err)
		}
		if shareStart(t, adm, "sg", "q") == 3 {
			break
		}
	}
	if deliveries[1] != 3 || deliveries[0] != 1 || deliveries[2] != 1 {
		t.Fatalf("deliveries by offset %v, want the poison record (offset 1) 3 times, the others once", deliveries)
	}
}

// TestShareOffsetsAdmin: kadm's share-group offsets describe, alter and
// delete, and what a consumer then sees; share groups in ListGroups,
// DescribeGroups, ShareGroupDescribe, DeleteGroups.
func TestShareOffsetsAdmin(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "q", 1, nil)
	produceN(t, cl, "q", 10)
	ctx := ctxT(t)

	alt, err := adm.AlterShareGroupOffsets(ctx, "sg", kadm.Offsets{"q": {0: {Topic: "q", Partition: 0, At: 7}}})
	if err != nil || alt.Error() != nil {
		t.Fatalf("alter: %v %v", err, alt.Error())
	}
	desc, err := adm.DescribeShareGroupOffsets(ctx, "sg")
	if err != nil || desc.Error() != nil {
		t.Fatalf("describe: %v %v", err, desc.Error())
	}
	if got := shareStart(t, cl, "sg", "q"); got != 7 {
		t.Fatalf("start offset %d after alter, want 7", got)
	}
	// A consumer starts at the altered offset (not at latest, the default).
	cons := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	recs := pollShare(t, cons, 3, func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
	if len(recs) != 3 || recs[0].Offset != 7 {
		t.Fatalf("consumer after alter got %d records from %v", len(recs), recs)
	}
	if err := cons.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}

	listed, err := adm.ListGroupsByType(ctx, []string{"share"})
	if err != nil || len(listed.Groups()) != 1 || listed.Groups()[0] != "sg" {
		t.Fatalf("ListGroups share: %v %v", listed.Groups(), err)
	}
	sd, err := adm.DescribeShareGroups(ctx, "sg")
	if err != nil || sd["sg"].Err != nil || sd["sg"].GroupState != "Stable" || len(sd["sg"].Members) != 1 {
		t.Fatalf("ShareGroupDescribe: %+v %v", sd["sg"], err)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"sg"}
	if r := send[*kmsg.DescribeGroupsResponse](t, cl, dg); r.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || *r.Groups[0].ErrorMessage != "Group sg is not a classic group." {
		t.Fatalf("DescribeGroups of a share group: %+v", r.Groups[0])
	}
	// Alter and delete need an empty group.
	if _, err := adm.AlterShareGroupOffsets(ctx, "sg", kadm.Offsets{"q": {0: {Topic: "q", Partition: 0, At: 1}}}); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("alter of a group with members: %v", err)
	}
	cons.Close()
	if got := shareStart(t, cl, "sg", "q"); got != 10 {
		t.Fatalf("start offset %d after consuming, want 10", got)
	}
	del, err := adm.DeleteShareGroupOffsets(ctx, "sg", "q")
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, del.Error())
	}
	if got := shareStart(t, cl, "sg", "q"); got != -1 {
		t.Fatalf("start offset %d after delete, want -1", got)
	}
	dr, err := adm.DeleteGroups(ctx, "sg")
	if err != nil || dr.Error() != nil {
		t.Fatalf("DeleteGroups: %v %v", err, dr.Error())
	}
	if r := shareDescribeErr(t, cl, "sg"); r != kerr.GroupIDNotFound {
		t.Fatalf("after DeleteGroups: %v", r)
	}
}

func shareDescribeErr(t *testing.T, cl *kgo.Client, group string) error {
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	return kerr.ErrorForCode(send[*kmsg.ShareGroupDescribeResponse](t, cl, req).Groups[0].ErrorCode)
}

// TestShareFindCoordinator: key type 2 takes "group:topicId:partition".
func TestShareFindCoordinator(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	rs := kadm.NewClient(cl).FindShareCoordinators(ctxT(t), "g:"+uuidString([16]byte{1, 2})+":0", "g:nope:0", "g:0")
	if r := rs["g:"+uuidString([16]byte{1, 2})+":0"]; r.Err != nil || r.NodeID != tb.cfg.NodeID {
		t.Errorf("valid key: %+v", r)
	}
	for _, k := range []string{"g:nope:0", "g:0"} {
		if !errors.Is(rs[k].Err, kerr.InvalidRequest) {
			t.Errorf("key %q: %v", k, rs[k].Err)
		}
	}
}

// TestShareMemberChurn: consumers join and leave while records flow;
// none is lost and none accepted is delivered again.
func TestShareMemberChurn(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 2, nil)
	setShareEarliest(t, adm, "sg")
	const n = 600
	produceN(t, adm, "q", n)

	type pk struct {
		p int32
		o int64
	}
	var mu sync.Mutex
	delivered := map[pk]int{}
	all := make(chan struct{})
	consume := func(ctx context.Context, cl *kgo.Client, limit int) {
		got := 0
		for ctx.Err() == nil && (limit == 0 || got < limit) {
			fs := cl.PollRecords(ctx, 20)
			for _, r := range fs.Records() {
				r.Ack(kgo.AckAccept)
				mu.Lock()
				delivered[pk{r.Partition, r.Offset}]++
				if len(delivered) == n && delivered[pk{r.Partition, r.Offset}] == 1 {
					close(all)
				}
				mu.Unlock()
				got++
			}
			if err := cl.FlushAcks(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("flush acks: %v", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	// Two consumers leave after 100 records each; two stay; one joins late.
	for i := range 5 {
		wg.Go(func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"), kgo.ShareMaxRecords(20))
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			switch i {
			case 0, 1:
				consume(ctx, cl, 100)
			default:
				consume(ctx, cl, 0)
			}
		})
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if len(delivered) != n {
		t.Fatalf("%d distinct records delivered, want %d", len(delivered), n)
	}
	for k, c := range delivered {
		if c != 1 {
			t.Errorf("partition %d offset %d delivered %d times", k.p, k.o, c)
		}
	}
}

// TestShareReadCommitted: with share.isolation.level=read_committed a
// share consumer gets committed transactional records only, never those
// of an aborted or still open transaction.
func TestShareReadCommitted(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	req := newShareResetReq("sg")
	req.Resources[0].Configs[0].Name, req.Resources[0].Configs[0].Value = "share.isolation.level", kmsg.StringPtr("read_committed")
	if r := send[*kmsg.IncrementalAlterConfigsResponse](t, adm, req); r.Resources[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Resources[0].ErrorCode))
	}
	txn := func(id string, values []string, commit *bool) {
		t.Helper()
		p := newClient(t, tb.addr, kgo.TransactionalID(id), kgo.DefaultProduceTopic("q"))
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if err := p.ProduceSync(ctxT(t), kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if commit != nil {
			if err := p.EndTransaction(ctxT(t), kgo.TransactionEndTry(*commit)); err != nil {
				t.Fatal(err)
			}
		}
	}
	yes, no := true, false
	txn("t1", []string{"c1", "c2"}, &yes)
	txn("t2", []string{"a1", "a2"}, &no)
	txn("t3", []string{"c3"}, &yes)
	if err := adm.ProduceSync(ctxT(t), &kgo.Record{Topic: "q", Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txn("t4", []string{"open"}, nil) // never ended: the last stable offset stays before it

	cl := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	got := pollShare(t, cl, 4, func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
	var vals []string
	for _, r := range got {
		vals = append(vals, string(r.Value))
	}
	if strings.Join(vals, ",") != "c1,c2,c3,plain" {
		t.Fatalf("read_committed share consumer got %v", vals)
	}
	if err := cl.FlushAcks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Aborted records and markers were acknowledged as gaps (archived):
	// the start offset reached the open transaction.
	open := tb.partition("q", 0).log.LastStableOffset()
	if st := shareStart(t, adm, "sg", "q"); st != open {
		t.Fatalf("start offset %d, want the last stable offset %d", st, open)
	}
}

// TestShareStateGoesWithItsTopic: deleting a topic deletes its
// share-partition state, also after a restart.
func TestShareStateGoesWithItsTopic(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "q", 1, nil)
	adm := kadm.NewClient(cl)
	if _, err := adm.AlterShareGroupOffsets(ctxT(t), "sg", kadm.Offsets{"q": {0: {Topic: "q", Partition: 0, At: 0}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctxT(t), "q"); err != nil {
		t.Fatal(err)
	}
	if err := shareDescribeErr(t, cl, "sg"); err != kerr.GroupIDNotFound {
		t.Fatalf("share group after its only topic was deleted: %v", err)
	}
	cl.Close()
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if tb2.shares.c.Exists("sg") {
		t.Fatal("share state of a deleted topic came back after a restart")
	}
}
