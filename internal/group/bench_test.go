package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
)

// benchCoordinator's writes are encoded as the broker would (one record
// batch) and dropped, then reported applied: coordinator time plus
// encoding, without the log.
func benchCoordinator(b *testing.B, now *time.Time, topics ...TopicInfo) *Coordinator {
	ids := 0
	var c *Coordinator
	bytes := 0
	c = New(Config{Now: func() time.Time { return *now }, InitialRebalanceDelay: time.Second,
		Write: func(w *Write) {
			kvs := make([]log.KV, len(w.Records))
			for i, r := range w.Records {
				kvs[i] = log.KV(r)
			}
			bytes += len(log.EncodeBatch(kvs, 0, w.ProducerID, w.ProducerEpoch, w.ProducerID >= 0))
			c.Applied(w, nil)
		},
		NewID:  func() string { ids++; return fmt.Sprint(ids) },
		Topics: func() []TopicInfo { return topics }})
	return c
}

// BenchmarkClassicRebalance20x200 is one complete classic rebalance of 20
// members over 200 partitions: every member rejoins, the leader syncs an
// assignment of 10 partitions to each, every member gets it. The time is
// the coordinator's (the assignment is computed by the client).
func BenchmarkClassicRebalance20x200(b *testing.B) {
	now := time.UnixMilli(1_700_000_000_000)
	c := benchCoordinator(b, &now)
	const members, partitions = 20, 200
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"t"}
	meta := md.AppendTo(nil)
	assignments := make([][]byte, members)
	for i := range assignments {
		a := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = "t"
		for p := i; p < partitions; p += members {
			at.Partitions = append(at.Partitions, int32(p))
		}
		a.Topics = append(a.Topics, at)
		assignments[i] = a.AppendTo(nil)
	}
	join := func(id string) *kmsg.JoinGroupRequest {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version, r.Group, r.MemberID, r.ProtocolType = 9, "g", id, "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 30000
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta}}
		return r
	}
	// Members get their ids (KIP-394) and form generation 1 once (the
	// initial delay gathers them).
	ids := make([]string, members)
	for i := range ids {
		c.JoinGroup(join(""), "c", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) { ids[i] = r.MemberID })
		c.JoinGroup(join(ids[i]), "c", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) {})
	}
	for range 5 { // the initial delay, extended once per new member
		now = now.Add(time.Second)
		c.Tick(now)
	}
	var leader string
	for _, id := range ids {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version, r.Group, r.MemberID, r.Generation = 5, "g", id, 1
		r.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{}
		for j, o := range ids {
			r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: o, MemberAssignment: assignments[j]})
		}
		c.SyncGroup(r, func(*kmsg.SyncGroupResponse) {})
	}
	if d, _ := c.DescribeGroup("g"); d.State != "Stable" || len(d.Members) != members {
		b.Fatalf("setup: %s with %d members", d.State, len(d.Members))
	}
	b.ReportAllocs()
	b.ResetTimer()
	prevGen := int32(1)
	for b.Loop() {
		var gen int32
		answered := 0
		// The leader's rejoin starts the rebalance; it completes when the
		// last member has rejoined.
		for _, id := range ids {
			c.JoinGroup(join(id), "c", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) {
				if r.ErrorCode != 0 {
					b.Fatal(kerr.ErrorForCode(r.ErrorCode))
				}
				gen, leader = r.Generation, r.LeaderID
				answered++
			})
		}
		if answered != members || gen != prevGen+1 {
			b.Fatalf("%d joins answered, generation %d after %d", answered, gen, prevGen)
		}
		prevGen = gen
		synced := 0
		for _, id := range ids {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Version, r.Group, r.MemberID, r.Generation = 5, "g", id, gen
			if id == leader {
				for j, o := range ids {
					r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: o, MemberAssignment: assignments[j]})
				}
			}
			c.SyncGroup(r, func(r *kmsg.SyncGroupResponse) {
				if r.ErrorCode != 0 {
					b.Fatal(kerr.ErrorForCode(r.ErrorCode))
				}
				synced++
			})
		}
		if synced != members {
			b.Fatalf("%d syncs answered", synced)
		}
	}
}

// BenchmarkConsumerRebalance20x200 is a KIP-848 group of 20 members over
// 200 partitions (two topics) converging from nothing: every member joins,
// then all heartbeat (reporting what they own) until the group is Stable,
// with the server-side assignor given.
func BenchmarkConsumerRebalance20x200(b *testing.B) {
	for _, assignor := range []string{"uniform", "range"} {
		b.Run(assignor, func(b *testing.B) {
			now := time.UnixMilli(1_700_000_000_000)
			topics := []TopicInfo{{Name: "a", ID: [16]byte{1}, Partitions: 120}, {Name: "b", ID: [16]byte{2}, Partitions: 80}}
			b.ReportAllocs()
			rounds := 0
			for b.Loop() {
				c := benchCoordinator(b, &now, topics...)
				h := &harness{c: c, topics: topics}
				var cls []*client
				for i := range 20 {
					cl := h.client("g", fmt.Sprint("member-", i), "a", "b")
					cl.assignor = assignor
					if code := cl.join(); code != 0 {
						b.Fatal(kerr.ErrorForCode(code))
					}
					cls = append(cls, cl)
				}
				for c.DescribeConsumerGroup("g").State != "Stable" {
					for _, cl := range cls {
						if code := cl.heartbeat(); code != 0 {
							b.Fatal(kerr.ErrorForCode(code))
						}
					}
					rounds++
				}
				owned := 0
				for _, cl := range cls {
					owned += len(cl.owned)
				}
				if owned != 200 {
					b.Fatalf("%d partitions owned", owned)
				}
			}
			b.ReportMetric(float64(rounds)/float64(b.N), "heartbeat-rounds/op")
		})
	}
}

// BenchmarkOffsetCommit is one OffsetCommit of one partition by a member
// of a Stable classic group, as auto-commit sends it, through the
// coordinator and the record encoding (not the log).
func BenchmarkOffsetCommit(b *testing.B) {
	now := time.UnixMilli(1_700_000_000_000)
	c := benchCoordinator(b, &now)
	var id string
	c.JoinGroup(&kmsg.JoinGroupRequest{Version: 3, Group: "g", ProtocolType: "consumer", SessionTimeoutMillis: 10000,
		RebalanceTimeoutMillis: 10000, Protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}},
		"c", "/h", func(r *kmsg.JoinGroupResponse) { id = r.MemberID })
	now = now.Add(2 * time.Second)
	c.Tick(now) // the initial delay
	c.SyncGroup(&kmsg.SyncGroupRequest{Version: 3, Group: "g", MemberID: id, Generation: 1,
		GroupAssignment: []kmsg.SyncGroupRequestGroupAssignment{{MemberID: id, MemberAssignment: []byte{}}}}, func(*kmsg.SyncGroupResponse) {})
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 8, "g", id, 1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		req.Topics[0].Partitions[0].Offset = i
		if resp := commitSync(c, req); resp.Topics[0].Partitions[0].ErrorCode != 0 {
			b.Fatal(kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
		}
	}
}
