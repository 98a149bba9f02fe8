package group

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 tests: a fake clock and simulated clients that do what a
// KIP-848 consumer does with each response (take the assignment, release
// what it lost, report what it owns).

func newConsumerHarness(t *testing.T, topics ...TopicInfo) *harness {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000)}
	h.topics = topics
	h.c = New(Config{Now: func() time.Time { return h.now }, Write: h.write, MinSessionTimeout: time.Second,
		NewID:  func() string { h.ids++; return fmt.Sprint(h.ids) },
		Topics: func() []TopicInfo { return h.topics }})
	return h
}

func topicInfo(name string, partitions int32) TopicInfo {
	var id [16]byte
	copy(id[:], name)
	return TopicInfo{Name: name, ID: id, Partitions: partitions}
}

// client is a simulated KIP-848 consumer.
type client struct {
	h        *harness
	group    string
	id       string
	instance string
	epoch    int32
	topics   []string
	regex    string
	assignor string
	owned    map[tp]bool
	resp     *kmsg.ConsumerGroupHeartbeatResponse
}

func (h *harness) client(group, id string, topics ...string) *client {
	return &client{h: h, group: group, id: id, topics: topics, owned: map[tp]bool{}}
}

func (cl *client) request(epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch = cl.group, cl.id, epoch
	r.RebalanceTimeoutMillis = 30000
	if cl.instance != "" {
		inst := cl.instance
		r.InstanceID = &inst
	}
	if cl.regex != "" {
		re := cl.regex
		r.SubscribedTopicRegex = &re
	} else {
		r.SubscribedTopicNames = slices.Clone(cl.topics)
		if r.SubscribedTopicNames == nil {
			r.SubscribedTopicNames = []string{}
		}
	}
	if cl.assignor != "" {
		a := cl.assignor
		r.ServerAssignor = &a
	}
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if epoch != 0 {
		byTopic := map[string][]int32{}
		for k := range cl.owned {
			byTopic[k.topic] = append(byTopic[k.topic], k.partition)
		}
		for name, ps := range byTopic {
			rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			rt.TopicID = topicInfo(name, 0).ID
			slices.Sort(ps)
			rt.Partitions = ps
			r.Topics = append(r.Topics, rt)
		}
	}
	return r
}

// send sends r and applies a successful response as a client would.
func (cl *client) send(r *kmsg.ConsumerGroupHeartbeatRequest) int16 {
	resp := cl.h.c.ConsumerGroupHeartbeat(r, "cl-"+cl.id, "/127.0.0.1")
	cl.resp = resp
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	if resp.MemberID != nil {
		cl.id = *resp.MemberID
	}
	cl.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		cl.owned = map[tp]bool{}
		for _, t := range resp.Assignment.Topics {
			name := ""
			for _, ti := range cl.h.topics {
				if ti.ID == t.TopicID {
					name = ti.Name
				}
			}
			for _, p := range t.Partitions {
				cl.owned[tp{name, p}] = true
			}
		}
	}
	return 0
}

func (cl *client) join() int16       { return cl.send(cl.request(0)) }
func (cl *client) heartbeat() int16  { return cl.send(cl.request(cl.epoch)) }
func (cl *client) leave(epoch int32) { cl.send(cl.request(epoch)); cl.owned = map[tp]bool{} }

func (cl *client) ownedList() []string {
	var out []string
	for k := range cl.owned {
		out = append(out, fmt.Sprintf("%s-%d", k.topic, k.partition))
	}
	sort.Strings(out)
	return out
}

func mustOK(t *testing.T, code int16, what string) {
	t.Helper()
	if code != 0 {
		t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
	}
}

// checkExclusive fails if two clients own one partition.
func checkExclusive(t *testing.T, cls ...*client) {
	t.Helper()
	seen := map[tp]string{}
	for _, cl := range cls {
		for k := range cl.owned {
			if o, ok := seen[k]; ok {
				t.Fatalf("%s-%d owned by %s and %s", k.topic, k.partition, o, cl.id)
			}
			seen[k] = cl.id
		}
	}
}

