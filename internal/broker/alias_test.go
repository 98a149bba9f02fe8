package broker

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request frames of Produce go back to a pool once answered (conn.go);
// kmsg decodes []byte fields as slices of the frame. These tests check that
// no state outlives its frame: group protocol metadata and assignments
// must read back exactly after thousands of later requests, with and
// without every released frame being overwritten.

// consumerMeta is a consumer protocol's JoinGroup metadata subscribing to
// topics, padded with userData so its frame lands in a given size class.
func consumerMeta(userData []byte, topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	m.UserData = userData
	return m.AppendTo(nil)
}

// consumerAssignment assigns partitions of topic.
func consumerAssignment(topic string, userData []byte, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, partitions
	a.Topics = append(a.Topics, at)
	a.UserData = userData
	return a.AppendTo(nil)
}

// joinAndSync makes a lone member of a classic consumer group with the
// given JoinGroup metadata, has it (the leader) assign itself assignment,
// and returns its member id and generation.
func joinAndSync(t testing.TB, cl *kgo.Client, group string, meta, assignment []byte) (string, int32) {
	t.Helper()
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType = group, "consumer"
	jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = 60000, 60000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta
	jg.Protocols = append(jg.Protocols, p)
	jr := send[*kmsg.JoinGroupResponse](t, cl, jg)
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		jg.MemberID = jr.MemberID
		jr = send[*kmsg.JoinGroupResponse](t, cl, jg)
	}
	if jr.ErrorCode != 0 || jr.LeaderID != jr.MemberID {
		t.Fatalf("join %s: %v leader %q member %q", group, kerr.ErrorForCode(jr.ErrorCode), jr.LeaderID, jr.MemberID)
	}
	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.MemberID, sg.Generation = group, jr.MemberID, jr.Generation
	sg.ProtocolType, sg.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = jr.MemberID, assignment
	sg.GroupAssignment = append(sg.GroupAssignment, sa)
	sr := send[*kmsg.SyncGroupResponse](t, cl, sg)
	if sr.ErrorCode != 0 || !bytes.Equal(sr.MemberAssignment, assignment) {
		t.Fatalf("sync %s: %v, assignment %x", group, kerr.ErrorForCode(sr.ErrorCode), sr.MemberAssignment)
	}
	return jr.MemberID, jr.Generation
}

