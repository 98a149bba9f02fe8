package objlog

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
)

// compactCfg is a compacted topic's configuration.
func compactCfg() log.Config {
	c := topicCfg()
	c.Compact, c.Delete = true, false
	return c
}

// kvBatch is a batch of one record per key of keys, each valued tag; a
// value of "" makes a tombstone.
func kvBatch(tag string, ts int64, keys ...string) []byte {
	recs := make([]log.KV, len(keys))
	for i, k := range keys {
		recs[i] = log.KV{Key: []byte(k)}
		if tag != "" {
			recs[i].Value = []byte(tag + "/" + k)
		}
	}
	return log.EncodeBatch(recs, ts, -1, -1, false)
}

// rec is one record as read back.
type rec struct {
	key, value string
	tombstone  bool
}

// readRecs reads p from offset from to its hw, walking batch by batch
// (empty batches included), and returns its records by offset (a marker
// as the key "marker").
func readRecs(t *testing.T, p *Partition, from int64) map[int64]rec {
	t.Helper()
	out := map[int64]rec{}
	hw := p.HighWatermark()
	for off := from; off < hw; {
		b, err := p.Read(ctxT(t), off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("read at %d below hw %d: nothing", off, hw)
		}
		for len(b) > 0 {
			h, err := log.CheckStoredBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset > off {
				t.Fatalf("read at %d: batch at %d, a gap", off, h.BaseOffset)
			}
			rs, err := log.DecodeRecords(b[:h.Size()])
			if err != nil {
				t.Fatal(err)
			}
			if h.Control() {
				out[h.BaseOffset] = rec{key: "marker"}
				rs = nil
			}
			for _, r := range rs {
				if r.Offset >= from {
					out[r.Offset] = rec{string(r.Key), string(r.Value), r.Value == nil}
				}
			}
			off = max(off, h.LastOffset()+1)
			b = b[h.Size():]
		}
	}
	return out
}

