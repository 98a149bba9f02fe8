package share

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var topicT = [16]byte{1}

type harness struct {
	c   *Coordinator
	now time.Time
}

func newHarness() *harness {
	h := &harness{now: time.Unix(1000, 0)}
	h.c = New(Config{Now: func() time.Time { return h.now }, LockDuration: 10 * time.Second, DeliveryLimit: 3, MaxRecordLocks: 100,
		Topics: func() []TopicInfo { return []TopicInfo{{Name: "t", ID: topicT, Partitions: 2}} }})
	return h
}

var key = Key{"g", TP{topicT, 0}}

func (h *harness) acquire(t *testing.T, m string, max int, end int64) []Range {
	t.Helper()
	return h.c.Acquire(key, m, max, View{LogStart: 0, End: end, Init: 0})
}

func ack(first, last int64, typ int8) AckBatch {
	return AckBatch{First: first, Last: last, Types: []int8{typ}}
}

func TestAcquireAckAdvance(t *testing.T) {
	h := newHarness()
	if got := h.acquire(t, "a", 5, 10); len(got) != 1 || got[0] != (Range{0, 4, 1}) {
		t.Fatalf("a acquired %v", got)
	}
	if got := h.acquire(t, "b", 10, 10); len(got) != 1 || got[0] != (Range{5, 9, 1}) {
		t.Fatalf("b acquired %v", got)
	}
	// b may not acknowledge a's records; nothing changes.
	if _, err := h.c.Acknowledge(key, "b", []AckBatch{ack(5, 9, AckAccept), ack(0, 0, AckAccept)}, false); err != kerr.InvalidRequest {
		t.Fatalf("out of order batches: %v", err)
	}
	if _, err := h.c.Acknowledge(key, "b", []AckBatch{ack(4, 6, AckAccept)}, false); err != kerr.InvalidRecordState {
		t.Fatalf("ack of another member's record: %v", err)
	}
	if _, err := h.c.Acknowledge(key, "a", []AckBatch{ack(0, 2, AckAccept), ack(2, 3, AckAccept)}, false); err != kerr.InvalidRequest {
		t.Fatalf("overlapping batches: %v", err)
	}
	if _, err := h.c.Acknowledge(key, "a", []AckBatch{ack(0, 1, AckRenew)}, false); err != kerr.InvalidRequest {
		t.Fatalf("renew without IsRenewAck: %v", err)
	}
	if offs, _ := h.c.Offsets("g"); offs[0].Start != 0 || offs[0].Done != 0 {
		t.Fatalf("refused acks changed state: %+v", offs)
	}
	seq, err := h.c.Acknowledge(key, "a", []AckBatch{ack(0, 3, AckAccept), ack(4, 4, AckReject)}, false)
	if err != nil || seq == 0 {
		t.Fatalf("ack: %v seq %d", err, seq)
	}
	if offs, _ := h.c.Offsets("g"); offs[0].Start != 5 {
		t.Fatalf("start %d, want 5", offs[0].Start)
	}
	// Release makes b's records available again, with their delivery count.
	if _, err := h.c.Acknowledge(key, "b", []AckBatch{{First: 5, Last: 9, Types: []int8{AckRelease, AckAccept, AckRelease, AckAccept, AckAccept}}}, false); err != nil {
		t.Fatal(err)
	}
	if got := h.acquire(t, "a", 10, 10); len(got) != 2 || got[0] != (Range{5, 5, 2}) || got[1] != (Range{7, 7, 2}) {
		t.Fatalf("re-acquired %v", got)
	}
}

func TestLockExpiryAndDeliveryLimit(t *testing.T) {
	h := newHarness()
	for attempt := int16(1); attempt <= 3; attempt++ {
		got := h.acquire(t, "a", 1, 1)
		if len(got) != 1 || got[0] != (Range{0, 0, attempt}) {
			t.Fatalf("attempt %d acquired %v", attempt, got)
		}
		h.now = h.now.Add(9 * time.Second)
		h.c.Tick(h.now)
		if got := h.acquire(t, "b", 1, 1); len(got) != 0 {
			t.Fatalf("acquired a locked record: %v", got)
		}
		h.now = h.now.Add(time.Second)
		h.c.Tick(h.now)
	}
	// The third expiry reached the limit: archived, never delivered again.
	if got := h.acquire(t, "b", 1, 1); len(got) != 0 {
		t.Fatalf("poison record redelivered: %v", got)
	}
	if offs, _ := h.c.Offsets("g"); offs[0].Start != 1 {
		t.Fatalf("start %d, want 1 (archived)", offs[0].Start)
	}
	if ks := h.c.TakeDirty(); len(ks) != 1 || ks[0] != key {
		t.Fatalf("dirty %v", ks)
	}
}

func TestMaxRecordLocks(t *testing.T) {
	h := newHarness()
	if got := h.acquire(t, "a", 500, 1000); got[0] != (Range{0, 99, 1}) {
		t.Fatalf("acquired %v, want 100 records", got)
	}
	if got := h.acquire(t, "b", 500, 1000); len(got) != 0 {
		t.Fatalf("acquired past the lock limit: %v", got)
	}
}

