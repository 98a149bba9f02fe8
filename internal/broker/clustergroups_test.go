package broker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/group"
)

// clusterGroupConfig makes rebalances start at once.
var clusterGroupConfig = map[string]string{"group.initial.rebalance.delay.ms": "0"}

// waitLed polls until every partition of each topic has a leader.
func waitLed(t *testing.T, ctx context.Context, adm *kadm.Client, topics ...string) {
	t.Helper()
	clusterEventually(t, fmt.Sprintf("every partition of %v led", topics), func() error {
		m, err := adm.Metadata(ctx, topics...)
		if err != nil {
			return err
		}
		for _, name := range topics {
			td, ok := m.Topics[name]
			if !ok || td.Err != nil || len(td.Partitions) == 0 {
				return fmt.Errorf("topic %s: %v", name, td.Err)
			}
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 {
					return fmt.Errorf("%s-%d: %v", name, p.Partition, p.Err)
				}
			}
		}
		return nil
	})
}

// produceRange produces values first..first+n-1 to orders, partition
// value%4, through a client bootstrapped at b.
func produceRange(t *testing.T, ctx context.Context, b *Broker, first, n int) {
	t.Helper()
	prod := mustClient(t, b, kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(10*time.Millisecond))
	defer prod.Close()
	for i := first; i < first+n; i++ {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// clusterGroupMember is a new member of group g bootstrapped at b, consuming
// orders from the start (when the group has no offsets) with manual
// commits. The session timeout is Kafka's minimum, 6 s: should the
// coordinator's broker stop before a leave's write is durable, the member
// replayed from the group's last metadata record expires after it and a
// new member's join completes.
func clusterGroupMember(t *testing.T, b *Broker, g string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.MetadataMinAge(10 * time.Millisecond), kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond), kgo.RebalanceTimeout(10 * time.Second)}
	return mustClient(t, b, append(base, opts...)...)
}

// pollRange polls cl until it has the n values first..first+n-1, failing
// at any other value (one below first means the committed offsets were
// lost). A value seen twice is allowed (a rebalance on a loaded machine
// may deliver uncommitted records again).
func pollRange(t *testing.T, ctx context.Context, cl *kgo.Client, what string, first, n int) {
	t.Helper()
	got := map[int]bool{}
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s: consumed %d of %d: %v", what, len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("%s: fetch %s-%d: %v", what, topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			if v < first || v >= first+n {
				t.Fatalf("%s: record %d at %s-%d@%d, want [%d, %d)", what, v, r.Topic, r.Partition, r.Offset, first, first+n)
			}
			got[v] = true
		})
	}
}

// consumeGroup joins group g at b as a new member, consumes the values
// first..first+n-1 (pollRange), commits and leaves.
func consumeGroup(t *testing.T, ctx context.Context, b *Broker, g string, first, n int, opts ...kgo.Opt) {
	t.Helper()
	cl := clusterGroupMember(t, b, g, opts...)
	pollRange(t, ctx, cl, fmt.Sprintf("group %s at node %d", g, b.cfg.NodeID), first, n)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close() // leaves the group
}

// wantCommitted checks, through a client bootstrapped at b, that group g
// committed offset each for every partition of orders (polling: the
// coordinator may be loading or moving).
func wantCommitted(t *testing.T, ctx context.Context, b *Broker, g string, each int64) {
	t.Helper()
	adm := kadm.NewClient(mustClient(t, b, kgo.MetadataMinAge(10*time.Millisecond)))
	clusterEventually(t, fmt.Sprintf("group %s committed %d per partition, read at node %d", g, each, b.cfg.NodeID), func() error {
		offs, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			return err
		}
		if err := offs.Error(); err != nil {
			return err
		}
		for p := range int32(4) {
			o, ok := offs.Lookup("orders", p)
			if !ok || o.Err != nil || o.At != each {
				return fmt.Errorf("orders-%d: %+v (found %v)", p, o, ok)
			}
		}
		return nil
	})
}

// askNode sends req to broker b itself (kgo would route a group request
// to the group's coordinator).
func askNode(t *testing.T, ctx context.Context, b *Broker, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	cl := mustClient(t, b)
	defer cl.Close()
	return cl.Broker(int(b.cfg.NodeID)).Request(ctx, req)
}

// groupCoordinatorAt is group g's coordinator as broker b names it.
func groupCoordinatorAt(t *testing.T, ctx context.Context, b *Broker, g string) (int32, error) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorKeys = g, []string{g}
	r, err := askNode(t, ctx, b, req)
	if err != nil {
		return -1, err
	}
	resp := r.(*kmsg.FindCoordinatorResponse)
	if len(resp.Coordinators) == 1 { // v4+
		c := resp.Coordinators[0]
		return c.NodeID, kerr.ErrorForCode(c.ErrorCode)
	}
	return resp.NodeID, kerr.ErrorForCode(resp.ErrorCode)
}