// TestCompactKeepsLatest: keys overwritten many times, a tombstone among
// them; after Compact the section holds the latest record per key at its
// original offset, the tombstone until delete.retention.ms, the index
// stays contiguous, a read from inside a removed range gets the next
// surviving records, and a new leader reads the same.
func TestCompactKeepsLatest(t *testing.T) {
	e := etcdtest.Start(t, 8) // 6 entries per swap: several swaps
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(7, 0)
	ctx := ctxT(t)
	p, err := b.f.Acquire(ctx, tp, compactCfg())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e"}
	for i := range 30 {
		mustAck(t, mustAppend(t, p, kvBatch(fmt.Sprintf("v%d", i), 1000+int64(i), keys[i%5], keys[(i+1)%5])))
	}
	mustAck(t, mustAppend(t, p, kvBatch("", 2000, "c")))      // a tombstone for c
	mustAck(t, mustAppend(t, p, kvBatch("last", 2001, "zz"))) // the last entry, not cleanable
	before := readRecs(t, p, 0)
	hw := p.HighWatermark()

	// What a clean of the section (all but the last entry) keeps.
	latest := map[string]int64{}
	for off := int64(0); off < hw-1; off++ {
		latest[before[off].key] = off
	}
	want := map[int64]rec{}
	for off, r := range before {
		if off == hw-1 || latest[r.key] == off {
			want[off] = r
		}
	}

	now := time.UnixMilli(10_000)
	st, err := p.Compact(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ran || st.Entries == 0 || st.Swaps < 2 || st.CleanedTo != hw-1 || st.BytesAfter >= st.BytesBefore {
		t.Fatalf("compaction stats %+v", st)
	}
	got := readRecs(t, p, 0)
	if !maps.Equal(got, want) {
		t.Fatalf("after compaction:\n%v\nwant\n%v", got, want)
	}
	if !got[hw-2].tombstone {
		t.Fatalf("tombstone gone before delete.retention.ms: %v", got[hw-2])
	}
	index, err := b.client.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(index); i++ {
		if index[i].BaseOffset != index[i-1].LastOffset+1 {
			t.Fatalf("index not contiguous: %+v then %+v", index[i-1], index[i])
		}
	}
	// A read from inside a removed range starts at the next survivor.
	for from := int64(0); from < hw; from++ {
		sub := map[int64]rec{}
		for off, r := range want {
			if off >= from {
				sub[off] = r
			}
		}
		if g := readRecs(t, p, from); !maps.Equal(g, sub) {
			t.Fatalf("read from %d: %v, want %v", from, g, sub)
		}
	}

	// Not due again: nothing is dirty.
	if st, err := p.Compact(ctx, now); err != nil || st.Ran {
		t.Fatalf("second pass %+v, %v", st, err)
	}
	// Past delete.retention.ms the tombstone goes.
	later := now.Add(time.Duration(compactCfg().DeleteRetentionMs+1) * time.Millisecond)
	if st, err := p.Compact(ctx, later); err != nil || !st.Ran {
		t.Fatalf("pass after the horizon %+v, %v", st, err)
	}
	delete(want, hw-2)
	if got := readRecs(t, p, 0); !maps.Equal(got, want) {
		t.Fatalf("after the horizon:\n%v\nwant\n%v", got, want)
	}

	// A new leader reads the same.
	b.f.Close(ctx)
	b.member.Close()
	b2 := startBroker(t, e, store, brokerOpts{node: 2})
	var p2 *Partition
	for deadline := time.Now().Add(30 * time.Second); ; {
		if p2, err = b2.f.Acquire(ctx, tp, compactCfg()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readRecs(t, p2, 0); !maps.Equal(got, want) {
		t.Fatalf("new leader reads:\n%v\nwant\n%v", got, want)
	}
	// Its clean point starts at the log start: the first pass is due and
	// changes nothing a reader sees.
	if st, err := p2.Compact(ctx, later); err != nil || !st.Ran {
		t.Fatalf("new leader's first pass %+v, %v", st, err)
	}
	if got := readRecs(t, p2, 0); !maps.Equal(got, want) {
		t.Fatalf("new leader after its pass:\n%v\nwant\n%v", got, want)
	}
}

// TestCompactConcurrentAppend: appends made while Compact runs are kept.
func TestCompactConcurrentAppend(t *testing.T) {
	e := etcdtest.Start(t, 128)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(8, 0)
	ctx := ctxT(t)
	p, err := b.f.Acquire(ctx, tp, compactCfg())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustAck(t, mustAppend(t, p, kvBatch(fmt.Sprintf("v%d", i), 1000, "k")))
	}
	acked := map[int64]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("u%d", i)
			c, err := p.Append(kvBatch("x", 1000, key))
			if err != nil {
				t.Error(err)
				return
			}
			r, err := c.Wait(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acked[r.BaseOffset] = "x/" + key
			mu.Unlock()
		}
	}()
	var ran int
	for i := range 5 {
		st, err := p.Compact(ctx, time.UnixMilli(5000+int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if st.Ran {
			ran++
		}
	}
	close(stop)
	wg.Wait()
	if ran == 0 {
		t.Fatal("no pass ran")
	}
	got := readRecs(t, p, 0)
	mu.Lock()
	defer mu.Unlock()
	for off, v := range acked {
		if got[off].value != v {
			t.Fatalf("offset %d: %q after compaction, %q appended", off, got[off].value, v)
		}
	}
	if got[19].value != "v19/k" {
		t.Fatalf("latest k at 19: %v", got[19])
	}
	// The first pass's section held entries 0-18 at least (19 was
	// there before it began): 0-17 are shadowed by 18 (and 18 by 19 if
	// a later pass's section reached it).
	for off := range int64(18) {
		if _, ok := got[off]; ok {
			t.Fatalf("overwritten record at %d kept: %v", off, got[off])
		}
	}
}

func TestCleanableSection(t *testing.T) {
	e := func(base, last, ts int64) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last, MaxTimestamp: ts, Length: 10}
	}
	index := []cluster.IndexEntry{e(0, 4, 100), e(5, 9, 200), e(10, 14, 300), e(15, 19, 400)}
	cfg := compactCfg()
	if got := cleanableSection(index, 20, &cfg, 1000); len(got) != 3 {
		t.Fatalf("section %v: the last entry is never cleanable", got)
	}
	if got := cleanableSection(index, 12, &cfg, 1000); len(got) != 2 {
		t.Fatalf("section %v: stops below the LSO", got)
	}
	cfg.MinCompactionLagMs = 750
	if got := cleanableSection(index, 20, &cfg, 1000); len(got) != 2 {
		t.Fatalf("section %v: min.compaction.lag.ms", got)
	}
	cfg = compactCfg()
	sec := index[:3]
	if i, due := compactDue(sec, compactState{}, &cfg, 1000); !due || i != 0 {
		t.Fatalf("all dirty: (%d, %v)", i, due)
	}
	if _, due := compactDue(sec, compactState{cleanPoint: 10}, &cfg, 1000); due {
		t.Fatal("dirty ratio 1/3 below 0.5: due")
	}
	if _, due := compactDue(sec, compactState{cleanPoint: 5}, &cfg, 1000); !due {
		t.Fatal("dirty ratio 2/3: not due")
	}
	if _, due := compactDue(sec, compactState{cleanPoint: 15, nextHorizon: 900}, &cfg, 1000); !due {
		t.Fatal("a horizon passed: not due")
	}
	if _, due := compactDue(sec, compactState{cleanPoint: 15, nextHorizon: 1100}, &cfg, 1000); due {
		t.Fatal("nothing dirty, no horizon passed: due")
	}
}

// TestCompactTransactions: the records of an aborted transaction go, a
// committed one's stay, and both markers stay (the aborted list is the
// producer state's, in etcd).
func TestCompactTransactions(t *testing.T) {
	e := etcdtest.Start(t, 128)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(9, 0)
	ctx := ctxT(t)
	p, err := b.f.Acquire(ctx, tp, compactCfg())
	if err != nil {
		t.Fatal(err)
	}
	mustAck(t, mustAppend(t, p, txnBatch("aborted", 2, 1000, 5, 0, 0)))   // 0-1
	mustAck(t, mustMarker(t, p, 5, 0, false))                             // 2
	mustAck(t, mustAppend(t, p, txnBatch("committed", 2, 1000, 6, 0, 0))) // 3-4
	mustAck(t, mustMarker(t, p, 6, 0, true))                              // 5
	mustAck(t, mustAppend(t, p, kvBatch("z", 1000, "z")))                 // 6, the last entry
	st, err := p.Compact(ctx, time.UnixMilli(5000))
	if err != nil || !st.Ran || st.Entries != 1 {
		t.Fatalf("compaction %+v, %v", st, err)
	}
	want := map[int64]rec{2: {key: "marker"}, 3: {"k0", "committed-0", false}, 4: {"k1", "committed-1", false},
		5: {key: "marker"}, 6: {"z", "z/z", false}}
	if got := readRecs(t, p, 0); !maps.Equal(got, want) {
		t.Fatalf("after compaction:\n%v\nwant\n%v", got, want)
	}
	got, aborted, lso := readCommitted(t, p, 0)
	if lso != 7 || len(got) != 3 || got[3] != "committed-0" || len(aborted) != 1 || aborted[0].ProducerID != 5 {
		t.Fatalf("read_committed after compaction: %v, aborted %v, LSO %d", got, aborted, lso)
	}
}

// TestRetentionPassesEmptiedEntries: an entry compaction emptied (no
// records, max timestamp -1) does not hold retention by time back.
func TestRetentionPassesEmptiedEntries(t *testing.T) {
	e := func(base, last, ts, n int64) cluster.IndexEntry {
		return cluster.IndexEntry{BaseOffset: base, LastOffset: last, MaxTimestamp: ts, RecordCount: n, Length: 10}
	}
	p := &Partition{index: []cluster.IndexEntry{e(0, 4, 100, 5), e(5, 9, -1, 0), e(10, 14, 200, 5), e(15, 19, 9000, 5)}}
	cfg := topicCfg()
	cfg.RetentionMs, cfg.RetentionBytes = 1000, -1
	p.SetConfig(cfg)
	if off := p.RetentionOffset(5000); off != 15 {
		t.Fatalf("retention offset %d, want 15", off)
	}
}

// TestCompactFencedOldLeader: an old leader that still believes it leads
// cannot swap compacted entries in after a takeover: Compact fails with
// ErrNotLeader, the partition is lost to it, and etcd's index is as it
// was.
func TestCompactFencedOldLeader(t *testing.T) {
	e := etcdtest.Start(t, 128)
	store := openStore(t, fakeS3(t))
	a := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(10, 0)
	ctx := ctxT(t)
	p, err := a.f.Acquire(ctx, tp, compactCfg())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		mustAck(t, mustAppend(t, p, kvBatch(fmt.Sprintf("v%d", i), 1000, "k")))
	}
	before, err := a.client.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Raw(t).Delete(ctx, "/sluice/test/leaders/"+tp.String()); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2})
	q, err := b.f.Acquire(ctx, tp, compactCfg())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Compact(ctx, time.UnixMilli(5000)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("old leader's Compact after takeover: %v", err)
	}
	if p.Err() == nil {
		t.Fatal("the old leader still leads")
	}
	after, err := b.client.LoadIndex(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("index changed by a fenced Compact:\n%v\nbefore\n%v", after, before)
	}
	if got := readRecs(t, q, 0); len(got) != 6 {
		t.Fatalf("new leader reads %v", got)
	}
}
