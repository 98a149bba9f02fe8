package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// register is a member of c with node id n.
func register(t testing.TB, c *Client, n int32) *Member {
	t.Helper()
	m, err := c.Register(ctxT(t), BrokerInfo{NodeID: n, Host: "127.0.0.1", Port: 9000 + n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func hwOf(t testing.TB, c *Client, tp TopicPartition) int64 {
	t.Helper()
	hw, err := c.HW(ctxT(t), tp)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// Leadership: one leader at a time, epochs count up across leaders, and an
// old leader that missed losing its key (a partitioned broker) cannot
// commit once another acquired: its whole commit fails with ErrNotLeader
// naming that partition, and nothing of it is applied.
func TestLeadershipFencing(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c1, c2 := e.open(t, nil), e.open(t, nil)
	a, b := register(t, c1, 1), register(t, c2, 2)
	tp, other := tpN(1, 0), tpN(1, 1)

	if ep, err := c1.Epoch(ctx, tp); err != nil || ep != -1 {
		t.Fatalf("epoch of a partition never led: %d %v", ep, err)
	}
	la, err := a.Acquire(ctx, tp)
	if err != nil || la.Epoch != 0 || la.HW != 0 {
		t.Fatalf("first acquisition: %+v %v", la, err)
	}
	if again, err := a.Acquire(ctx, tp); err != nil || again.Epoch != 0 {
		t.Fatalf("acquiring a partition already led: %+v %v", again, err)
	}
	lo, err := a.Acquire(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Acquire(ctx, tp)
	var le *LeaderExistsError
	if !errors.As(err, &le) || !errors.Is(err, ErrLeaderExists) || le.Leader != (LeaderInfo{NodeID: 1, Epoch: 0}) {
		t.Fatalf("second broker acquiring a led partition: %v", err)
	}
	if l, ok, err := c2.Leader(ctx, tp); err != nil || !ok || l != (LeaderInfo{NodeID: 1, Epoch: 0}) {
		t.Fatalf("Leader: %+v %v %v", l, ok, err)
	}
	if err := a.Commit(ctx, []PartitionAppend{appendOf(tp, 0, 0, 10, "o1"), appendOf(other, lo.Epoch, 0, 3, "o1")}, ObjectMeta{Name: "o1", Size: 130}); err != nil {
		t.Fatal(err)
	}

	// a's key vanishes behind its back (its lease expired in etcd while a
	// was cut off, say); b acquires at the next epoch.
	if _, err := e.raw(t).Delete(ctx, c1.k.leader(tp)); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, tp)
	if err != nil || lb.Epoch != 1 || lb.HW != 10 {
		t.Fatalf("takeover: %+v %v", lb, err)
	}
	// a still believes it leads both partitions.
	if got := a.Leading(); got[tp] != 0 || len(got) != 2 {
		t.Fatalf("a's leaderships before its commit: %v", got)
	}
	err = a.Commit(ctx, []PartitionAppend{appendOf(tp, 0, 10, 5, "o2"), appendOf(other, lo.Epoch, 3, 2, "o2")}, ObjectMeta{Name: "o2"})
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) || len(nl.Partitions) != 1 || nl.Partitions[0] != tp || Retriable(err) {
		t.Fatalf("old leader's commit: %v, want ErrNotLeader for %s only", err, tp)
	}
	if hwOf(t, c1, tp) != 10 || hwOf(t, c1, other) != 3 {
		t.Fatalf("a fenced commit changed hw: %d %d", hwOf(t, c1, tp), hwOf(t, c1, other))
	}
	if idx, _ := c1.LoadIndex(ctx, other); len(idx) != 1 {
		t.Fatalf("a fenced commit added index entries: %+v", idx)
	}
	n := 0
	if _, err := c1.Objects(ctx, func(r ObjectRecord) error {
		n++
		if r.Name != "o1" {
			t.Errorf("object record %q of a fenced commit", r.Name)
		}
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("objects: %d %v", n, err)
	}
	// a learnt it: it no longer leads tp, and fails locally from now on.
	if _, ok := a.Leading()[tp]; ok {
		t.Fatal("a still believes it leads the partition it lost")
	}
	if err := a.Commit(ctx, []PartitionAppend{appendOf(other, lo.Epoch, 3, 2, "o3")}, ObjectMeta{Name: "o3"}); err != nil {
		t.Fatalf("a's commit of the partition it still leads: %v", err)
	}
	// The new leader commits; an append at the old epoch is refused.
	if err := b.Commit(ctx, []PartitionAppend{appendOf(tp, 0, 10, 5, "o4")}, ObjectMeta{Name: "o4"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("commit at a stale epoch: %v", err)
	}
	if err := b.Commit(ctx, []PartitionAppend{appendOf(tp, 1, 10, 5, "o4")}, ObjectMeta{Name: "o4"}); err != nil {
		t.Fatal(err)
	}
	if hwOf(t, c1, tp) != 15 {
		t.Fatalf("hw after the new leader's commit: %d", hwOf(t, c1, tp))
	}

	// Resign frees the partition for the next leader, at epoch 2.
	if err := b.Resign(ctx, tp); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, []PartitionAppend{appendOf(tp, 1, 15, 1, "o5")}, ObjectMeta{Name: "o5"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("commit after Resign: %v", err)
	}
	if l, err := a.Acquire(ctx, tp); err != nil || l.Epoch != 2 || l.HW != 15 {
		t.Fatalf("acquiring after Resign: %+v %v", l, err)
	}

	// A Resign whose delete never reached etcd leaves the member's own key
	// behind; acquiring again replaces it at the next epoch.
	stale := tpN(1, 2)
	if _, err := b.Acquire(ctx, stale); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	delete(b.leading, stale)
	b.mu.Unlock()
	if l, err := b.Acquire(ctx, stale); err != nil || l.Epoch != 1 {
		t.Fatalf("acquiring over the member's own stale key: %+v %v", l, err)
	}
	if _, err := a.Acquire(ctx, stale); !errors.Is(err, ErrLeaderExists) {
		t.Fatalf("another member acquiring it: %v", err)
	}
}

// A commit whose first offset is not the partition's hw is refused whole:
// what a leader sees after a commit that timed out was applied after all
// and is then sent again.
func TestCommitHWMismatch(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp, tp2 := tpN(2, 0), tpN(2, 1)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := m.Acquire(ctx, tp2)
	if err != nil {
		t.Fatal(err)
	}
	first := []PartitionAppend{appendOf(tp, l.Epoch, 0, 4, "a")}
	if err := m.Commit(ctx, first, ObjectMeta{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	// The same commit again, with another partition.
	err = m.Commit(ctx, []PartitionAppend{appendOf(tp2, l2.Epoch, 0, 1, "b"), appendOf(tp, l.Epoch, 0, 4, "b")}, ObjectMeta{Name: "b"})
	var hm *HWMismatchError
	if !errors.As(err, &hm) || hm.Partition != tp || hm.Expected != 0 || hm.Actual != 4 || Retriable(err) {
		t.Fatalf("repeated commit: %v", err)
	}
	if hwOf(t, c, tp2) != 0 {
		t.Fatal("a refused commit moved another partition's hw")
	}
	// Still the leader: the next commit at hw works.
	if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 4, 2, "c")}, ObjectMeta{Name: "c"}); err != nil {
		t.Fatal(err)
	}
}

// A commit whose attempt timed out but was applied: retrying the same
// commit (same object) reports it applied (nil) and writes nothing twice;
// another commit of the same offsets and the same end (an earlier flush
// applied late) is refused with ErrHWMismatch though etcd's hw equals its
// end: only the object record proves which commit was applied.
func TestCommitRetryProvesItsOwnObject(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp, tp2 := tpN(3, 0), tpN(3, 1)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := m.Acquire(ctx, tp2)
	if err != nil {
		t.Fatal(err)
	}
	applied := []PartitionAppend{appendOf(tp, l.Epoch, 0, 4, "f1"), appendOf(tp2, l2.Epoch, 0, 2, "f1")}
	if err := m.Commit(ctx, applied, ObjectMeta{Name: "f1"}); err != nil {
		t.Fatal(err)
	}
	// The retry of the applied commit, also with a partition dropped (as
	// after a NotLeaderError): applied.
	if err := m.Commit(ctx, applied, ObjectMeta{Name: "f1"}); err != nil {
		t.Fatalf("retry of an applied commit: %v", err)
	}
	if err := m.Commit(ctx, applied[:1], ObjectMeta{Name: "f1"}); err != nil {
		t.Fatalf("retry of an applied commit with fewer partitions: %v", err)
	}
	// Another flush of the same offsets ending at the same hw.
	err = m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 0, 4, "f2")}, ObjectMeta{Name: "f2"})
	var hm *HWMismatchError
	if !errors.As(err, &hm) || hm.Partition != tp || hm.Actual != 4 || hm.Expected != 0 {
		t.Fatalf("commit of another object at applied offsets: %v", err)
	}
	idx, err := c.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 1 || idx[0] != applied[0].Entries[0] || hwOf(t, c, tp) != 4 || hwOf(t, c, tp2) != 2 {
		t.Fatalf("index %+v, hw %d/%d", idx, hwOf(t, c, tp), hwOf(t, c, tp2))
	}
	var names []string
	if _, err := c.Objects(ctx, func(r ObjectRecord) error { names = append(names, r.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "f1" {
		t.Fatalf("object records %v", names)
	}
}

// Arguments a leader cannot mean are refused before etcd sees them.
func TestCommitInvalid(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp := tpN(3, 0)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	gap := appendOf(tp, l.Epoch, 0, 2, "x")
	gap.Entries = append(gap.Entries, IndexEntry{BaseOffset: 5, LastOffset: 6, Object: "x", Length: 1})
	gap.HW = 7
	badHW := appendOf(tp, l.Epoch, 0, 2, "x")
	badHW.HW = 3
	for name, tc := range map[string]struct {
		a   []PartitionAppend
		obj string
	}{
		"no partitions":   {nil, "x"},
		"no object name":  {[]PartitionAppend{appendOf(tp, l.Epoch, 0, 2, "x")}, ""},
		"no entries":      {[]PartitionAppend{{Partition: tp, LeaderEpoch: l.Epoch}}, "x"},
		"gap":             {[]PartitionAppend{gap}, "x"},
		"hw not at end":   {[]PartitionAppend{badHW}, "x"},
		"partition twice": {[]PartitionAppend{appendOf(tp, l.Epoch, 0, 2, "x"), appendOf(tp, l.Epoch, 2, 2, "x")}, "x"},
	} {
		if err := m.Commit(ctx, tc.a, ObjectMeta{Name: tc.obj}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if hwOf(t, c, tp) != 0 {
		t.Fatal("an invalid commit moved hw")
	}
}

// acquireAll acquires n partitions of topic with 16 concurrent requests.
func acquireAll(t testing.TB, m *Member, topic byte, n int) map[TopicPartition]Leadership {
	t.Helper()
	var mu sync.Mutex
	out := map[TopicPartition]Leadership{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int32)
	for range 16 {
		wg.Go(func() {
			for p := range next {
				tp := tpN(topic, p)
				l, err := m.Acquire(ctxT(t), tp)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", tp, err)
					continue
				}
				mu.Lock()
				out[tp] = l
				mu.Unlock()
			}
		})
	}
	for p := range n {
		next <- int32(p)
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// A commit over the client's MaxCallSendMsgSize is never sent: it fails
// with ErrTxnTooLarge (final: nothing applied), not as retriable.
func TestCommitOverMaxCallSendMsgSize(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, func(cfg *Config) { cfg.MaxCallSendMsgSize = 16 << 10 })
	m := register(t, c, 1)
	held := acquireAll(t, m, 9, 200)
	var appends []PartitionAppend
	for tp, l := range held {
		appends = append(appends, appendOf(tp, l.Epoch, 0, 1, "large"))
	}
	err := m.Commit(ctx, appends, ObjectMeta{Name: "large"})
	if !errors.Is(err, ErrTxnTooLarge) || Retriable(err) {
		t.Fatalf("commit over MaxCallSendMsgSize: %v", err)
	}
	for tp := range held {
		if hw := hwOf(t, c, tp); hw != 0 {
			t.Fatalf("hw of %s moved to %d", tp, hw)
		}
		break
	}
	// A small one goes through.
	if err := m.Commit(ctx, appends[:1], ObjectMeta{Name: "small"}); err != nil {
		t.Fatal(err)
	}
}

// One flush of 1,000 partitions is one etcd txn (2,001 operations) under
// --max-txn-ops 4096; every partition's hw and index entry lands.
func TestCommitThousandPartitions(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	const n = 1000
	if got := c.MaxPartitionsPerCommit(); got < n {
		t.Fatalf("MaxPartitionsPerCommit %d at --max-txn-ops 4096", got)
	}
	start := time.Now()
	held := acquireAll(t, m, 4, n)
	acquired := time.Since(start)
	appends := make([]PartitionAppend, 0, n)
	for p := range int32(n) {
		tp := tpN(4, p)
		appends = append(appends, appendOf(tp, held[tp].Epoch, 0, int64(p)+1, "big"))
	}
	start = time.Now()
	if err := m.Commit(ctx, appends, ObjectMeta{Name: "big", Size: 1 << 20, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	t.Logf("acquired %d partitions in %v; one commit of all of them in %v", n, acquired, time.Since(start))
	for _, p := range []int32{0, 1, 499, 999} {
		tp := tpN(4, p)
		if hw := hwOf(t, c, tp); hw != int64(p)+1 {
			t.Fatalf("hw of %s: %d", tp, hw)
		}
	}
	entries := 0
	if _, err := c.ScanIndex(ctx, func(tp TopicPartition, e IndexEntry) error {
		entries++
		if e.Object != "big" || e.LastOffset != int64(tp.Partition) {
			return fmt.Errorf("entry of %s: %+v", tp, e)
		}
		return nil
	}); err != nil || entries != n {
		t.Fatalf("ScanIndex: %d entries, %v", entries, err)
	}
	var rec ObjectRecord
	if _, err := c.Objects(ctx, func(r ObjectRecord) error { rec = r; return nil }); err != nil || len(rec.Partitions) != n || rec.Size != 1<<20 {
		t.Fatalf("object record: %d partitions, %v", len(rec.Partitions), err)
	}
}

// At etcd's default --max-txn-ops (128), a commit of 100 partitions is
// refused before it is sent (ErrTxnTooLarge, not retriable), with
// MaxPartitionsPerCommit saying 42 fit (each with its producer state); a Config.MaxTxnOps above the
// server's gets the same error from etcd itself.
func TestCommitOverMaxTxnOps(t *testing.T) {
	e := startEtcd(t, 128)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	if got := c.MaxPartitionsPerCommit(); got != 42 {
		t.Fatalf("MaxPartitionsPerCommit at 128: %d", got)
	}
	held := acquireAll(t, m, 5, 100)
	appendsN := func(n int, obj string) []PartitionAppend {
		var out []PartitionAppend
		for p := range int32(n) {
			tp := tpN(5, p)
			out = append(out, appendOf(tp, held[tp].Epoch, 0, 1, obj))
		}
		return out
	}
	err := m.Commit(ctx, appendsN(100, "o"), ObjectMeta{Name: "o"})
	if !errors.Is(err, ErrTxnTooLarge) || Retriable(err) {
		t.Fatalf("commit of 100 partitions at 128 ops: %v", err)
	}
	full := appendsN(42, "o")
	for i := range full {
		full[i].Producers = []byte{1}
	}
	if err := m.Commit(ctx, full, ObjectMeta{Name: "o"}); err != nil {
		t.Fatalf("commit of 42 partitions with producer state at 128 ops: %v", err)
	}

	// A client told the server takes more than it does.
	wrong := e.open(t, func(cfg *Config) { cfg.MaxTxnOps = 4096 })
	m2 := register(t, wrong, 2)
	held2 := acquireAll(t, m2, 6, 100)
	var over []PartitionAppend
	for tp, l := range held2 {
		over = append(over, appendOf(tp, l.Epoch, 0, 1, "p"))
	}
	err = m2.Commit(ctx, over, ObjectMeta{Name: "p"})
	if !errors.Is(err, ErrTxnTooLarge) || Retriable(err) {
		t.Fatalf("commit refused by etcd for its size: %v", err)
	}
}

// etcd stopped: a commit fails with a retriable error (and the leader
// keeps its leadership, its lease outliving the outage), a member with a
// short lease loses its membership; etcd restarted on the same data: the
// same commit succeeds through the same client, the watch of brokers
// resumes by itself, and the lost member's registration expires.
func TestEtcdRestart(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, func(cfg *Config) { cfg.LeaseTTL = 60 * time.Second })
	short := e.open(t, func(cfg *Config) { cfg.LeaseTTL = time.Second })
	brokers := newLatest[[]BrokerInfo]()
	w := c.WatchBrokers(ctx, brokers.set)
	defer w.Stop()
	m := register(t, c, 1)
	s := register(t, short, 2)
	brokers.waitFor(t, "both registered", func(bs []BrokerInfo) bool { return len(bs) == 2 })
	tp := tpN(8, 0)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	app := []PartitionAppend{appendOf(tp, l.Epoch, 0, 3, "r")}

	e.stop()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = m.Commit(cctx, app, ObjectMeta{Name: "r"})
	cancel()
	if !Retriable(err) || errors.Is(err, ErrNotLeader) {
		t.Fatalf("commit with etcd down: %v, want a retriable error", err)
	}
	waitDone(t, "the short-lease member to lose its membership while etcd is down", s.Done())
	if !errors.Is(s.Err(), ErrLeaseLost) {
		t.Fatalf("short-lease member: %v", s.Err())
	}
	select {
	case <-m.Done():
		t.Fatalf("the 60 s member lost its membership: %v", m.Err())
	default:
	}

	e.start()
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = m.Commit(cctx, app, ObjectMeta{Name: "r"})
		cancel()
		if err == nil {
			t.Logf("commit succeeded at attempt %d after the restart", attempt)
			break
		}
		if !Retriable(err) || time.Now().After(deadline) {
			t.Fatalf("commit after the restart: %v", err)
		}
	}
	if hwOf(t, c, tp) != 3 {
		t.Fatalf("hw after the restart: %d", hwOf(t, c, tp))
	}
	// etcd restored node 2's lease with a fresh TTL; nobody renews it.
	brokers.waitFor(t, "node 2's registration to expire after the restart", func(bs []BrokerInfo) bool {
		return len(bs) == 1 && bs[0].NodeID == 1
	})
	register(t, c, 3)
	brokers.waitFor(t, "the watch to see a registration after the restart", func(bs []BrokerInfo) bool { return len(bs) == 2 })
}
