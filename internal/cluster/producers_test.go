package cluster

import (
	"bytes"
	"sync"
	"testing"
)

// A commit carrying a partition's producer state writes it in the txn of
// its offsets; a commit without one leaves it; a failed commit writes
// neither; deleting the topic deletes it.
func TestCommitProducerState(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp := tpN(7, 0)
	if st, hw, err := c.Producers(ctx, tp); err != nil || st != nil || hw != 0 {
		t.Fatalf("state of a new partition: %q at %d, %v", st, hw, err)
	}
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	a := appendOf(tp, l.Epoch, 0, 3, "o1")
	a.Producers = []byte("state-1")
	if err := m.Commit(ctx, []PartitionAppend{a}, ObjectMeta{Name: "o1"}); err != nil {
		t.Fatal(err)
	}
	if st, hw, err := c.Producers(ctx, tp); err != nil || string(st) != "state-1" || hw != 3 {
		t.Fatalf("after a commit with state: %q at %d, %v", st, hw, err)
	}
	if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 3, 2, "o2")}, ObjectMeta{Name: "o2"}); err != nil {
		t.Fatal(err)
	}
	if st, hw, err := c.Producers(ctx, tp); err != nil || string(st) != "state-1" || hw != 5 {
		t.Fatalf("after a commit without state: %q at %d, %v", st, hw, err)
	}
	// A commit at the wrong hw is refused whole: the state stays.
	bad := appendOf(tp, l.Epoch, 9, 1, "o3")
	bad.Producers = []byte("state-bad")
	if err := m.Commit(ctx, []PartitionAppend{bad}, ObjectMeta{Name: "o3"}); err == nil {
		t.Fatal("commit at the wrong hw applied")
	}
	empty := appendOf(tp, l.Epoch, 5, 1, "o4")
	empty.Producers = []byte{}
	if err := m.Commit(ctx, []PartitionAppend{empty}, ObjectMeta{Name: "o4"}); err != nil {
		t.Fatal(err)
	}
	if st, hw, err := c.Producers(ctx, tp); err != nil || st == nil || len(st) != 0 || hw != 6 {
		t.Fatalf("after a commit of an empty state: %q (nil %v) at %d, %v", st, st == nil, hw, err)
	}
	if err := c.CreateTopic(ctx, TopicInfo{Name: "t", ID: tp.TopicID, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.raw(t).Get(ctx, c.k.producers(tp)); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("producer state after the topic's deletion: %v %v", resp, err)
	}
}

// Blocks of producer ids from concurrent clients never overlap.
func TestAllocateProducerIDs(t *testing.T) {
	e := startEtcd(t, 128)
	ctx := ctxT(t)
	c1, c2 := e.open(t, nil), e.open(t, nil)
	if _, err := c1.AllocateProducerIDs(ctx, 0); err == nil {
		t.Fatal("a block of 0 ids")
	}
	var mu sync.Mutex
	var blocks []ProducerIDBlock
	var wg sync.WaitGroup
	for i := range 8 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		wg.Go(func() {
			for range 5 {
				b, err := c.AllocateProducerIDs(ctx, 1000)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				blocks = append(blocks, b)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(blocks) != 40 {
		t.Fatalf("%d blocks", len(blocks))
	}
	seen := make([]bool, 40)
	for _, b := range blocks {
		if b.End-b.Start != 1000 || b.Start%1000 != 0 || b.Start < 0 || b.Start >= 40000 || seen[b.Start/1000] {
			t.Fatalf("block %+v (blocks %v)", b, blocks)
		}
		seen[b.Start/1000] = true
	}
	resp, err := e.raw(t).Get(ctx, c1.k.producerIDs())
	if err != nil || len(resp.Kvs) != 1 || !bytes.Contains(resp.Kvs[0].Value, []byte(`"next":40000`)) {
		t.Fatalf("counter: %v %v", resp, err)
	}
}
