package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnOffsetsAgainstPlainCommits: offsets committed in a transaction
// are written at once as that producer's records, pending until the
// marker; a commit applies them only over offsets written before them (a
// plain commit written later wins, as Kafka compares log positions); an
// abort drops them; replay resolves them the same way.
func TestTxnOffsetsAgainstPlainCommits(t *testing.T) {
	h := newHarness(t, 0)
	plain := func(part int32, off int64) {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version, r.Group, r.Generation = 9, "g", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = part, off
		rt.Partitions = append(rt.Partitions, p)
		r.Topics = append(r.Topics, rt)
		if e := commitSync(h.c, r).Topics[0].Partitions[0].ErrorCode; e != 0 {
			t.Fatalf("plain commit: %d", e)
		}
	}
	txn := func(pid int64, part int32, off int64) {
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.Version, r.Group, r.ProducerID, r.Generation = 3, "g", pid, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = part, off
		rt.Partitions = append(rt.Partitions, p)
		r.Topics = append(r.Topics, rt)
		if e := txnCommitSync(h.c, r).Topics[0].Partitions[0].ErrorCode; e != 0 {
			t.Fatalf("txn commit: %d", e)
		}
	}
	committed := func(c *Coordinator, part int32) int64 {
		ts, err := c.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{part}}})
		if err != nil {
			t.Fatal(err)
		}
		return ts[0].Partitions[0].Offset
	}

	txn(1, 0, 10) // partition 0: the transaction's offset is older
	plain(0, 20)
	plain(1, 30) // partition 1: the transaction's offset is newer
	txn(1, 1, 40)
	txn(2, 2, 50) // aborted
	if !h.c.HasPendingTxnOffsets("g", "t", 1) || committed(h.c, 1) != 30 {
		t.Fatalf("pending offset visible: %d", committed(h.c, 1))
	}
	gp := PartitionFor("g", h.c.cfg.Partitions)
	h.c.EndTxn(1, gp, true)
	h.c.EndTxn(2, gp, false)
	want := map[int32]int64{0: 20, 1: 40, 2: -1}
	for p, w := range want {
		if got := committed(h.c, p); got != w {
			t.Fatalf("partition %d: %d, want %d", p, got, w)
		}
	}
	if len(h.txnRecs) != 3 || h.txnRecs[0].pid != 1 || h.txnRecs[2].pid != 2 {
		t.Fatalf("transactional records: %+v", h.txnRecs)
	}

	// Replay in the same log order: plain and transactional records
	// interleaved as written, then the markers.
	r := New(Config{Now: func() time.Time { return h.now }})
	replay := []func(){
		func() { r.ReplayTxnOffset(1, h.txnRecs[0].Key, h.txnRecs[0].Value) },
		func() { r.Replay(h.recs[0].Key, h.recs[0].Value) },
		func() { r.Replay(h.recs[1].Key, h.recs[1].Value) },
		func() { r.ReplayTxnOffset(1, h.txnRecs[1].Key, h.txnRecs[1].Value) },
		func() { r.ReplayTxnOffset(2, h.txnRecs[2].Key, h.txnRecs[2].Value) },
		func() { r.ReplayMarker(1, gp, true) },
		func() { r.ReplayMarker(2, gp, false) },
	}
	for _, f := range replay {
		f()
	}
	r.Loaded()
	for p, w := range want {
		if got := committed(r, p); got != w {
			t.Fatalf("replayed partition %d: %d, want %d", p, got, w)
		}
	}
	if r.HasPendingTxnOffsets("g", "t", 2) {
		t.Fatal("aborted offsets pending after replay")
	}
}

// TestReplayResolvesPendingOffsetsByPartition: replay reads one
// __consumer_offsets partition after another, so a producer's commit
// marker met in one partition (an older transaction) must not resolve its
// offsets pending in another (a newer transaction, still open).
func TestReplayResolvesPendingOffsetsByPartition(t *testing.T) {
	h := newHarness(t, 0)
	pa, pb := PartitionFor("a", h.c.cfg.Partitions), PartitionFor("b", h.c.cfg.Partitions)
	if pa == pb {
		t.Fatal("groups a and b share a partition")
	}
	commit := func(group string, off int64) {
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.Version, r.Group, r.ProducerID, r.Generation = 3, group, 7, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Offset = off
		rt.Partitions = append(rt.Partitions, p)
		r.Topics = append(r.Topics, rt)
		if e := txnCommitSync(h.c, r).Topics[0].Partitions[0].ErrorCode; e != 0 {
			t.Fatalf("txn commit: %d", e)
		}
	}
	commit("a", 10) // T1, committed
	h.c.EndTxn(7, pa, true)
	commit("b", 20) // T2, still open

	r := New(Config{Now: func() time.Time { return h.now }})
	// Partition pb first: T2's record; then pa: T1's record and marker.
	if err := r.ReplayTxnOffset(7, h.txnRecs[1].Key, h.txnRecs[1].Value); err != nil {
		t.Fatal(err)
	}
	if err := r.ReplayTxnOffset(7, h.txnRecs[0].Key, h.txnRecs[0].Value); err != nil {
		t.Fatal(err)
	}
	r.ReplayMarker(7, pa, true)
	r.Loaded()
	if !r.HasPendingTxnOffsets("b", "t", 0) {
		t.Fatal("the open transaction's offsets were resolved by an older transaction's marker")
	}
	got, err := r.FetchOffsets("a", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}})
	if err != nil || got[0].Partitions[0].Offset != 10 {
		t.Fatalf("group a: %+v %v", got, err)
	}
	r.EndTxn(7, pb, false)
	if r.HasPendingTxnOffsets("b", "t", 0) {
		t.Fatal("aborted offsets still pending")
	}
}

// TestDeletingOffsetsDropsPending: OffsetDelete and DeleteGroups forget
// offsets pending in a transaction too, so its commit cannot bring them
// back, as Kafka's removeOffsets does.
func TestDeletingOffsetsDropsPending(t *testing.T) {
	h := newHarness(t, 0)
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version, r.Group, r.ProducerID, r.Generation = 3, "g", 7, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	for _, part := range []int32{0, 1} {
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = part, 5
		rt.Partitions = append(rt.Partitions, p)
	}
	r.Topics = append(r.Topics, rt)
	txnCommitSync(h.c, r)
	if e, _ := deleteOffsetsSync(h.c, "g", []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}); e != nil {
		t.Fatalf("OffsetDelete: %v", e)
	}
	if h.c.HasPendingTxnOffsets("g", "t", 0) || !h.c.HasPendingTxnOffsets("g", "t", 1) {
		t.Fatal("OffsetDelete: wrong pending offsets left")
	}
	if e := deleteGroupSync(h.c, "g"); e != nil {
		t.Fatalf("DeleteGroups: %v", e)
	}
	h.c.EndTxn(7, PartitionFor("g", h.c.cfg.Partitions), true)
	got, err := h.c.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}})
	if err != nil || got[0].Partitions[0].Offset != -1 || got[0].Partitions[1].Offset != -1 {
		t.Fatalf("offsets after deletion and commit: %+v %v", got, err)
	}
}
