package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var groupTestConfig = map[string]string{"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "500"}

// groupMember is a franz-go group consumer that records what it consumed
// and which partitions it owns.
type groupMember struct {
	cl *kgo.Client

	mu       sync.Mutex
	owned    map[int32]bool
	consumed map[string]bool
}

func startMember(t *testing.T, addr, groupID, topic string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{owned: map[int32]bool{}, consumed: map[string]bool{}}
	base := []kgo.Opt{
		kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.AutoCommitInterval(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			cl.CommitMarkedOffsets(ctx)
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			for _, p := range l[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(addr)}, base...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				m.mu.Lock()
				m.consumed[string(r.Value)] = true
				m.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return m
}

func (m *groupMember) snapshot() (owned []int32, consumed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.owned {
		owned = append(owned, p)
	}
	return owned, len(m.consumed)
}

func (m *groupMember) has(v string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.consumed[v]
}

// eventually polls cond every 20 ms for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func produceValues(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: []byte(fmt.Sprint("v", i))})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestGroupTwoMembersSplitPartitionsAndResumeAfterRestart(t *testing.T) {
	for _, balancer := range []kgo.GroupBalancer{kgo.RangeBalancer(), kgo.CooperativeStickyBalancer()} {
		t.Run(balancer.ProtocolName(), func(t *testing.T) {
			dir := t.TempDir()
			tb := startBroker(t, dir, groupTestConfig)
			prod := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			createTopic(t, prod, "gt", 4, nil)
			produceValues(t, prod, "gt", 0, 200)

			a := startMember(t, tb.addr, "g1", "gt", kgo.Balancers(balancer))
			b := startMember(t, tb.addr, "g1", "gt", kgo.Balancers(balancer))
			eventually(t, "two members splitting 4 partitions and consuming everything", func() bool {
				oa, ca := a.snapshot()
				ob, cb := b.snapshot()
				seen := map[int32]int{}
				for _, p := range append(oa, ob...) {
					seen[p]++
				}
				return len(oa) == 2 && len(ob) == 2 && len(seen) == 4 && ca+cb >= 200
			})
			// Each partition was consumed by exactly one member.
			for i := range 200 {
				v := fmt.Sprint("v", i)
				if ina, inb := a.has(v), b.has(v); ina == inb {
					t.Fatalf("%s consumed by both or neither (a %v, b %v)", v, ina, inb)
				}
			}
			adm := kadm.NewClient(newClient(t, tb.addr))
			eventually(t, "committed offsets at the end", func() bool {
				os, err := adm.FetchOffsets(ctxT(t), "g1")
				if err != nil {
					return false
				}
				total := int64(0)
				os.Each(func(o kadm.OffsetResponse) { total += o.At })
				return total == 200
			})
			dg, err := adm.DescribeGroups(ctxT(t), "g1")
			if err != nil || dg["g1"].State != "Stable" || len(dg["g1"].Members) != 2 || dg["g1"].Protocol != balancer.ProtocolName() {
				t.Fatalf("describe: %+v %v", dg["g1"], err)
			}
			a.cl.Close()
			b.cl.Close()
			tb.stop(t)

			tb2 := startBroker(t, dir, groupTestConfig)
			prod2 := newClient(t, tb2.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produceValues(t, prod2, "gt", 200, 240)
			c := startMember(t, tb2.addr, "g1", "gt", kgo.Balancers(balancer))
			// Every new record is consumed; a partition that lost its
			// committed offset would have handed out its old records
			// (before the new ones, in offset order) first.
			eventually(t, "the 40 new records after restart", func() bool {
				for i := 200; i < 240; i++ {
					if !c.has(fmt.Sprint("v", i)) {
						return false
					}
				}
				return true
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			for v := range c.consumed {
				var i int
				fmt.Sscanf(v, "v%d", &i)
				if i < 200 {
					t.Fatalf("re-consumed %s: committed offsets were not kept across the restart", v)
				}
			}
		})
	}
}

func TestGroupMemberThatStopsHeartbeatingIsExpelled(t *testing.T) {
	tb := startBroker(t, "", groupTestConfig)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "hb", 4, nil)

	// A hand-driven member: joins, syncs, then never heartbeats.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "g2", 1000, 5000, "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"hb"}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	jr := send[*kmsg.JoinGroupResponse](t, cl, join)
	if jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: error %d, want MEMBER_ID_REQUIRED", jr.ErrorCode)
	}
	join.MemberID = jr.MemberID
	jr = send[*kmsg.JoinGroupResponse](t, cl, join)
	if jr.ErrorCode != 0 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 {
		t.Fatalf("second join: %+v", jr)
	}
	asg := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = "hb", []int32{0, 1, 2, 3}
	asg.Topics = append(asg.Topics, at)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g2", jr.MemberID, jr.Generation
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = jr.MemberID, asg.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	if sr := send[*kmsg.SyncGroupResponse](t, cl, sync); sr.ErrorCode != 0 || len(sr.MemberAssignment) == 0 {
		t.Fatalf("sync: %+v", sr)
	}

	// A franz-go member joins; once the silent member's session expires the
	// franz-go member owns all four partitions.
	m := startMember(t, tb.addr, "g2", "hb", kgo.Balancers(kgo.RangeBalancer()))
	eventually(t, "the live member owning every partition", func() bool { o, _ := m.snapshot(); return len(o) == 4 })
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g2", jr.MemberID, jr.Generation
	if r := send[*kmsg.HeartbeatResponse](t, cl, hb); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expelled member's heartbeat: error %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
}

func TestGroupAdminAPIs(t *testing.T) {
	tb := startBroker(t, "", groupTestConfig)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "adm", 2, nil)
	adm := kadm.NewClient(cl)
	// Simple (generation -1) commits to a group with no members.
	os := kadm.Offsets{}
	os.AddOffset("adm", 0, 5, -1)
	os.AddOffset("adm", 1, 7, -1)
	if r, err := adm.CommitOffsets(ctxT(t), "simple", os); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	fo, err := adm.FetchOffsets(ctxT(t), "simple")
	if err != nil || fo["adm"][0].At != 5 || fo["adm"][1].At != 7 {
		t.Fatalf("fetch: %v %v", fo, err)
	}
	lg, err := adm.ListGroups(ctxT(t))
	if err != nil || len(lg) != 1 || lg["simple"].State != "Empty" {
		t.Fatalf("list: %v %v", lg, err)
	}
	// A commit with a generation to a group that does not exist:
	// GROUP_ID_NOT_FOUND at v9 (negotiated here), as Kafka; older versions
	// get ILLEGAL_GENERATION.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation, oc.MemberID = "nogroup", 3, "m"
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "adm"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if r := send[*kmsg.OffsetCommitResponse](t, cl, oc); r.Topics[0].Partitions[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("commit with generation to unknown group: %+v", r)
	}
	// OffsetDelete, then DeleteGroups.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "simple"
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = "adm"
	dt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	od.Topics = append(od.Topics, dt)
	if r := send[*kmsg.OffsetDeleteResponse](t, cl, od); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", r)
	}
	fo, _ = adm.FetchOffsets(ctxT(t), "simple")
	if _, ok := fo["adm"][0]; ok {
		t.Fatalf("offset of partition 0 still there: %v", fo)
	}
	dr, err := adm.DeleteGroups(ctxT(t), "simple", "missing")
	if err != nil || dr["simple"].Err != nil || dr["missing"].Err != kerr.GroupIDNotFound {
		t.Fatalf("delete groups: %v %v", dr, err)
	}
	// Restart: the deleted group stays deleted (tombstones replayed).
	dir := tb.dir
	cl.Close()
	tb.stop(t)
	tb2 := startBroker(t, dir, groupTestConfig)
	adm2 := kadm.NewClient(newClient(t, tb2.addr))
	if lg, err := adm2.ListGroups(ctxT(t)); err != nil || len(lg) != 0 {
		t.Fatalf("groups after restart: %v %v", lg, err)
	}
	// FindCoordinator: this broker for groups and transactions.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"a", "b"}
	r := send[*kmsg.FindCoordinatorResponse](t, newClient(t, tb2.addr), fc)
	if len(r.Coordinators) != 2 || r.Coordinators[0].NodeID != 1 || r.Coordinators[1].Port != tb2.lns[0].advertise.port {
		t.Fatalf("find coordinator: %+v", r)
	}
	fc.CoordinatorType = 1
	r = send[*kmsg.FindCoordinatorResponse](t, newClient(t, tb2.addr), fc)
	if r.Coordinators[0].ErrorCode != 0 || r.Coordinators[0].NodeID != 1 {
		t.Fatalf("transaction coordinator: %+v", r)
	}
	// __consumer_offsets is an internal topic in Metadata.
	md := send[*kmsg.MetadataResponse](t, newClient(t, tb2.addr), kmsg.NewPtrMetadataRequest())
	found := false
	for _, mt := range md.Topics {
		if mt.Topic != nil && *mt.Topic == "__consumer_offsets" {
			found = mt.IsInternal && len(mt.Partitions) == 50
		}
	}
	if !found {
		t.Fatal("__consumer_offsets missing from Metadata or not internal with 50 partitions")
	}
}