// settle heartbeats every client until the group is Stable.
func settle(t *testing.T, h *harness, group string, cls ...*client) {
	t.Helper()
	for i := 0; i < 20; i++ {
		for _, cl := range cls {
			mustOK(t, cl.heartbeat(), "heartbeat "+cl.id)
			checkExclusive(t, cls...)
		}
		if d := h.c.DescribeConsumerGroup(group); d.State == "Stable" {
			return
		}
	}
	t.Fatalf("group %s did not settle: %+v", group, h.c.DescribeConsumerGroup(group))
}

func TestConsumerGroupTwoMembersSplitThenOneLeaves(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 6))
	a, b := h.client("g", "A", "t"), h.client("g", "B", "t")
	mustOK(t, a.join(), "join A")
	if a.epoch != 1 || len(a.owned) != 6 {
		t.Fatalf("A after join: epoch %d owns %v", a.epoch, a.ownedList())
	}
	mustOK(t, b.join(), "join B")
	// B's target is half, but A still owns it all: B gets nothing yet.
	if b.epoch != 2 || len(b.owned) != 0 {
		t.Fatalf("B after join: epoch %d owns %v", b.epoch, b.ownedList())
	}
	if d := h.c.DescribeConsumerGroup("g"); d.State != "Reconciling" || d.Epoch != 2 || d.AssignmentEpoch != 2 {
		t.Fatalf("describe: %s epoch %d/%d", d.State, d.Epoch, d.AssignmentEpoch)
	}
	// A is asked to revoke three partitions and keeps its epoch.
	mustOK(t, a.heartbeat(), "A revoke")
	if a.epoch != 1 || len(a.owned) != 3 {
		t.Fatalf("A revoking: epoch %d owns %v", a.epoch, a.ownedList())
	}
	// B still cannot have them: A has not confirmed.
	mustOK(t, b.heartbeat(), "B")
	if len(b.owned) != 0 {
		t.Fatalf("B got partitions A has not released: %v", b.ownedList())
	}
	mustOK(t, a.heartbeat(), "A released")
	if a.epoch != 2 {
		t.Fatalf("A epoch %d after releasing", a.epoch)
	}
	mustOK(t, b.heartbeat(), "B")
	checkExclusive(t, a, b)
	if len(a.owned) != 3 || len(b.owned) != 3 {
		t.Fatalf("split: A %v B %v", a.ownedList(), b.ownedList())
	}
	if d := h.c.DescribeConsumerGroup("g"); d.State != "Stable" || len(d.Members) != 2 || d.AssignorName != "uniform" {
		t.Fatalf("describe: %+v", d)
	}
	// A leaves: B takes everything on its next heartbeat.
	a.leave(-1)
	if a.resp.ErrorCode != 0 || a.resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", a.resp)
	}
	mustOK(t, b.heartbeat(), "B after A left")
	if len(b.owned) != 6 || b.epoch != 3 {
		t.Fatalf("B after A left: epoch %d owns %v", b.epoch, b.ownedList())
	}
	// A's old epoch and id are gone.
	if code := a.heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after leaving: %v", kerr.ErrorForCode(code))
	}
}