// checkGroupState asserts DescribeGroups returns exactly meta and
// assignment for the group's one member, and that OffsetDelete of the
// subscribed topic is GROUP_SUBSCRIBED_TO_TOPIC and keeps the offset.
func checkGroupState(t *testing.T, cl *kgo.Client, group, topic string, meta, assignment []byte) {
	t.Helper()
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	dr := send[*kmsg.DescribeGroupsResponse](t, cl, dg)
	if len(dr.Groups) != 1 || dr.Groups[0].ErrorCode != 0 || len(dr.Groups[0].Members) != 1 {
		t.Fatalf("describe %s: %+v", group, dr.Groups)
	}
	m := dr.Groups[0].Members[0]
	if !bytes.Equal(m.ProtocolMetadata, meta) {
		t.Errorf("%s: DescribeGroups metadata\n%x\nwant the member's JoinGroup metadata\n%x", group, m.ProtocolMetadata, meta)
	}
	if !bytes.Equal(m.MemberAssignment, assignment) {
		t.Errorf("%s: DescribeGroups assignment\n%x\nwant the leader's SyncGroup assignment\n%x", group, m.MemberAssignment, assignment)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	ot := kmsg.NewOffsetDeleteRequestTopic()
	ot.Topic = topic
	ot.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	od.Topics = append(od.Topics, ot)
	or := send[*kmsg.OffsetDeleteResponse](t, cl, od)
	if or.ErrorCode != 0 || len(or.Topics) != 1 || or.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Errorf("%s: OffsetDelete of a subscribed topic: %+v, want GROUP_SUBSCRIBED_TO_TOPIC", group, or)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = topic, []int32{0}
	of.Topics = append(of.Topics, oft)
	ofr := send[*kmsg.OffsetFetchResponse](t, cl, of)
	if len(ofr.Topics) != 1 || ofr.Topics[0].Partitions[0].Offset != 42 {
		t.Errorf("%s: committed offset after a refused OffsetDelete: %+v, want 42", group, ofr.Topics)
	}
}

func commitOffset(t testing.TB, cl *kgo.Client, group, member string, gen int32, topic string, offset int64) {
	t.Helper()
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.MemberID, oc.Generation = group, member, gen
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = topic
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = offset
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if r := send[*kmsg.OffsetCommitResponse](t, cl, oc); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
}

// runFrameReuse sets up group "g" on topic "t", then sends thousands of
// other requests from several connections at once, produce requests (the
// pooled frames) with payloads the same size as g's JoinGroup and
// SyncGroup frames among them, and checks g's state and the produced
// records.
func runFrameReuse(t *testing.T, perWorker int) {
	tb := startBroker(t, "", groupTestConfig)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "t", 1, nil)
	createTopic(t, cl, "other", 1, nil)
	pad := bytes.Repeat([]byte{'m'}, 300)
	meta := consumerMeta(pad, "t")
	assignment := consumerAssignment("t", pad, 0)
	member, gen := joinAndSync(t, cl, "g", meta, assignment)
	commitOffset(t, cl, "g", member, gen, "t", 42)

	const workers = 3
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wcl := newClient(t, tb.addr)
			for i := range perWorker {
				// A produce frame of about the size of g's frames,
				// its value a pattern unlike anything g holds.
				val := bytes.Repeat([]byte{byte('A' + w)}, 300+i%64)
				rec := &kgo.Record{Topic: "other", Value: val}
				if err := wcl.ProduceSync(ctxT(t), rec).FirstErr(); err != nil {
					errs <- fmt.Errorf("produce: %w", err)
					return
				}
				switch i % 4 {
				case 0: // a JoinGroup with other metadata, to another group
					jg := kmsg.NewPtrJoinGroupRequest()
					jg.Group, jg.ProtocolType = fmt.Sprintf("w%d-%d", w, i), "consumer"
					jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = 60000, 60000
					p := kmsg.NewJoinGroupRequestProtocol()
					p.Name, p.Metadata = "range", consumerMeta(bytes.Repeat([]byte{'x'}, 300), "other")
					jg.Protocols = append(jg.Protocols, p)
					if _, err := wcl.Request(ctxT(t), jg); err != nil {
						errs <- err
						return
					}
				case 1:
					hb := kmsg.NewPtrHeartbeatRequest()
					hb.Group, hb.MemberID, hb.Generation = "g", member, gen
					if _, err := wcl.Request(ctxT(t), hb); err != nil {
						errs <- err
						return
					}
				case 2:
					dg := kmsg.NewPtrDescribeGroupsRequest()
					dg.Groups = []string{"g"}
					if _, err := wcl.Request(ctxT(t), dg); err != nil {
						errs <- err
						return
					}
				case 3:
					md := kmsg.NewPtrMetadataRequest()
					if _, err := wcl.Request(ctxT(t), md); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkGroupState(t, cl, "g", "t", meta, assignment)

	// Every produced record reads back as sent: the log kept no
	// reference to a pooled frame either.
	ccl := newClient(t, tb.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"other": {0: kgo.NewOffset().AtStart()}}))
	n := 0
	for n < workers*perWorker {
		fs := ccl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch after %d records: %v", n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			c := r.Value[0]
			if len(r.Value) < 300 || c < 'A' || c >= 'A'+workers || !bytes.Equal(r.Value, bytes.Repeat([]byte{c}, len(r.Value))) {
				t.Fatalf("record %d reads back as %q", r.Offset, r.Value)
			}
		})
	}
}

// TestGroupStateSurvivesScribbledFrames overwrites every frame that goes
// back to the pool, so any reference kept past its request reads garbage
// at once; run with -race, several connections at once.
func TestGroupStateSurvivesScribbledFrames(t *testing.T) {
	scribbleFrames.Store(true)
	t.Cleanup(func() { scribbleFrames.Store(false) })
	runFrameReuse(t, 200)
}

// TestDescribeGroupsExactAfterManyRequests: DescribeGroups returns exactly
// the bytes the member joined with and the leader assigned after
// thousands of other requests, and OffsetDelete of the subscribed topic is
// GROUP_SUBSCRIBED_TO_TOPIC (Kafka's answer while a member subscribes).
func TestDescribeGroupsExactAfterManyRequests(t *testing.T) {
	runFrameReuse(t, 1000)
}

// TestOffsetDeleteSubscribedTopic: a live member's subscribed topic keeps
// its offsets (GROUP_SUBSCRIBED_TO_TOPIC); another topic's are deleted.
func TestOffsetDeleteSubscribedTopic(t *testing.T) {
	tb := startBroker(t, "", groupTestConfig)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "sub", 1, nil)
	createTopic(t, cl, "unsub", 1, nil)
	meta := consumerMeta(nil, "sub")
	assignment := consumerAssignment("sub", nil, 0)
	member, gen := joinAndSync(t, cl, "g", meta, assignment)
	commitOffset(t, cl, "g", member, gen, "sub", 42)
	commitOffset(t, cl, "g", member, gen, "unsub", 7)
	checkGroupState(t, cl, "g", "sub", meta, assignment)

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	ot := kmsg.NewOffsetDeleteRequestTopic()
	ot.Topic = "unsub"
	ot.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	od.Topics = append(od.Topics, ot)
	if r := send[*kmsg.OffsetDeleteResponse](t, cl, od); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetDelete of an unsubscribed topic: %+v", r)
	}
}