// TestClusterConsumerGroupFailover: a group's offsets are committed at its
// coordinator (the leader of its __consumer_offsets partition), read by a
// member bootstrapped at the other broker, and survive the coordinator's
// broker closing: the survivor replays the partition and the group
// continues from the committed offsets.
func TestClusterConsumerGroupFailover(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerKafka(t, e, 1, s3, clusterGroupConfig)
	b2 := startClusterBrokerKafka(t, e, 2, s3, clusterGroupConfig)
	brokers := map[int32]*Broker{1: b1, 2: b2}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	waitLed(t, ctx, adm, "orders", group.TopicName)
	m, err := adm.Metadata(ctx, group.TopicName)
	if err != nil {
		t.Fatal(err)
	}
	if td := m.Topics[group.TopicName]; !td.IsInternal || len(td.Partitions) != 50 {
		t.Fatalf("%s: internal %v, %d partitions; want internal, 50", group.TopicName, td.IsInternal, len(td.Partitions))
	}

	// (a) A member bootstrapped at broker 1 consumes and commits; one
	// bootstrapped at broker 2 resumes from the commit.
	const g = "billing"
	produceRange(t, ctx, b2, 0, 40)
	consumeGroup(t, ctx, b1, g, 0, 40)
	wantCommitted(t, ctx, b2, g, 10)
	produceRange(t, ctx, b1, 40, 40)
	consumeGroup(t, ctx, b2, g, 40, 40)
	wantCommitted(t, ctx, b1, g, 20)
	// A KIP-848 group (ConsumerGroupHeartbeat, server-side assignment
	// over the topics in etcd) at its coordinator too.
	kip848 := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	consumeGroup(t, ctx, b1, "ledger", 0, 80, kip848...)
	wantCommitted(t, ctx, b2, "ledger", 20)

	// Both brokers name the same coordinator.
	var coord int32
	clusterEventually(t, "both brokers name the group's coordinator", func() error {
		c1, err := groupCoordinatorAt(t, ctx, b1, g)
		if err != nil {
			return err
		}
		c2, err := groupCoordinatorAt(t, ctx, b2, g)
		if err != nil {
			return err
		}
		if c1 != c2 || brokers[c1] == nil {
			return fmt.Errorf("broker 1 names %d, broker 2 names %d", c1, c2)
		}
		coord = c1
		return nil
	})
	survivor := brokers[3-coord]

	// (b) The coordinator's broker closes: the survivor acquires the
	// group's partition, replays it, and the group continues from its
	// committed offsets with no record lost or repeated.
	brokers[coord].Close()
	clusterEventually(t, "the survivor coordinates the group", func() error {
		c, err := groupCoordinatorAt(t, ctx, survivor, g)
		if err != nil {
			return err
		}
		if c != survivor.cfg.NodeID {
			return fmt.Errorf("coordinator %d", c)
		}
		return nil
	})
	wantCommitted(t, ctx, survivor, g, 20)
	produceRange(t, ctx, survivor, 80, 40)
	consumeGroup(t, ctx, survivor, g, 80, 40)
	wantCommitted(t, ctx, survivor, g, 30)
	groups, err := kadm.NewClient(mustClient(t, survivor)).ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups[g]; !ok {
		t.Fatalf("ListGroups at the survivor: %v, want %s", groups.Groups(), g)
	}
}

