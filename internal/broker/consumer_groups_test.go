package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 consumer groups with franz-go's next-generation consumer
// (kgo.ServerSideBalancer). Heartbeats follow the broker's
// group.consumer.heartbeat.interval.ms (5 s), so partitions move within a
// few heartbeats: the waits are long.

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heartbeatCounter counts a client's ConsumerGroupHeartbeat responses.
type heartbeatCounter struct{ n atomic.Int64 }

func (h *heartbeatCounter) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.ConsumerGroupHeartbeat.Int16() && err == nil {
		h.n.Add(1)
	}
}

func partitionCount(a kmsg.Assignment) int {
	n := 0
	for _, t := range a.TopicPartitions {
		n += len(t.Partitions)
	}
	return n
}

func describeConsumerGroup(t *testing.T, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp := send[*kmsg.ConsumerGroupDescribeResponse](t, cl, req)
	return resp.Groups[0]
}

func TestConsumerGroupKIP848TwoMembersThenOneLeaves(t *testing.T) {
	for _, balancer := range []kgo.GroupBalancer{kgo.CooperativeStickyBalancer(), kgo.RangeBalancer()} {
		t.Run(balancer.ProtocolName(), func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, "", groupTestConfig)
			prod := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			createTopic(t, prod, "kt", 4, nil)
			produceValues(t, prod, "kt", 0, 100)
			opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(balancer)}

			a := startMember(t, tb.addr, "k1", "kt", opts...)
			eventuallyWithin(t, 30*time.Second, "the first member owning all 4 partitions and reading 100 records", func() bool {
				o, n := a.snapshot()
				return len(o) == 4 && n == 100
			})
			admin := newClient(t, tb.addr)
			d := describeConsumerGroup(t, admin, "k1")
			wantAssignor := map[string]string{"cooperative-sticky": "uniform", "range": "range"}[balancer.ProtocolName()]
			if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 1 || d.AssignorName != wantAssignor {
				t.Fatalf("describe: %+v", d)
			}

			b := startMember(t, tb.addr, "k1", "kt", opts...)
			eventuallyWithin(t, 40*time.Second, "two members owning 2 partitions each", func() bool {
				oa, _ := a.snapshot()
				ob, _ := b.snapshot()
				seen := map[int32]bool{}
				for _, p := range append(oa, ob...) {
					seen[p] = true
				}
				return len(oa) == 2 && len(ob) == 2 && len(seen) == 4
			})
			produceValues(t, prod, "kt", 100, 200)
			eventuallyWithin(t, 30*time.Second, "both members reading the new records", func() bool {
				for i := 100; i < 200; i++ {
					if v := fmt.Sprint("v", i); !a.has(v) && !b.has(v) {
						return false
					}
				}
				return true
			})
			// With stable membership each new record went to one member.
			for i := 100; i < 200; i++ {
				if v := fmt.Sprint("v", i); a.has(v) && b.has(v) {
					t.Fatalf("%s consumed by both members", v)
				}
			}
			d = describeConsumerGroup(t, admin, "k1")
			if d.State != "Stable" || len(d.Members) != 2 || d.Epoch != d.AssignmentEpoch {
				t.Fatalf("describe: %+v", d)
			}
			for _, m := range d.Members {
				if m.MemberEpoch != d.Epoch || len(m.Assignment.TopicPartitions) != 1 || len(m.Assignment.TopicPartitions[0].Partitions) != 2 || m.MemberType != 1 {
					t.Fatalf("member: %+v", m)
				}
			}

			// The group is a consumer group for the classic APIs too.
			lg := kmsg.NewPtrListGroupsRequest()
			lg.TypesFilter = []string{"consumer"}
			lresp := send[*kmsg.ListGroupsResponse](t, admin, lg)
			if len(lresp.Groups) != 1 || lresp.Groups[0].Group != "k1" || lresp.Groups[0].GroupType != "consumer" || lresp.Groups[0].GroupState != "Stable" {
				t.Fatalf("list groups: %+v", lresp.Groups)
			}
			dg := kmsg.NewPtrDescribeGroupsRequest()
			dg.Groups = []string{"k1"}
			dresp := send[*kmsg.DescribeGroupsResponse](t, admin, dg)
			if g := dresp.Groups[0]; g.ErrorCode != kerr.GroupIDNotFound.Code || g.State != "Dead" {
				t.Fatalf("DescribeGroups on a consumer group: %+v", g)
			}
			join := kmsg.NewPtrJoinGroupRequest()
			join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "k1", "consumer", 10000, 10000
			join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
			if jr := send[*kmsg.JoinGroupResponse](t, admin, join); jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
				t.Fatalf("JoinGroup on a consumer group: %v", kerr.ErrorForCode(jr.ErrorCode))
			}

			// A leaves (epoch -1 on close): B takes all four.
			a.cl.Close()
			eventuallyWithin(t, 30*time.Second, "the remaining member owning all 4 partitions", func() bool {
				o, _ := b.snapshot()
				return len(o) == 4
			})
			produceValues(t, prod, "kt", 200, 240)
			eventuallyWithin(t, 30*time.Second, "the remaining member reading every new record", func() bool {
				for i := 200; i < 240; i++ {
					if !b.has(fmt.Sprint("v", i)) {
						return false
					}
				}
				return true
			})
			// Offsets committed at member epochs are there.
			eventuallyWithin(t, 30*time.Second, "committed offsets", func() bool {
				f := kmsg.NewPtrOffsetFetchRequest()
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = "k1"
				f.Groups = append(f.Groups, rg)
				resp := send[*kmsg.OffsetFetchResponse](t, admin, f)
				total := int64(0)
				for _, tp := range resp.Groups[0].Topics {
					for _, p := range tp.Partitions {
						total += p.Offset
					}
				}
				return total == 240
			})
		})
	}
}

