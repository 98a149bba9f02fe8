package objlog

import (
	"testing"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// A partition whose resync fails (here etcd holds a bad hw value for it)
// does not hold the others back: they resync in the same pass; it stays
// resyncing and is tried again only after maxRetryBackoff, not before
// every flush.
func TestResyncContinuesPastFailingPartition(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{Clock: clock}})
	var ps []*Partition
	for i := range int32(6) {
		p := acquire(t, b, tpN(43, i))
		p.mu.Lock()
		p.state = resyncing
		p.mu.Unlock()
		b.f.mu.Lock()
		b.f.resync[p] = clock.Now()
		b.f.mu.Unlock()
		ps = append(ps, p)
	}
	bad := ps[2]
	if _, err := e.Raw(t).Put(ctxT(t), "/sluice/test/hw/"+bad.tp.String(), "not json"); err != nil {
		t.Fatal(err)
	}
	b.f.resyncAll(ctxT(t))
	for _, p := range ps {
		p.mu.Lock()
		st := p.state
		p.mu.Unlock()
		if want := leading; p == bad {
			if st != resyncing {
				t.Fatalf("%s (bad hw in etcd): state %d", p.tp, st)
			}
		} else if st != want {
			t.Fatalf("%s: state %d after a resync pass, want leading", p.tp, st)
		}
	}
	b.f.mu.Lock()
	due, ok := b.f.resync[bad]
	n := len(b.f.resync)
	b.f.mu.Unlock()
	if !ok || n != 1 || !due.Equal(clock.Now().Add(maxRetryBackoff)) {
		t.Fatalf("resync waiting: %d, bad one due %v (ok %v), now %v", n, due, ok, clock.Now())
	}
	if d, ok := b.f.nextResync(); !ok || !d.Equal(due) {
		t.Fatalf("next resync %v %v", d, ok)
	}
}

// A loaded index must cover the log start: its first entry holds it (or
// the index is empty and the log start is the hw).
func TestCheckIndexCoversLogStart(t *testing.T) {
	tp := tpN(44, 0)
	ent := func(base, last int64) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last, Object: "o", Length: 1}
	}
	for _, tc := range []struct {
		idx           []cluster.IndexEntry
		logStart, hw  int64
		ok            bool
		firstAfterLog int64
	}{
		{nil, 0, 0, true, -1},
		{nil, 5, 5, true, -1},
		{nil, 0, 5, false, -1},
		{[]cluster.IndexEntry{ent(0, 4), ent(5, 9)}, 0, 10, true, 0},
		{[]cluster.IndexEntry{ent(0, 4), ent(5, 9)}, 6, 10, true, 5},
		{[]cluster.IndexEntry{ent(0, 4), ent(5, 9)}, 10, 10, true, -1},
		{[]cluster.IndexEntry{ent(5, 9)}, 0, 10, false, -1}, // a gap [0, 5)
		{[]cluster.IndexEntry{ent(5, 9)}, 3, 10, false, -1},
		{[]cluster.IndexEntry{ent(0, 4), ent(6, 9)}, 0, 10, false, -1},
		{[]cluster.IndexEntry{ent(0, 4)}, 0, 6, false, -1},
		{[]cluster.IndexEntry{ent(0, 4)}, 7, 5, false, -1}, // log start past hw
	} {
		got, err := checkIndex(tp, tc.idx, tc.logStart, tc.hw)
		if (err == nil) != tc.ok {
			t.Errorf("checkIndex(%v, start %d, hw %d): %v", tc.idx, tc.logStart, tc.hw, err)
			continue
		}
		if err == nil && tc.firstAfterLog >= 0 && (len(got) == 0 || got[0].BaseOffset != tc.firstAfterLog) {
			t.Errorf("checkIndex(%v, start %d, hw %d) = %v", tc.idx, tc.logStart, tc.hw, got)
		}
		if err == nil && tc.firstAfterLog < 0 && len(got) != 0 {
			t.Errorf("checkIndex(%v, start %d, hw %d) = %v, want none", tc.idx, tc.logStart, tc.hw, got)
		}
	}
}