// TestClusterGroupNotCoordinator: a broker that does not lead a group's
// partition of __consumer_offsets answers NOT_COORDINATOR for it, and so
// does a coordinator whose leadership was taken over in etcd (its append
// is fenced) for the commit it could not make durable.
func TestClusterGroupNotCoordinator(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerKafka(t, e, 1, s3, clusterGroupConfig)
	b2 := startClusterBrokerKafka(t, e, 2, s3, clusterGroupConfig)
	brokers := map[int32]*Broker{1: b1, 2: b2}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	clusterEventually(t, "both brokers live", func() error {
		fresh := mustClient(t, b1) // kgo answers Metadata from its cache
		defer fresh.Close()
		m, err := kadm.NewClient(fresh).BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 2 {
			return fmt.Errorf("%d brokers", len(m.Brokers))
		}
		return nil
	})
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	waitLed(t, ctx, adm, group.TopicName, "orders")
	const g = "audit"
	var coord int32
	clusterEventually(t, "the group's coordinator", func() error {
		var err error
		coord, err = groupCoordinatorAt(t, ctx, b2, g)
		return err
	})
	other := brokers[3-coord]
	if other == nil {
		t.Fatalf("coordinator %d", coord)
	}
	// Transactional ids have no coordinator in cluster mode.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"txn"}
	r, err := askNode(t, ctx, other, fc)
	if err != nil {
		t.Fatal(err)
	}
	if cs := r.(*kmsg.FindCoordinatorResponse).Coordinators; len(cs) != 1 || cs[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator for a transactional id: %+v", cs)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = g, "m", 1
	r, err = askNode(t, ctx, other, hb)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(r.(*kmsg.HeartbeatResponse).ErrorCode); err != kerr.NotCoordinator {
		t.Fatalf("Heartbeat at node %d: %v, want NOT_COORDINATOR", other.cfg.NodeID, err)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = g
	of.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	r, err = askNode(t, ctx, other, of)
	if err != nil {
		t.Fatal(err)
	}
	ofResp := r.(*kmsg.OffsetFetchResponse)
	if len(ofResp.Groups) != 1 || kerr.ErrorForCode(ofResp.Groups[0].ErrorCode) != kerr.NotCoordinator {
		t.Fatalf("OffsetFetch at node %d: %+v, want NOT_COORDINATOR", other.cfg.NodeID, ofResp.Groups)
	}
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = g, "consumer", 10000, 10000
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	r, err = askNode(t, ctx, other, jg)
	if err != nil {
		t.Fatal(err)
	}
	jgResp := r.(*kmsg.JoinGroupResponse)
	if kerr.ErrorForCode(jgResp.ErrorCode) != kerr.NotCoordinator {
		t.Fatalf("JoinGroup at node %d: %v, want NOT_COORDINATOR", other.cfg.NodeID, kerr.ErrorForCode(jgResp.ErrorCode))
	}
	// The coordinator itself takes the group.
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{g}
	r, err = askNode(t, ctx, brokers[coord], desc)
	if err != nil {
		t.Fatal(err)
	}
	dResp := r.(*kmsg.DescribeGroupsResponse)
	if len(dResp.Groups) != 1 || dResp.Groups[0].ErrorCode == kerr.NotCoordinator.Code {
		t.Fatalf("DescribeGroups at the coordinator: %+v", dResp.Groups)
	}

	commit := func() int16 {
		t.Helper()
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Group, oc.Generation = g, -1
		ot := kmsg.NewOffsetCommitRequestTopic()
		ot.Topic = "orders"
		op := kmsg.NewOffsetCommitRequestTopicPartition()
		op.Partition, op.Offset = 0, 7
		ot.Partitions = []kmsg.OffsetCommitRequestTopicPartition{op}
		oc.Topics = []kmsg.OffsetCommitRequestTopic{ot}
		r, err := askNode(t, ctx, brokers[coord], oc)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.OffsetCommitResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetCommit: %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(); code != 0 {
		t.Fatalf("OffsetCommit at the coordinator: %v", kerr.ErrorForCode(code))
	}
	// Another leader takes the group's partition over in etcd (a new
	// leaders/ key: what a broker acquiring after this one's lease ended
	// makes). The coordinator still believes it leads; its append is
	// fenced and the commit answers NOT_COORDINATOR, not success.
	ti, ok := brokers[coord].cl.topic(group.TopicName)
	if !ok {
		t.Fatal("no " + group.TopicName)
	}
	key := "/sluice/test/leaders/" + ti.Partition(group.PartitionFor(g, ti.Partitions)).String()
	raw := e.Raw(t)
	cur, err := raw.Get(ctx, key)
	if err != nil || len(cur.Kvs) != 1 {
		t.Fatalf("leader key %s: %v %v", key, err, cur)
	}
	if _, err := raw.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, key, string(cur.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	if code := commit(); code != kerr.NotCoordinator.Code {
		t.Fatalf("OffsetCommit at a fenced coordinator: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
}

// TestClusterGroupMemberFollowsCoordinator: a member keeps consuming and
// committing while its group's coordinator moves. The coordinator's
// broker closes; the survivor replays the group (its member included,
// with a fresh session), the member finds it and heartbeats and commits
// there, and no record is lost.
func TestClusterGroupMemberFollowsCoordinator(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerKafka(t, e, 1, s3, clusterGroupConfig)
	b2 := startClusterBrokerKafka(t, e, 2, s3, clusterGroupConfig)
	brokers := map[int32]*Broker{1: b1, 2: b2}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	waitLed(t, ctx, adm, "orders", group.TopicName)
	const g = "live"
	var coord int32
	clusterEventually(t, "both brokers live, the group's coordinator", func() error {
		fresh := mustClient(t, b1) // kgo answers Metadata from its cache
		defer fresh.Close()
		m, err := kadm.NewClient(fresh).BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 2 {
			return fmt.Errorf("%d brokers", len(m.Brokers))
		}
		coord, err = groupCoordinatorAt(t, ctx, b1, g)
		return err
	})
	survivor := brokers[3-coord]
	if survivor == nil {
		t.Fatalf("coordinator %d", coord)
	}
	produceRange(t, ctx, survivor, 0, 40)
	member := clusterGroupMember(t, survivor, g)
	pollRange(t, ctx, member, "before the move", 0, 40)
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	brokers[coord].Close()
	produceRange(t, ctx, survivor, 40, 40)
	pollRange(t, ctx, member, "after the move", 40, 40)
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit after the move: %v", err)
	}
	wantCommitted(t, ctx, survivor, g, 20)
	if c, err := groupCoordinatorAt(t, ctx, survivor, g); err != nil || c != survivor.cfg.NodeID {
		t.Fatalf("coordinator after the move: %d %v", c, err)
	}
}