func TestConsumerGroupFencing(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 4))
	a, b := h.client("g", "A", "t"), h.client("g", "B", "t")
	mustOK(t, a.join(), "join A")
	mustOK(t, b.join(), "join B")
	settle(t, h, "g", a, b)
	if code := a.send(a.request(a.epoch + 1)); code != kerr.FencedMemberEpoch.Code {
		t.Fatalf("larger epoch: %v", kerr.ErrorForCode(code))
	}
	// The previous epoch with a subset of the assignment is accepted (a
	// lost response); without owned partitions it is fenced.
	prev := a.epoch - 1
	if code := a.send(a.request(prev)); code != 0 {
		t.Fatalf("previous epoch with owned subset: %v", kerr.ErrorForCode(code))
	}
	r := a.request(prev)
	r.Topics = nil
	if code := a.send(r); code != kerr.FencedMemberEpoch.Code {
		t.Fatalf("previous epoch without owned partitions: %v", kerr.ErrorForCode(code))
	}
	stranger := h.client("g", "Z", "t")
	stranger.epoch = 5
	if code := stranger.heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(code))
	}
	nog := h.client("nogroup", "Z", "t")
	if code := nog.send(nog.request(3)); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %v", kerr.ErrorForCode(code))
	}
	// A lost join response: the same id at epoch 0 gets its assignment back.
	before := a.ownedList()
	a.owned = map[tp]bool{}
	mustOK(t, a.join(), "rejoin at epoch 0")
	if !slices.Equal(a.ownedList(), before) {
		t.Fatalf("rejoin: owns %v, had %v", a.ownedList(), before)
	}
}

func TestConsumerGroupInvalidRequests(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 1))
	a := h.client("g", "A", "t")
	for name, tc := range map[string]struct {
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		"no group":          {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest},
		"no member id (v1)": {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		"owned on join": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{})
		}, kerr.InvalidRequest},
		"null owned on join":   {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = nil }, kerr.InvalidRequest},
		"no subscription":      {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest},
		"no rebalance timeout": {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest},
		"epoch -3":             {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest},
		"static leave w/o id":  {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest},
		"bad assignor": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			s := "sticky"
			r.ServerAssignor = &s
		}, kerr.UnsupportedAssignor},
		"bad regex": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			s := "t("
			r.SubscribedTopicRegex = &s
		}, kerr.InvalidRegularExpression},
		"unterminated quote": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			s := `\Qt`
			r.SubscribedTopicRegex = &s
		}, kerr.InvalidRegularExpression},
	} {
		r := a.request(0)
		tc.mod(r)
		if code := a.send(r); code != tc.want.Code {
			t.Errorf("%s: got %v, want %v", name, kerr.ErrorForCode(code), tc.want)
		}
	}
	// v0: the coordinator names the member.
	r := a.request(0)
	r.Version, r.MemberID = 0, ""
	mustOK(t, a.send(r), "v0 join")
	if a.id == "" || a.id == "A" {
		t.Fatalf("v0 member id %q", a.id)
	}
}

func TestConsumerGroupSessionAndRebalanceTimeouts(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 4))
	a, b := h.client("g", "A", "t"), h.client("g", "B", "t")
	mustOK(t, a.join(), "join A")
	mustOK(t, b.join(), "join B")
	settle(t, h, "g", a, b)
	// B goes silent: after the 45s session timeout A takes everything.
	for i := 0; i < 5; i++ {
		h.advance(10 * time.Second)
		mustOK(t, a.heartbeat(), "A")
	}
	if len(a.owned) != 4 {
		t.Fatalf("A after B expired owns %v", a.ownedList())
	}
	if code := b.heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %v", kerr.ErrorForCode(code))
	}

	// A slow revoker: C joins, A is asked to revoke but keeps reporting
	// the partitions; after its 30s rebalance timeout it is removed and C
	// gets everything.
	c := h.client("g", "C", "t")
	mustOK(t, c.join(), "join C")
	mustOK(t, a.heartbeat(), "A asked to revoke")
	stuck := a.request(a.epoch)
	stuck.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicInfo("t", 0).ID, Partitions: []int32{0, 1, 2, 3}}}
	for i := 0; i < 3; i++ {
		h.advance(9 * time.Second)
		mustOK(t, a.send(stuck), "A not revoking")
		mustOK(t, c.heartbeat(), "C")
		if len(c.owned) != 0 {
			t.Fatalf("C got %v while A still claims all", c.ownedList())
		}
	}
	h.advance(5 * time.Second)
	if code := a.send(stuck); code != kerr.UnknownMemberID.Code {
		t.Fatalf("A past its rebalance timeout: %v", kerr.ErrorForCode(code))
	}
	mustOK(t, c.heartbeat(), "C")
	if len(c.owned) != 4 {
		t.Fatalf("C after A was fenced owns %v", c.ownedList())
	}
}

