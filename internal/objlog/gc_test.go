package objlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/objstore"
)

// The collector deletes the objects DeleteRecords left unreferenced, only
// after DeleteDelay, and objects without a record only once OrphanAge old;
// it keeps every object the index names, and the partition stays readable
// from its log start.
func TestGCDeletesUnreferencedAndOrphans(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(9, 0)
	p := acquire(t, b, tp)
	ctx := ctxT(t)
	// Four flushes of one 2-record batch each: four objects.
	for i := range 4 {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprintf("b%d", i), 2, 1000)))
	}
	objs := objectNames(t, b.client)
	if len(objs) != 4 {
		t.Fatalf("objects %v, want one per flush", objs)
	}
	// An object a flush wrote and never committed.
	const orphan = "data/1-orphan"
	if err := store.Put(ctx, orphan, []byte("not committed")); err != nil {
		t.Fatal(err)
	}
	// Another prefix is not the collector's.
	if err := store.Put(ctx, "other/x", []byte("x")); err != nil {
		t.Fatal(err)
	}

	clock := newManualClock()
	clock.now = time.Now()
	gc := NewGC(GCConfig{Clock: clock, Logger: quiet}, b.client, store)
	round := func(want GCStats) {
		t.Helper()
		st, err := gc.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Sizes are checked where they are known.
		st.DeletedBytes, st.OrphanBytes = 0, 0
		if st != want {
			t.Fatalf("round: %+v, want %+v", st, want)
		}
	}
	round(GCStats{Objects: 4, Referenced: 4, YoungOrphans: 1})

	// Records below offset 4 deleted: the first two entries go, their
	// objects wait for the delete delay.
	if ls, err := p.DeleteRecords(ctx, 4); err != nil || ls != 4 {
		t.Fatalf("DeleteRecords(4) = %d, %v", ls, err)
	}
	round(GCStats{Objects: 4, Referenced: 2, Waiting: 2, YoungOrphans: 1})
	clock.advance(DefaultDeleteDelay - time.Second)
	round(GCStats{Objects: 4, Referenced: 2, Waiting: 2, YoungOrphans: 1})
	clock.advance(time.Second)
	round(GCStats{Objects: 4, Referenced: 2, Deleted: 2, YoungOrphans: 1})

	if got := objectNames(t, b.client); !slices.Equal(got, objs[2:]) {
		t.Fatalf("records left %v, want %v", got, objs[2:])
	}
	for i, name := range objs {
		_, err := store.Get(ctx, name, 0, 1)
		if deleted := errors.Is(err, objstore.ErrNotFound); deleted != (i < 2) {
			t.Fatalf("object %d (%s): get err %v, deleted %v", i, name, err, deleted)
		}
	}
	got := readAll(t, p, 4)
	if len(got) != 4 || got[4] != "b2-0" || got[7] != "b3-1" {
		t.Fatalf("read from log start: %v", got)
	}

	clock.advance(DefaultOrphanAge)
	round(GCStats{Objects: 2, Referenced: 2, Orphans: 1})
	if _, err := store.Get(ctx, orphan, 0, 1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := store.Get(ctx, "other/x", 0, 1); err != nil {
		t.Fatalf("object outside the prefix: %v", err)
	}
	round(GCStats{Objects: 2, Referenced: 2})
}

// A record whose object is already gone from the store (a collector
// stopped between the two deletes) is deleted by the next round.
func TestGCRecordOfMissingObject(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	p := acquire(t, b, tpN(9, 1))
	ctx := ctxT(t)
	for i := range 2 {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprintf("b%d", i), 1, 1000)))
	}
	objs := objectNames(t, b.client)
	if _, err := p.DeleteRecords(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, objs[0]); err != nil {
		t.Fatal(err)
	}
	clock := newManualClock()
	gc := NewGC(GCConfig{Clock: clock, DeleteDelay: time.Second, Logger: quiet}, b.client, store)
	if _, err := gc.Round(ctx); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	st, err := gc.Round(ctx)
	if err != nil || st.Deleted != 1 || st.Referenced != 1 {
		t.Fatalf("round: %+v, %v", st, err)
	}
	if got := objectNames(t, b.client); !slices.Equal(got, objs[1:]) {
		t.Fatalf("records left %v, want %v", got, objs[1:])
	}
}

// Run rounds on its clock until its context ends.
func TestGCRun(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	p := acquire(t, b, tpN(9, 2))
	for i := range 2 {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprintf("b%d", i), 1, 1000)))
	}
	if _, err := p.DeleteRecords(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	clock := newManualClock()
	gc := NewGC(GCConfig{Clock: clock, Interval: time.Minute, DeleteDelay: time.Minute, Logger: quiet}, b.client, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx) }()
	// The first round marks the object; the round a minute later deletes
	// it, and Run waits on its clock again after each round.
	clock.waitWaiter(t)
	if got := len(objectNames(t, b.client)); got != 2 {
		t.Fatalf("%d records after the first round, want 2", got)
	}
	clock.advance(time.Minute)
	clock.waitWaiter(t)
	if got := len(objectNames(t, b.client)); got != 1 {
		t.Fatalf("%d records after the second round, want 1", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
