package objlog

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/objstore"
	"github.com/twmb/franz-go/pkg/kerr"
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

// A stored range that fails its check (the footer CRC32C kept in the
// index entry; the batch framing) is never served nor cached: the read
// fails with KAFKA_STORAGE_ERROR (objstore.ErrCorrupt) after one more
// read of the store, and once the object is good again it is served.
func TestCorruptRangeNotServedNorCached(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	p := acquire(t, b, tpN(45, 0))
	mustAck(t, mustAppend(t, p, mkBatch("good", 3, time.Now().UnixMilli())))
	p.mu.Lock()
	ent := p.index[0]
	p.mu.Unlock()
	if ent.CRC == 0 {
		t.Fatalf("index entry without a CRC: %+v", ent)
	}
	ctx := ctxT(t)
	orig, err := store.Get(ctx, ent.Object, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	for name, at := range map[string]int64{
		"a record's byte (framing intact)": ent.Position + ent.Length - 2,
		"the batch magic":                  ent.Position + 16,
	} {
		bad := bytes.Clone(orig)
		bad[at] ^= 0x40
		if err := store.Put(ctx, ent.Object, bad); err != nil {
			t.Fatal(err)
		}
		got, err := p.Read(ctx, 0, 1<<20)
		if !errors.Is(err, objstore.ErrCorrupt) || ErrorCode(err) != kerr.KafkaStorageError.Code {
			t.Fatalf("%s: read %d bytes, %v", name, len(got), err)
		}
		if err := store.Put(ctx, ent.Object, orig); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, p, 0); len(got) != 3 || got[0] != "good-0" {
			t.Fatalf("%s: after the object was repaired: %v", name, got)
		}
		if cache, ok := b.f.reader.(*objstore.Cache); ok {
			cache.Invalidate(ent.Object)
		}
	}
}