func TestConsumerGroupStaticMembers(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 4))
	a, b := h.client("g", "A1", "t"), h.client("g", "B", "t")
	a.instance = "inst-a"
	mustOK(t, a.join(), "join A")
	mustOK(t, b.join(), "join B")
	settle(t, h, "g", a, b)
	aOwned := a.ownedList()
	epoch := h.c.DescribeConsumerGroup("g").Epoch

	// A second process with the same instance while A is active.
	a2 := h.client("g", "A2", "t")
	a2.instance = "inst-a"
	if code := a2.join(); code != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("duplicate instance: %v", kerr.ErrorForCode(code))
	}
	// A leaves temporarily: its partitions stay reserved.
	a.leave(-2)
	if a.resp.MemberEpoch != -2 {
		t.Fatalf("static leave epoch %d", a.resp.MemberEpoch)
	}
	mustOK(t, b.heartbeat(), "B")
	if len(b.owned) != 2 {
		t.Fatalf("B took a departed static member's partitions: %v", b.ownedList())
	}
	d := h.c.DescribeConsumerGroup("g")
	if d.Epoch != epoch {
		t.Fatalf("static leave bumped the epoch %d → %d", epoch, d.Epoch)
	}
	// The restarted instance takes them back, same epoch, no rebalance.
	mustOK(t, a2.join(), "rejoin instance")
	if !slices.Equal(a2.ownedList(), aOwned) || a2.epoch != epoch {
		t.Fatalf("replacement owns %v at epoch %d; had %v at %d", a2.ownedList(), a2.epoch, aOwned, epoch)
	}
	if d := h.c.DescribeConsumerGroup("g"); d.Epoch != epoch || d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("after replacement: %+v", d)
	}
	// The old member id is fenced.
	if code := a.send(a.request(epoch)); code != kerr.FencedInstanceID.Code && code != kerr.UnknownMemberID.Code {
		t.Fatalf("old static member: %v", kerr.ErrorForCode(code))
	}
	// A departed static member that never comes back expires.
	a2.leave(-2)
	h.advance(46 * time.Second)
	mustOK(t, b.join(), "B rejoins after its own expiry")
	settle(t, h, "g", b)
	if len(b.owned) != 4 {
		t.Fatalf("B after the static member expired owns %v", b.ownedList())
	}
}

func TestConsumerGroupAssignors(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("a", 3), topicInfo("b", 3))
	x, y := h.client("g", "X", "a", "b"), h.client("g", "Y", "a", "b")
	x.assignor, y.assignor = "range", "range"
	mustOK(t, x.join(), "X")
	mustOK(t, y.join(), "Y")
	settle(t, h, "g", x, y)
	// Range: per topic, X (first id) takes 0-1 and Y takes 2.
	if got, want := x.ownedList(), []string{"a-0", "a-1", "b-0", "b-1"}; !slices.Equal(got, want) {
		t.Fatalf("range X: %v, want %v", got, want)
	}
	if d := h.c.DescribeConsumerGroup("g"); d.AssignorName != "range" {
		t.Fatalf("assignor %q", d.AssignorName)
	}
	// Switching both to uniform balances 3/3.
	x.assignor, y.assignor = "uniform", "uniform"
	settle(t, h, "g", x, y)
	if len(x.owned) != 3 || len(y.owned) != 3 {
		t.Fatalf("uniform: X %v Y %v", x.ownedList(), y.ownedList())
	}

	// Heterogeneous subscriptions: Z only reads a.
	z := h.client("g", "Z", "a")
	mustOK(t, z.join(), "Z")
	settle(t, h, "g", x, y, z)
	for k := range z.owned {
		if k.topic != "a" {
			t.Fatalf("Z got %v", z.ownedList())
		}
	}
	if n := len(x.owned) + len(y.owned) + len(z.owned); n != 6 {
		t.Fatalf("%d partitions owned, want 6", n)
	}
}

