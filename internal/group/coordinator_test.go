package group

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness drives a Coordinator with a fake clock and an in-memory
// persister; nothing sleeps.
type harness struct {
	t       *testing.T
	now     time.Time
	c       *Coordinator
	recs    []Record
	txnRecs []txnRecord
	fail    error
	ids     int

	topics []TopicInfo // for KIP-848 groups (consumer_test.go)
}

func (h *harness) Append(_ int32, recs []Record) error {
	if h.fail != nil {
		return h.fail
	}
	h.recs = append(h.recs, recs...)
	return nil
}

func (h *harness) AppendTxn(_ int32, pid int64, _ int16, recs []Record) error {
	if h.fail != nil {
		return h.fail
	}
	for _, r := range recs {
		h.txnRecs = append(h.txnRecs, txnRecord{pid, r})
	}
	return nil
}

// txnRecord is a record the coordinator wrote in a transaction.
type txnRecord struct {
	pid int64
	Record
}

func newHarness(t *testing.T, delay time.Duration) *harness {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000)}
	h.c = New(Config{Now: func() time.Time { return h.now }, Write: h.write, InitialRebalanceDelay: delay,
		MinSessionTimeout: time.Second, NewID: func() string { h.ids++; return fmt.Sprint(h.ids) }})
	return h
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.c.Tick(h.now)
}

// pendingJoin is a JoinGroup whose answer may come later.
type pendingJoin struct{ resp *kmsg.JoinGroupResponse }

func joinReq(group, member, instance string, protos ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.ProtocolType = group, member, "consumer"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 30000
	if instance != "" {
		r.InstanceID = &instance
	}
	for _, p := range protos {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, []byte("md-"+p)
		r.Protocols = append(r.Protocols, jp)
	}
	return r
}

func (h *harness) join(r *kmsg.JoinGroupRequest) *pendingJoin {
	pj := &pendingJoin{}
	h.c.JoinGroup(r, "client", "/127.0.0.1", func(resp *kmsg.JoinGroupResponse) {
		if pj.resp != nil {
			h.t.Fatal("join answered twice")
		}
		pj.resp = resp
	})
	return pj
}

// member joins (with the KIP-394 round trip) and returns its id.
func (h *harness) newMember(group string, protos ...string) (string, *pendingJoin) {
	pj := h.join(joinReq(group, "", "", protos...))
	if pj.resp == nil || pj.resp.ErrorCode != kerr.MemberIDRequired.Code {
		h.t.Fatalf("first join: %+v", pj.resp)
	}
	id := pj.resp.MemberID
	return id, h.join(joinReq(group, id, "", protos...))
}

type pendingSync struct{ resp *kmsg.SyncGroupResponse }

func (h *harness) sync(group, member string, gen int32, assign map[string]string) *pendingSync {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, []byte(a)
		r.GroupAssignment = append(r.GroupAssignment, ga)
	}
	ps := &pendingSync{}
	h.c.SyncGroup(r, func(resp *kmsg.SyncGroupResponse) { ps.resp = resp })
	return ps
}

func (h *harness) heartbeat(group, member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	return h.c.Heartbeat(r).ErrorCode
}

func (h *harness) state(group string) string {
	d, _ := h.c.DescribeGroup(group)
	return d.State
}

