package objlog

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

func TestMergeRun(t *testing.T) {
	e := func(base, last, length int64, epoch int32) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last, Length: length, LeaderEpoch: epoch}
	}
	for _, c := range []struct {
		name   string
		index  []cluster.IndexEntry
		target int64
		max    int
		want   []int64 // base offsets of the run
	}{
		{"too few", []cluster.IndexEntry{e(0, 0, 10, 0), e(1, 1, 10, 0)}, 100, 10, nil},
		{"not full yet", []cluster.IndexEntry{e(0, 0, 10, 0), e(1, 1, 10, 0), e(2, 2, 10, 0)}, 100, 10, nil},
		{"full by bytes, last kept", []cluster.IndexEntry{e(0, 0, 30, 0), e(1, 1, 30, 0), e(2, 2, 30, 0)}, 100, 10, []int64{0, 1}},
		{"full by count", []cluster.IndexEntry{e(0, 0, 1, 0), e(1, 1, 1, 0), e(2, 2, 1, 0), e(3, 3, 1, 0)}, 100, 3, []int64{0, 1, 2}},
		{"big entries skipped", []cluster.IndexEntry{e(0, 9, 60, 0), e(10, 10, 30, 0), e(11, 11, 30, 0), e(12, 12, 1, 0)}, 100, 10, []int64{10, 11}},
		{"epochs not mixed", []cluster.IndexEntry{e(0, 0, 30, 0), e(1, 1, 30, 1), e(2, 2, 30, 1), e(3, 3, 1, 1)}, 100, 10, []int64{1, 2}},
		{"target bounds the run", []cluster.IndexEntry{e(0, 0, 40, 0), e(1, 1, 40, 0), e(2, 2, 40, 0), e(3, 3, 1, 0)}, 100, 10, []int64{0, 1}},
		{"off", []cluster.IndexEntry{e(0, 0, 30, 0), e(1, 1, 30, 0), e(2, 2, 30, 0)}, 0, 10, nil},
	} {
		run := mergeRun(c.index, c.target, c.max)
		var got []int64
		for _, r := range run {
			got = append(got, r.BaseOffset)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: run %v, want %v", c.name, got, c.want)
		}
	}
}

// TestMergeKeepsRecords: a partition of many small flushes is merged into
// fewer entries; every record reads back at its offset, from this leader
// and from the index a new leader loads; appends go on meanwhile; the old
// objects become garbage for the collector.
func TestMergeKeepsRecords(t *testing.T) {
	e := etcdtest.Start(t, 128)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(3, 0)
	p := acquire(t, b, tp)
	ctx := ctxT(t)
	for i := range 40 {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprintf("b%d", i), 3, 1000+int64(i))))
	}
	want := readAll(t, p, 0)
	if len(want) != 120 {
		t.Fatalf("%d records before merging", len(want))
	}
	before, err := b.client.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	entryLen := before[0].Length
	// Runs of 10 entries (half the target at least): 39 mergeable entries.
	var merged int
	for {
		st, err := p.Merge(ctx, 10*entryLen, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries == 0 {
			break
		}
		merged += st.Entries
		mustAck(t, mustAppend(t, p, mkBatch("during", 1, 5000))) // appends go on
	}
	if merged == 0 {
		t.Fatal("nothing merged")
	}
	after, err := b.client.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) >= len(before) {
		t.Fatalf("%d entries after merging, %d before", len(after), len(before))
	}
	for i := 1; i < len(after); i++ {
		if after[i].BaseOffset != after[i-1].LastOffset+1 {
			t.Fatalf("index not contiguous after merging: %+v then %+v", after[i-1], after[i])
		}
	}
	got := readAll(t, p, 0)
	for off, v := range want {
		if got[off] != v {
			t.Fatalf("offset %d: %q after merging, %q before", off, got[off], v)
		}
	}
	// A read from the middle of a merged entry starts at its batch.
	mid := readAll(t, p, 61)
	if mid[61] != want[61] || mid[60] != "" {
		t.Fatalf("read from 61: %q at 61, %q at 60", mid[61], mid[60])
	}

	// A new leader loads the merged index and reads the same records.
	b.f.Close(ctx)
	b.member.Close() // the lease ends: the leadership with it
	b2 := startBroker(t, e, store, brokerOpts{node: 2})
	var p2 *Partition
	deadline := time.Now().Add(30 * time.Second)
	for {
		p2, err = b2.f.Acquire(ctx, tp, topicCfg())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got2 := readAll(t, p2, 0)
	if !maps.Equal(got2, got) {
		t.Fatalf("new leader reads %d records, %d before", len(got2), len(got))
	}

	// The merged-away objects are unreferenced: the collector finds them.
	gc := NewGC(GCConfig{Logger: quiet}, b2.client, store)
	st, err := gc.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting == 0 {
		t.Fatalf("collector round %+v: no unreferenced objects after merging", st)
	}
}

func TestEpochEndOffset(t *testing.T) {
	e := func(base, last int64, epoch int32) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last, LeaderEpoch: epoch}
	}
	// Epochs 2 [10, 20), 3 none, 5 [20, 30), current 7 from 30 (hw 30).
	p := &Partition{epoch: 7, hw: 30, logStart: 10, index: []cluster.IndexEntry{e(10, 14, 2), e(15, 19, 2), e(20, 29, 5)}}
	for _, c := range []struct {
		req, epoch int32
		end        int64
	}{
		{7, 7, 30},  // the current epoch ends at the hw
		{8, -1, -1}, // later than the leader's: undefined
		{-1, -1, -1},
		{6, 5, 30}, // epoch 6 wrote nothing: 5 is the floor, ending at the hw
		{5, 5, 30},
		{4, 2, 20}, // floor 2, ending where 5 starts
		{2, 2, 20},
		{1, 1, 10}, // older than the log: the requested epoch, ending at its start
	} {
		epoch, end, err := p.EpochEndOffset(c.req)
		if err != nil || epoch != c.epoch || end != c.end {
			t.Errorf("epoch %d: (%d, %d, %v), want (%d, %d)", c.req, epoch, end, err, c.epoch, c.end)
		}
	}
}

func TestSpliceRange(t *testing.T) {
	e := func(base, last int64) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last}
	}
	p := &Partition{index: []cluster.IndexEntry{e(0, 4), e(5, 9), e(10, 14), e(15, 19)}}
	old := p.index
	p.spliceRange(5, 14, []cluster.IndexEntry{e(5, 14)})
	if fmt.Sprint(p.index) != fmt.Sprint([]cluster.IndexEntry{e(0, 4), e(5, 14), e(15, 19)}) {
		t.Fatalf("after splicing [5, 14]: %v", p.index)
	}
	if len(old) != 4 || old[1] != e(5, 9) {
		t.Fatalf("a reader's snapshot changed: %v", old)
	}
	// A range the index no longer covers exactly changes nothing.
	p.spliceRange(5, 9, []cluster.IndexEntry{e(5, 9)})
	p.spliceRange(6, 14, []cluster.IndexEntry{e(6, 14)})
	if len(p.index) != 3 || p.index[1] != e(5, 14) {
		t.Fatalf("a stale splice changed the index: %v", p.index)
	}
}