func TestConsumerGroupRegexAndNewTopics(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("orders-1", 2), topicInfo("other", 2))
	a := h.client("g", "A")
	a.regex = "orders-.*"
	mustOK(t, a.join(), "join")
	if got := a.ownedList(); !slices.Equal(got, []string{"orders-1-0", "orders-1-1"}) {
		t.Fatalf("regex: %v", got)
	}
	// A matching topic appears: the next heartbeat bumps the epoch.
	h.topics = append(h.topics, topicInfo("orders-2", 1))
	mustOK(t, a.heartbeat(), "heartbeat")
	if len(a.owned) != 3 || a.epoch != 2 {
		t.Fatalf("after new topic: epoch %d %v", a.epoch, a.ownedList())
	}
	// The regex matches whole names only.
	h.topics = append(h.topics, topicInfo("xorders-3", 1))
	mustOK(t, a.heartbeat(), "heartbeat")
	if len(a.owned) != 3 {
		t.Fatalf("partial match assigned: %v", a.ownedList())
	}
	d := h.c.DescribeConsumerGroup("g")
	if d.Members[0].SubscribedTopicRegex == nil || *d.Members[0].SubscribedTopicRegex != "orders-.*" {
		t.Fatalf("describe regex: %+v", d.Members[0])
	}
}

func TestConsumerGroupVersusClassic(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 2))
	// A classic group with a member refuses consumer heartbeats.
	id, pj := h.newMember("classic", "range")
	_ = pj
	cl := h.client("classic", "A", "t")
	if code := cl.join(); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer heartbeat on a classic group: %v", kerr.ErrorForCode(code))
	}
	if d := h.c.DescribeConsumerGroup("classic"); d.ErrorCode != kerr.GroupIDNotFound.Code || *d.ErrorMessage != "Group classic is not a consumer group." {
		t.Fatalf("describe classic: %+v", d)
	}
	_ = id

	// A consumer group with members refuses JoinGroup.
	a := h.client("new", "A", "t")
	mustOK(t, a.join(), "join")
	pj2 := h.join(joinReq("new", "", "", "range"))
	if pj2.resp == nil || pj2.resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("JoinGroup on a consumer group: %+v", pj2.resp)
	}
	if code := h.heartbeat("new", "A", 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("classic heartbeat on a consumer group: %v", kerr.ErrorForCode(code))
	}
	d, ok := h.c.DescribeGroup("new")
	if ok || d.State != "Dead" || d.ErrorMessage == nil || *d.ErrorMessage != "Group new is not a classic group." {
		t.Fatalf("DescribeGroups on a consumer group: %+v", d)
	}
	var found bool
	for _, l := range h.c.ListGroups() {
		if l.Group == "new" {
			found = true
			if l.Type != "consumer" || l.StateName != "Stable" || l.ProtocolType != "consumer" {
				t.Fatalf("listing: %+v", l)
			}
		}
		if l.Group == "classic" && l.Type != "classic" {
			t.Fatalf("listing: %+v", l)
		}
	}
	if !found {
		t.Fatal("consumer group not listed")
	}
	if err := deleteGroupSync(h.c, "new"); err != kerr.NonEmptyGroup {
		t.Fatalf("delete non-empty consumer group: %v", err)
	}
	// Once empty it becomes classic again on JoinGroup.
	a.leave(-1)
	if l := h.c.ListGroups(); len(l) != 2 {
		t.Fatalf("groups: %+v", l)
	}
	pj3 := h.join(joinReq("new", "", "", "range"))
	if pj3.resp == nil || pj3.resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("JoinGroup on an empty consumer group: %+v", pj3.resp)
	}
}