func TestJoinSyncTwoMembers(t *testing.T) {
	h := newHarness(t, 0)
	a, ja := h.newMember("g", "range")
	if ja.resp == nil || ja.resp.Generation != 1 || ja.resp.LeaderID != a || len(ja.resp.Members) != 1 {
		t.Fatalf("first member's join: %+v", ja.resp)
	}
	if s := h.sync("g", a, 1, map[string]string{a: "A"}); s.resp == nil || string(s.resp.MemberAssignment) != "A" {
		t.Fatalf("sync: %+v", s.resp)
	}
	if h.state("g") != "Stable" {
		t.Fatal(h.state("g"))
	}
	// A second member triggers a rebalance; the first learns of it by
	// heartbeat and rejoins.
	b, jb := h.newMember("g", "range")
	if jb.resp != nil || h.state("g") != "PreparingRebalance" {
		t.Fatalf("second join answered before the rebalance: %+v %s", jb.resp, h.state("g"))
	}
	if e := h.heartbeat("g", a, 1); e != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", e)
	}
	ja2 := h.join(joinReq("g", a, "", "range"))
	if ja2.resp == nil || jb.resp == nil || ja2.resp.Generation != 2 || jb.resp.Generation != 2 {
		t.Fatalf("joins: %+v %+v", ja2.resp, jb.resp)
	}
	if ja2.resp.LeaderID != a || len(ja2.resp.Members) != 2 || len(jb.resp.Members) != 0 {
		t.Fatalf("leader keeps leading and alone gets the members: %+v %+v", ja2.resp, jb.resp)
	}
	sb := h.sync("g", b, 2, nil)
	if sb.resp != nil {
		t.Fatal("follower synced before the leader")
	}
	if e := h.heartbeat("g", b, 1); e != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation heartbeat: %d", e)
	}
	sa := h.sync("g", a, 2, map[string]string{a: "A2", b: "B2"})
	if string(sa.resp.MemberAssignment) != "A2" || sb.resp == nil || string(sb.resp.MemberAssignment) != "B2" {
		t.Fatalf("assignments: %+v %+v", sa.resp, sb.resp)
	}
	// The stored group metadata carries both assignments.
	var v kmsg.GroupMetadataValue
	last := h.recs[len(h.recs)-1]
	if err := v.ReadFrom(last.Value); err != nil || v.Generation != 2 || len(v.Members) != 2 || string(v.Members[1].Assignment) != "B2" {
		t.Fatalf("stored metadata %+v %v", v, err)
	}
}

func TestErrorsAndProtocolSelection(t *testing.T) {
	h := newHarness(t, 0)
	for _, tc := range []struct {
		name string
		req  *kmsg.JoinGroupRequest
		want *kerr.Error
	}{
		{"empty group id", joinReq("", "", "", "range"), kerr.InvalidGroupID},
		{"session too short", func() *kmsg.JoinGroupRequest {
			r := joinReq("g", "", "", "range")
			r.SessionTimeoutMillis = 10
			return r
		}(), kerr.InvalidSessionTimeout},
		{"no protocols", joinReq("g", "", ""), kerr.InconsistentGroupProtocol},
		{"unknown member", joinReq("nope", "x", "", "range"), kerr.UnknownMemberID},
	} {
		if pj := h.join(tc.req); pj.resp == nil || pj.resp.ErrorCode != tc.want.Code {
			t.Errorf("%s: %+v, want %s", tc.name, pj.resp, tc.want.Message)
		}
	}
	a, ja := h.newMember("g", "roundrobin", "range")
	h.sync("g", a, ja.resp.Generation, nil)
	// A member supporting none of the group's protocols is refused.
	if pj := h.join(joinReq("g", "", "", "sticky")); pj.resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("incompatible member: %+v", pj.resp)
	}
	// Other protocol type.
	r := joinReq("g", "", "", "range")
	r.ProtocolType = "connect"
	if pj := h.join(r); pj.resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("other protocol type: %+v", pj.resp)
	}
	// The vote: two members prefer range, one roundrobin → range.
	_, jb := h.newMember("g", "range", "roundrobin")
	_, jc := h.newMember("g", "range", "roundrobin")
	ja2 := h.join(joinReq("g", a, "", "roundrobin", "range"))
	if ja2.resp == nil || *ja2.resp.Protocol != "range" || *jb.resp.Protocol != "range" || *jc.resp.Protocol != "range" {
		t.Fatalf("selected %v", ja2.resp)
	}
}

