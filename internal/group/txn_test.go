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
		if e := h.c.OffsetCommit(r).Topics[0].Partitions[0].ErrorCode; e != 0 {
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
		if e := h.c.TxnOffsetCommit(r).Topics[0].Partitions[0].ErrorCode; e != 0 {
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
	h.c.EndTxn(1, true)
	h.c.EndTxn(2, false)
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
		func() { r.ReplayMarker(1, true) },
		func() { r.ReplayMarker(2, false) },
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
