package cluster

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// An index larger than a page (2,500 entries over 3 commits) loads whole
// and in offset order; DeleteIndexBelow deletes the entries wholly below
// the new log start, keeps the straddling one, records the log start for
// the next leader, and refuses an offset past hw; the objects no entry
// references any more are what the garbage collector finds.
func TestIndexLoadAndRetention(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp, neighbour := tpN(9, 1), tpN(9, 10) // "…/1/" must not match "…/10/"
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := m.Acquire(ctx, neighbour)
	if err != nil {
		t.Fatal(err)
	}
	const perCommit, commits = 900, 3
	next := int64(0)
	for i := range commits {
		obj := fmt.Sprintf("obj-%d", i)
		a := PartitionAppend{Partition: tp, LeaderEpoch: l.Epoch}
		n := perCommit
		if i == commits-1 {
			n = 2500 - 2*perCommit
		}
		for j := range n {
			// Entries of 2 offsets each.
			a.Entries = append(a.Entries, IndexEntry{BaseOffset: next, LastOffset: next + 1, Object: obj, Position: int64(j) * 100, Length: 100, RecordCount: 2, LeaderEpoch: l.Epoch})
			next += 2
		}
		a.HW = next
		appends := []PartitionAppend{a}
		if i == 0 {
			appends = append(appends, appendOf(neighbour, ln.Epoch, 0, 7, obj))
		}
		if err := m.Commit(ctx, appends, ObjectMeta{Name: obj, Size: int64(n) * 100}); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := c.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 2500 {
		t.Fatalf("loaded %d entries, want 2500", len(idx))
	}
	for i, en := range idx {
		if en.BaseOffset != int64(2*i) || en.LastOffset != int64(2*i+1) || en.RecordCount != 2 {
			t.Fatalf("entry %d: %+v", i, en)
		}
	}
	if idx[899].Object != "obj-0" || idx[900].Object != "obj-1" || idx[900].Position != 0 || idx[2499].Object != "obj-2" {
		t.Fatalf("objects of the entries: %+v %+v %+v", idx[899], idx[900], idx[2499])
	}

	// Log start 1801: the entry [1800, 1801] straddles it and stays;
	// entries 0..899 ([0, 1799]) go.
	if _, err := m.DeleteIndexBelow(ctx, tp, l.Epoch, next+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("log start past hw: %v", err)
	}
	if _, err := m.DeleteIndexBelow(ctx, tp, l.Epoch+1, 10); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("DeleteIndexBelow at another epoch: %v", err)
	}
	n, err := m.DeleteIndexBelow(ctx, tp, l.Epoch, 1801)
	if err != nil || n != 900 {
		t.Fatalf("DeleteIndexBelow(1801): %d, %v; want 900 deleted", n, err)
	}
	if n, err := m.DeleteIndexBelow(ctx, tp, l.Epoch, 1000); err != nil || n != 0 {
		t.Fatalf("moving the log start back: %d, %v", n, err)
	}
	idx, err = c.LoadIndex(ctx, tp)
	if err != nil || len(idx) != 1600 || idx[0].BaseOffset != 1800 {
		t.Fatalf("after retention: %d entries from %+v, %v", len(idx), idx[0], err)
	}
	if s, err := c.LogStartOffset(ctx, tp); err != nil || s != 1801 {
		t.Fatalf("log start: %d %v", s, err)
	}
	if nidx, err := c.LoadIndex(ctx, neighbour); err != nil || len(nidx) != 1 {
		t.Fatalf("retention of %s touched %s: %+v %v", tp, neighbour, nidx, err)
	}

	// The garbage collector's view: obj-0 is still referenced by the
	// neighbour, so nothing is unreferenced; after the neighbour's
	// retention obj-0 is.
	unreferenced := func() []string {
		refs := map[string]bool{}
		if _, err := c.ScanIndex(ctx, func(_ TopicPartition, e IndexEntry) error { refs[e.Object] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		var out []string
		if _, err := c.Objects(ctx, func(r ObjectRecord) error {
			if !refs[r.Name] {
				out = append(out, r.Name)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if u := unreferenced(); len(u) != 0 {
		t.Fatalf("unreferenced objects while obj-0 is still used: %v", u)
	}
	if n, err := m.DeleteIndexBelow(ctx, neighbour, ln.Epoch, 7); err != nil || n != 1 {
		t.Fatalf("neighbour retention: %d %v", n, err)
	}
	if u := unreferenced(); strings.Join(u, ",") != "obj-0" {
		t.Fatalf("unreferenced objects: %v, want obj-0", u)
	}
	if ok, err := c.DeleteObject(ctx, "obj-0"); err != nil || !ok {
		t.Fatalf("DeleteObject: %v %v", ok, err)
	}
	if ok, err := c.DeleteObject(ctx, "obj-0"); err != nil || ok {
		t.Fatalf("DeleteObject again: %v %v", ok, err)
	}

	// The next leader starts from the recorded log start and hw.
	if err := m.Resign(ctx, tp); err != nil {
		t.Fatal(err)
	}
	m2 := register(t, c, 2)
	l2, err := m2.Acquire(ctx, tp)
	if err != nil || l2.LogStart != 1801 || l2.HW != next || l2.Epoch != l.Epoch+1 {
		t.Fatalf("next leader: %+v %v", l2, err)
	}
}

// WatchLeaders: a reset with the current leaders first, then changes as
// partitions are acquired and resigned.
func TestWatchLeaders(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp0, tp1 := tpN(11, 0), tpN(11, 1)
	if _, err := m.Acquire(ctx, tp0); err != nil {
		t.Fatal(err)
	}
	type call struct {
		changes []LeaderChange
		reset   bool
	}
	var calls []call
	seen := newLatest[[]call]()
	w := c.WatchLeaders(ctx, func(ch []LeaderChange, reset bool) {
		calls = append(calls, call{ch, reset})
		seen.set(append([]call(nil), calls...))
	})
	defer w.Stop()
	seen.waitFor(t, "the reset", func(cs []call) bool { return len(cs) >= 1 })
	if _, err := m.Acquire(ctx, tp1); err != nil {
		t.Fatal(err)
	}
	seen.waitFor(t, "tp1 acquired", func(cs []call) bool { return len(cs) >= 2 })
	if err := m.Resign(ctx, tp0); err != nil {
		t.Fatal(err)
	}
	cs := seen.waitFor(t, "tp0 resigned", func(cs []call) bool { return len(cs) >= 3 })
	want := []call{
		{[]LeaderChange{{Partition: tp0, Leader: LeaderInfo{NodeID: 1, Epoch: 0}}}, true},
		{[]LeaderChange{{Partition: tp1, Leader: LeaderInfo{NodeID: 1, Epoch: 0}}}, false},
		{[]LeaderChange{{Partition: tp0, Gone: true}}, false},
	}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Fatalf("calls:\n%v\nwant\n%v", cs, want)
	}
}

// Concurrent DeleteIndexBelow calls of one leader: one moves the log
// start, the other finds it moved but the leadership unchanged: both
// succeed (or change nothing) and the member still leads (Commit works).
func TestConcurrentDeleteIndexBelowKeepsLeadership(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	tp := tpN(7, 0)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(10) {
		if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, i*2, 2, fmt.Sprintf("o%d", i))}, ObjectMeta{Name: fmt.Sprintf("o%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range int64(4) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = m.DeleteIndexBelow(ctx, tp, l.Epoch, round*4+int64(i)+1)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, call %d: %v", round, i, err)
			}
		}
	}
	if start, err := c.LogStartOffset(ctx, tp); err != nil || start < 13 {
		t.Fatalf("log start %d %v", start, err)
	}
	if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 20, 1, "after")}, ObjectMeta{Name: "after"}); err != nil {
		t.Fatalf("commit after concurrent deletes: %v", err)
	}
}

// Concurrent Acquire calls of one partition by one member: all get the
// same leadership (one epoch, whose Commit works), not one that another
// call deleted and replaced.
func TestConcurrentAcquireOneLeadership(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	m := register(t, c, 1)
	for p := range int32(20) {
		tp := tpN(8, p)
		ls := make([]Leadership, 6)
		errs := make([]error, len(ls))
		var wg sync.WaitGroup
		for i := range ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ls[i], errs[i] = m.Acquire(ctx, tp)
			}()
		}
		wg.Wait()
		for i := range ls {
			if errs[i] != nil || ls[i].Epoch != 0 {
				t.Fatalf("%s: call %d: %+v %v", tp, i, ls[i], errs[i])
			}
		}
		if ep, err := c.Epoch(ctx, tp); err != nil || ep != 0 {
			t.Fatalf("%s: epoch in etcd %d %v", tp, ep, err)
		}
		if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, 0, 0, 1, "x"+tp.String())}, ObjectMeta{Name: "x" + tp.String()}); err != nil {
			t.Fatalf("%s: commit: %v", tp, err)
		}
	}
}