func TestInitialRebalanceDelayAndRebalanceTimeout(t *testing.T) {
	h := newHarness(t, 3*time.Second)
	a, ja := h.newMember("g", "range")
	h.advance(2 * time.Second)
	b, jb := h.newMember("g", "range")
	if ja.resp != nil || jb.resp != nil {
		t.Fatal("answered during the initial delay")
	}
	h.advance(1 * time.Second) // first delay over, but b arrived: extended
	if ja.resp != nil {
		t.Fatal("delay not extended for the new member")
	}
	h.advance(3 * time.Second)
	if ja.resp == nil || jb.resp == nil || ja.resp.Generation != 1 || len(ja.resp.Members) != 2 {
		t.Fatalf("after the delay: %+v %+v", ja.resp, jb.resp)
	}
	h.sync("g", a, 1, map[string]string{a: "A", b: "B"})
	h.sync("g", b, 1, nil)
	// b rejoins with new metadata; a never does: after the rebalance
	// timeout (30 s) a is removed and b is alone in generation 2.
	// a keeps heartbeating (told REBALANCE_IN_PROGRESS) but never rejoins.
	jb2 := h.join(joinReq("g", b, "", "range", "sticky"))
	for range 6 {
		if e := h.heartbeat("g", a, 1); e != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat while preparing: %d", e)
		}
		h.advance(4 * time.Second)
	}
	h.advance(5 * time.Second)
	if jb2.resp != nil {
		t.Fatal("completed before the rebalance timeout")
	}
	h.advance(time.Second)
	if jb2.resp == nil || jb2.resp.Generation != 2 || jb2.resp.LeaderID != b || len(jb2.resp.Members) != 1 {
		t.Fatalf("after rebalance timeout: %+v", jb2.resp)
	}
	if e := h.heartbeat("g", a, 1); e != kerr.UnknownMemberID.Code {
		t.Fatalf("removed member heartbeat: %d", e)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, 0)
	a, ja := h.newMember("g", "range")
	h.sync("g", a, ja.resp.Generation, nil)
	b, _ := h.newMember("g", "range")
	ja2 := h.join(joinReq("g", a, "", "range"))
	h.sync("g", a, 2, nil)
	h.sync("g", b, 2, nil)
	for range 4 {
		h.advance(2 * time.Second)
		if e := h.heartbeat("g", a, ja2.resp.Generation); e != 0 {
			t.Fatalf("heartbeat: %d", e)
		}
	}
	h.advance(2 * time.Second)
	// b never heartbeat: expired after 10 s; a must rejoin.
	if e := h.heartbeat("g", a, 2); e != kerr.RebalanceInProgress.Code {
		t.Fatalf("after b expired: %d", e)
	}
	ja3 := h.join(joinReq("g", a, "", "range"))
	if ja3.resp == nil || ja3.resp.Generation != 3 || len(ja3.resp.Members) != 1 {
		t.Fatalf("rejoin: %+v", ja3.resp)
	}
	// Pending (KIP-394) ids expire too.
	pj := h.join(joinReq("g", "", "", "range"))
	h.advance(11 * time.Second)
	if r := h.join(joinReq("g", pj.resp.MemberID, "", "range")); r.resp == nil || r.resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired pending member: %+v", r.resp)
	}
}