// TestReplay: a snapshot restores acknowledged and archived records and
// the start offset; acquired records come back available.
func TestReplay(t *testing.T) {
	h := newHarness()
	h.acquire(t, "a", 6, 10)
	if _, err := h.c.Acknowledge(key, "a", []AckBatch{ack(0, 0, AckAccept), ack(2, 2, AckAccept), ack(3, 3, AckReject)}, false); err != nil {
		t.Fatal(err)
	}
	v, _ := h.c.Persisted(key)
	h2 := newHarness()
	if err := h2.c.Replay(EncodeKey(key), v); err != nil {
		t.Fatal(err)
	}
	got := h2.acquire(t, "b", 20, 10)
	want := []Range{{1, 1, 2}, {4, 5, 2}, {6, 9, 1}}
	if len(got) != len(want) {
		t.Fatalf("after replay acquired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after replay acquired %v, want %v", got, want)
		}
	}
	// A tombstone forgets it.
	if err := h2.c.Replay(EncodeKey(key), nil); err != nil {
		t.Fatal(err)
	}
	if h2.c.Exists("g") {
		t.Fatal("group survived its tombstone")
	}
	if err := h2.c.Replay([]byte{0, 9}, v); err == nil {
		t.Fatal("bad key accepted")
	}
	if err := h2.c.Replay(EncodeKey(key), v[:len(v)-3]); err == nil {
		t.Fatal("truncated value accepted")
	}
}

func hb(h *harness, m string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", m, epoch
	if topics != nil {
		req.SubscribedTopicNames = topics
	}
	return h.c.Heartbeat(req, "client", "/127.0.0.1")
}

func TestHeartbeatAssignment(t *testing.T) {
	h := newHarness()
	r := hb(h, "a", 0, "t")
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || len(r.Assignment.TopicPartitions[0].Partitions) != 2 {
		t.Fatalf("join a: %+v", r)
	}
	r = hb(h, "b", 0, "t")
	if r.MemberEpoch != 2 || len(r.Assignment.TopicPartitions[0].Partitions) != 1 {
		t.Fatalf("join b: %+v", r)
	}
	r = hb(h, "c", 0, "t") // more members than partitions: c shares one
	if r.MemberEpoch != 3 || len(r.Assignment.TopicPartitions) != 1 || r.Assignment.TopicPartitions[0].Partitions[0] != 0 {
		t.Fatalf("join c: %+v", r.Assignment)
	}
	if r := hb(h, "a", 1); r.ErrorCode != 0 || r.MemberEpoch != 3 || r.Assignment == nil {
		t.Fatalf("a moves to epoch 3 with its new assignment: %+v", r)
	}
	if r := hb(h, "a", 1); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	if r := hb(h, "z", 3); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %+v", r)
	}
	// c's session expires; b leaves: a gets both partitions again.
	h.now = h.now.Add(46 * time.Second)
	hb(h, "a", 3)
	if r := hb(h, "b", 2); r.MemberEpoch != 3 {
		t.Fatalf("b: %+v", r)
	}
	h.c.Tick(h.now.Add(time.Second))
	if d, _ := h.c.Describe("g"); len(d.Members) != 2 {
		t.Fatalf("members after expiry: %+v", d.Members)
	}
	if r := hb(h, "b", -1); r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	r = hb(h, "a", 3)
	if r.MemberEpoch != 5 || len(r.Assignment.TopicPartitions[0].Partitions) != 2 {
		t.Fatalf("a after churn: %+v", r)
	}
}

// TestLeaveReleases: a member leaving releases its acquired records.
func TestLeaveReleases(t *testing.T) {
	h := newHarness()
	hb(h, "a", 0, "t")
	h.acquire(t, "a", 3, 3)
	hb(h, "a", -1)
	if got := h.acquire(t, "b", 3, 3); len(got) != 1 || got[0] != (Range{0, 2, 2}) {
		t.Fatalf("after leave acquired %v", got)
	}
	if _, err := h.c.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
}

// TestAckAdvancingStartWakesFetches: an acknowledgement that moves the
// start offset makes room under the lock limit, so long-polling fetches
// are woken; one that does not move it (records ahead of an unacknowledged
// one) does not wake them.
func TestAckAdvancingStartWakesFetches(t *testing.T) {
	h := newHarness()
	h.acquire(t, "a", 2, 10)
	h.acquire(t, "b", 2, 10)
	ch := h.c.Changed()
	if _, err := h.c.Acknowledge(key, "b", []AckBatch{ack(2, 3, AckAccept)}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("woken though the start offset did not move")
	default:
	}
	if _, err := h.c.Acknowledge(key, "a", []AckBatch{ack(0, 1, AckAccept)}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("not woken when the start offset moved")
	}
}

func TestForgetTopic(t *testing.T) {
	h := newHarness()
	h.acquire(t, "a", 1, 1)
	other := Key{"g2", TP{[16]byte{2}, 0}}
	h.c.Acquire(other, "a", 1, View{End: 1})
	if ks := h.c.ForgetTopic(topicT); len(ks) != 1 || ks[0] != key {
		t.Fatalf("forgot %v", ks)
	}
	if h.c.Exists("g") || !h.c.Exists("g2") {
		t.Fatal("wrong groups forgotten")
	}
	if v, _ := h.c.Persisted(key); v != nil {
		t.Fatal("deleted share-partition still persisted")
	}
}