func TestConsumerGroupHeartbeatErrors(t *testing.T) {
	tb := startBroker(t, "", groupTestConfig)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "ke", 2, nil)
	hb := func(group, member string, epoch int32, topics []string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
		req.RebalanceTimeoutMillis = 10000
		req.SubscribedTopicNames = topics
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req)
	}
	r := hb("ke-g", "m1", 0, []string{"ke"})
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.Topics) != 1 || len(r.Assignment.Topics[0].Partitions) != 2 || r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: %+v", r)
	}
	if r := hb("ke-g", "m1", 7, []string{"ke"}); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := hb("ke-g", "m2", 1, []string{"ke"}); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := hb("ke-none", "m1", 1, []string{"ke"}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := hb("ke-g", "", 0, []string{"ke"}); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("v1 without member id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := describeConsumerGroup(t, cl, "ke-none"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", d)
	}
	if r := hb("ke-g", "m1", -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	if d := describeConsumerGroup(t, cl, "ke-g"); d.ErrorCode != 0 || d.State != "Empty" || d.Epoch != 2 {
		t.Fatalf("describe after leave: %+v", d)
	}
}

// TestConsumerGroupKIP848StaticMemberRestart closes a static member, which
// leaves with epoch -2, and starts a new process with the same instance
// id: it gets the same partitions back, the group epoch does not move,
// and the other member never gets the departed member's partitions.
func TestConsumerGroupKIP848StaticMemberRestart(t *testing.T) {
	tb := startBroker(t, "", groupTestConfig)
	prod := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, prod, "ks", 4, nil)
	admin := newClient(t, tb.addr)
	a := startMember(t, tb.addr, "ks1", "ks", kgo.ServerSideBalancer(), kgo.InstanceID("ia"))
	var bBeats heartbeatCounter
	b := startMember(t, tb.addr, "ks1", "ks", kgo.ServerSideBalancer(), kgo.InstanceID("ib"), kgo.WithHooks(&bBeats))
	eventuallyWithin(t, 40*time.Second, "two static members owning 2 partitions each", func() bool {
		oa, _ := a.snapshot()
		ob, _ := b.snapshot()
		return len(oa) == 2 && len(ob) == 2 && describeConsumerGroup(t, admin, "ks1").State == "Stable"
	})
	aOwned, _ := a.snapshot()
	before := describeConsumerGroup(t, admin, "ks1")

	// franz-go's static leave (epoch -2) carries no instance id, which
	// Kafka refuses with INVALID_REQUEST ("InstanceId can't be null."), as
	// does sluice; the test sends the leave a correct client sends.
	var aID string
	for _, m := range before.Members {
		if m.InstanceID != nil && *m.InstanceID == "ia" {
			aID = m.MemberID
		}
	}
	a.cl.Close()
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch = "ks1", aID, -2
	if r := send[*kmsg.ConsumerGroupHeartbeatResponse](t, admin, leave); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("static leave without instance id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	inst := "ia"
	leave.InstanceID = &inst
	if r := send[*kmsg.ConsumerGroupHeartbeatResponse](t, admin, leave); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	for _, m := range describeConsumerGroup(t, admin, "ks1").Members {
		if m.MemberID == aID && m.MemberEpoch != -2 {
			t.Fatalf("departed static member at epoch %d", m.MemberEpoch)
		}
	}
	if d := describeConsumerGroup(t, admin, "ks1"); d.Epoch != before.Epoch || len(d.Members) != 2 {
		t.Fatalf("after the static member left: %+v", d)
	}
	// b must not take a's partitions: two heartbeats of b after the leave
	// (the first would carry a new assignment, the second shows b acted
	// on it), and the coordinator's assignment and target for b are
	// still its two partitions.
	since := bBeats.n.Load()
	eventuallyWithin(t, 40*time.Second, "two heartbeats of b after the leave", func() bool { return bBeats.n.Load() >= since+2 })
	if ob, _ := b.snapshot(); len(ob) != 2 {
		t.Fatalf("the other member took a departed static member's partitions: %v", ob)
	}
	for _, m := range describeConsumerGroup(t, admin, "ks1").Members {
		if m.InstanceID != nil && *m.InstanceID == "ib" && (partitionCount(m.Assignment) != 2 || partitionCount(m.TargetAssignment) != 2) {
			t.Fatalf("the coordinator assigns b %d partitions (target %d), want 2", partitionCount(m.Assignment), partitionCount(m.TargetAssignment))
		}
	}

	a2 := startMember(t, tb.addr, "ks1", "ks", kgo.ServerSideBalancer(), kgo.InstanceID("ia"))
	eventuallyWithin(t, 30*time.Second, "the restarted instance owning its partitions", func() bool {
		o, _ := a2.snapshot()
		return len(o) == 2
	})
	o2, _ := a2.snapshot()
	if fmt.Sprint(sorted(o2)) != fmt.Sprint(sorted(aOwned)) {
		t.Fatalf("restarted instance owns %v, had %v", o2, aOwned)
	}
	if ob, _ := b.snapshot(); len(ob) != 2 {
		t.Fatalf("the other member owns %v", ob)
	}
	if d := describeConsumerGroup(t, admin, "ks1"); d.Epoch != before.Epoch || d.State != "Stable" {
		t.Fatalf("after the restart: epoch %d → %d, %s", before.Epoch, d.Epoch, d.State)
	}
}

func sorted(ps []int32) []int32 {
	out := append([]int32(nil), ps...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