func TestConsumerGroupOffsets(t *testing.T) {
	h := newConsumerHarness(t, topicInfo("t", 2))
	a := h.client("g", "A", "t")
	mustOK(t, a.join(), "join")
	commit := func(member string, epoch int32, version int16) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = version
		r.Group, r.MemberID, r.Generation = "g", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 42
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return commitSync(h.c, r).Topics[0].Partitions[0].ErrorCode
	}
	for _, tc := range []struct {
		member  string
		epoch   int32
		version int16
		want    *kerr.Error
	}{
		{"A", a.epoch + 1, 9, kerr.StaleMemberEpoch},
		{"B", a.epoch, 9, kerr.UnknownMemberID},
		{"A", a.epoch, 8, kerr.UnsupportedVersion},
		{"", -1, 9, kerr.UnknownMemberID}, // not while the group has members
		{"A", a.epoch, 9, nil},
	} {
		if got := commit(tc.member, tc.epoch, tc.version); got != code(tc.want) {
			t.Errorf("commit %+v: %v", tc, kerr.ErrorForCode(got))
		}
	}
	// To a group that does not exist, a commit with an epoch is
	// GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before.
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 9, "none", "A", 3
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0}}}}
	if got := commitSync(h.c, r).Topics[0].Partitions[0].ErrorCode; got != kerr.GroupIDNotFound.Code {
		t.Errorf("v9 commit to an unknown group: %v", kerr.ErrorForCode(got))
	}
	r.Version = 8
	if got := commitSync(h.c, r).Topics[0].Partitions[0].ErrorCode; got != kerr.IllegalGeneration.Code {
		t.Errorf("v8 commit to an unknown group: %v", kerr.ErrorForCode(got))
	}
	id := "A"
	if err := h.c.ValidateOffsetFetch("g", &id, a.epoch+1); err != kerr.StaleMemberEpoch {
		t.Fatalf("fetch stale epoch: %v", err)
	}
	if err := h.c.ValidateOffsetFetch("g", &id, a.epoch); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if err := h.c.ValidateOffsetFetch("g", nil, -1); err != nil {
		t.Fatalf("admin fetch: %v", err)
	}
	got, _ := h.c.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}})
	if got[0].Partitions[0].Offset != 42 {
		t.Fatalf("fetched %+v", got)
	}
	// After the last member leaves, anyone may commit; the group is
	// deletable.
	a.leave(-1)
	if got := commit("", -1, 8); got != 0 {
		t.Fatalf("admin commit to an empty consumer group: %v", kerr.ErrorForCode(got))
	}
	if err := deleteGroupSync(h.c, "g"); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// TestConsumerGroupChurn drives random joins, leaves, silences and
// heartbeats; at every step no partition is owned by two clients, and
// once membership is stable every partition has exactly one owner.
func TestConsumerGroupChurn(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		h := newConsumerHarness(t, topicInfo("a", 7), topicInfo("b", 5))
		rng := rand.New(rand.NewPCG(seed, seed))
		var cls []*client
		alive := map[*client]bool{}
		for i := 0; i < 8; i++ {
			cl := h.client("g", fmt.Sprint("m", i), "a", "b")
			if i%3 == 0 {
				cl.assignor = "range"
			}
			cls = append(cls, cl)
		}
		for step := 0; step < 400; step++ {
			cl := cls[rng.IntN(len(cls))]
			switch r := rng.IntN(20); {
			case !alive[cl] && r < 10:
				cl.owned = map[tp]bool{}
				if cl.join() == 0 {
					alive[cl] = true
				}
			case alive[cl] && r == 0:
				cl.leave(-1)
				alive[cl] = false
			case alive[cl]:
				if code := cl.heartbeat(); code != 0 {
					cl.owned = map[tp]bool{} // fenced: abandon, rejoin later
					alive[cl] = false
				}
			}
			if rng.IntN(10) == 0 {
				h.advance(time.Second)
			}
			checkExclusive(t, cls...)
		}
		var live []*client
		for _, cl := range cls {
			if alive[cl] {
				live = append(live, cl)
			}
		}
		if len(live) == 0 {
			continue
		}
		settle(t, h, "g", live...)
		total := 0
		for _, cl := range live {
			total += len(cl.owned)
		}
		if total != 12 {
			t.Fatalf("seed %d: %d partitions owned by %d members, want 12", seed, total, len(live))
		}
	}
}