func TestStaticMemberRejoinWithoutRebalance(t *testing.T) {
	h := newHarness(t, 0)
	j1 := h.join(joinReq("g", "", "inst-1", "range"))
	if j1.resp == nil || j1.resp.ErrorCode != 0 || !strings.HasPrefix(j1.resp.MemberID, "inst-1-") {
		t.Fatalf("static join (no MEMBER_ID_REQUIRED): %+v", j1.resp)
	}
	old := j1.resp.MemberID
	h.sync("g", old, 1, map[string]string{old: "A"})
	// Restart: same instance, no member id, same metadata.
	j2 := h.join(joinReq("g", "", "inst-1", "range"))
	if j2.resp == nil || j2.resp.ErrorCode != 0 || j2.resp.Generation != 1 || j2.resp.MemberID == old || !j2.resp.SkipAssignment {
		t.Fatalf("static rejoin: %+v", j2.resp)
	}
	if h.state("g") != "Stable" {
		t.Fatalf("rebalanced: %s", h.state("g"))
	}
	if s := h.sync("g", j2.resp.MemberID, 1, nil); string(s.resp.MemberAssignment) != "A" {
		t.Fatalf("kept assignment: %+v", s.resp)
	}
	// The old member id is fenced.
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = "g", old, 1
	inst := "inst-1"
	r.InstanceID = &inst
	if e := h.c.Heartbeat(r).ErrorCode; e != kerr.FencedInstanceID.Code {
		t.Fatalf("old member: %d", e)
	}
	// Changed metadata → rebalance.
	j3 := h.join(joinReq("g", "", "inst-1", "range", "sticky"))
	if j3.resp == nil || j3.resp.Generation != 2 {
		t.Fatalf("changed metadata: %+v", j3.resp)
	}
}

func TestLeaveAndOffsets(t *testing.T) {
	h := newHarness(t, 0)
	a, ja := h.newMember("g", "range")
	h.sync("g", a, 1, nil)
	commit := func(gen int32, member string) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = 9
		r.Group, r.Generation, r.MemberID = "g", gen, member
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "t"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Offset, p.Metadata = 42, kmsg.StringPtr("meta")
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return commitSync(h.c, r).Topics[0].Partitions[0].ErrorCode
	}
	if e := commit(0, a); e != kerr.IllegalGeneration.Code {
		t.Fatalf("wrong generation: %d", e)
	}
	if e := commit(-1, ""); e != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to a non-empty group: %d", e)
	}
	if e := commit(ja.resp.Generation, a); e != 0 {
		t.Fatalf("member commit: %d", e)
	}
	h.fail = errors.New("disk full")
	if e := commit(1, a); e != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed append: %d", e)
	}
	// A leadership lost under the write (cluster mode's fenced append).
	h.fail = fmt.Errorf("%w: fenced", kerr.NotCoordinator)
	if e := commit(1, a); e != kerr.NotCoordinator.Code {
		t.Fatalf("fenced append: %d", e)
	}
	h.fail = nil
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 5
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: "ghost"}}
	resp := h.c.LeaveGroup(lr)
	if resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code || h.state("g") != "Empty" {
		t.Fatalf("leave: %+v %s", resp, h.state("g"))
	}
	if e := commit(-1, ""); e != 0 {
		t.Fatalf("simple commit to the empty group: %d", e)
	}
	got, _ := h.c.FetchOffsets("g", nil)
	if len(got) != 1 || got[0].Partitions[0].Offset != 42 || *got[0].Partitions[0].Metadata != "meta" {
		t.Fatalf("fetch: %+v", got)
	}
	// Replay what was persisted into a new coordinator.
	h2 := newHarness(t, 0)
	for _, r := range h.recs {
		if err := h2.c.Replay(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	h2.c.Loaded()
	got, _ = h2.c.FetchOffsets("g", nil)
	if len(got) != 1 || got[0].Partitions[0].Offset != 42 || h2.state("g") != "Empty" {
		t.Fatalf("replayed: %+v %s", got, h2.state("g"))
	}
	// Retention: an empty group's offsets expire 7 days after it emptied,
	// then the group goes.
	h.advance(7*24*time.Hour + 11*time.Minute)
	if got, _ := h.c.FetchOffsets("g", nil); len(got) != 0 || len(h.c.ListGroups()) != 0 {
		t.Fatalf("not expired: %+v %v", got, h.c.ListGroups())
	}
	last := h.recs[len(h.recs)-1]
	if last.Value != nil || last.Key[1] != 2 {
		t.Fatalf("last record is not the group tombstone: %+v", last)
	}
}
