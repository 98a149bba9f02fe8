package log

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	s := plain(n)
	s.pid, s.epoch, s.seq, s.attrs = pid, epoch, seq, attrTransactional
	return build(t, s)
}

// readCommittedEnd reads at read_committed from 0 and returns the offset
// after the last batch returned.
func readCommittedEnd(t *testing.T, l *Log) int64 {
	t.Helper()
	from := l.LogStartOffset()
	for {
		r, err := l.ReadCommitted(from, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return from
		}
		for len(b) > 0 {
			h, _ := ParseBatchHeader(b)
			from = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
}

func TestTransactionsLSOAndAborted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 400 // roll often, so snapshots carry transaction state
	o := testOpts(t, cfg)
	l := mustOpen(t, o)

	mustAppend(t, l, build(t, plain(2)))      // 0-1
	mustAppend(t, l, txnBatch(t, 7, 0, 0, 3)) // 2-4, pid 7 opens at 2
	mustAppend(t, l, txnBatch(t, 8, 0, 0, 2)) // 5-6, pid 8 opens at 5
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO = %d, want 2", got)
	}
	if got := readCommittedEnd(t, l); got != 2 {
		t.Fatalf("read_committed stopped at %d, want 2", got)
	}
	if _, err := l.AppendMarker(7, 0, false, 0); err != nil { // 7: abort
		t.Fatal(err)
	}
	if got := l.LastStableOffset(); got != 5 {
		t.Fatalf("LSO = %d, want 5", got)
	}
	if _, err := l.AppendMarker(8, 0, true, 0); err != nil { // 8: commit
		t.Fatal(err)
	}
	if got, hw := l.LastStableOffset(), l.HighWatermark(); got != hw || hw != 9 {
		t.Fatalf("LSO = %d, HW %d, want 9", got, hw)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 2, LastOffset: 7}}
	if got := l.AbortedTxns(0, 100); !slices.Equal(got, want) {
		t.Fatalf("aborted = %v, want %v", got, want)
	}
	if got := l.AbortedTxns(8, 100); len(got) != 0 {
		t.Fatalf("aborted after the marker = %v", got)
	}
	// The old epoch is fenced by a marker with a newer one.
	mustAppend(t, l, txnBatch(t, 7, 0, 3, 1)) // 9, opens again
	if _, err := l.AppendMarker(7, 1, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(txnBatch(t, 7, 0, 4, 1)); err == nil {
		t.Fatal("append with a fenced epoch succeeded")
	}
	mustAppend(t, l, txnBatch(t, 7, 1, 0, 1)) // 11, epoch 1 starts at 0
	if got := l.LastStableOffset(); got != 11 {
		t.Fatalf("LSO = %d, want 11", got)
	}
	wantAll := append(want, AbortedTxn{ProducerID: 7, FirstOffset: 9, LastOffset: 10})

	check := func(l *Log) {
		t.Helper()
		if got := l.LastStableOffset(); got != 11 {
			t.Fatalf("LSO after reopen = %d, want 11", got)
		}
		if got := l.AbortedTxns(0, 100); !slices.Equal(got, wantAll) {
			t.Fatalf("aborted after reopen = %v, want %v", got, wantAll)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	check(l)
	crash(l)
	l = mustOpen(t, o)
	check(l)
	if n := l.NumSegments(); n < 2 {
		t.Fatalf("segments %d, the test wants rolls", n)
	}
	l.Close()
}

func TestSnapshotV1StillReadable(t *testing.T) {
	p := producerState{5: {epoch: 1, lastSeq: 9, n: 1, batches: [maxCachedBatches]batchMeta{{firstSeq: 0, lastSeq: 9, firstOffset: 3, lastOffsetDelta: 9}}}}
	b := encodeSnapshot(p, &txnState{})
	// Strip the version 2 fields (two zero counts) and relabel as v1.
	v1 := slices.Clone(b[:len(b)-8])
	v1[0], v1[1] = 0, 1
	putSnapshotCRC(v1)
	q, txns, err := decodeSnapshot(v1)
	if err != nil {
		t.Fatal(err)
	}
	if len(txns.open) != 0 || len(txns.aborted) != 0 || q[5] == nil || q[5].lastSeq != 9 {
		t.Fatalf("decoded %v %v", q, txns)
	}
}

func TestCompactionDropsAbortedAndStopsAtLSO(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Compact = true
	cfg.SegmentBytes = 200 // about two batches per segment
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	defer l.Close()

	mustAppend(t, l, build(t, plain(1)))      // 0: k0 committed (plain)
	mustAppend(t, l, txnBatch(t, 9, 0, 0, 1)) // 1: k0 in a transaction
	if _, err := l.AppendMarker(9, 0, false, 0); err != nil {
		t.Fatal(err) // 2: abort
	}
	mustAppend(t, l, txnBatch(t, 10, 0, 0, 1)) // 3: k0, left open
	for range 4 {
		mustAppend(t, l, build(t, plain(1))) // more k0 after the open transaction
	}
	if _, err := l.Clean(time.Now(), CleanOptions{}); err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, b := range readAll(t, l, 0, 1<<20) {
		h, _ := ParseBatchHeader(b)
		if h.Control() {
			continue
		}
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			offs = append(offs, r.Offset)
		}
	}
	// Offset 0 survives: the aborted record at 1 does not shadow it, and
	// nothing from the open transaction (3) on is cleaned.
	if len(offs) < 2 || offs[0] != 0 || slices.Contains(offs, 1) || !slices.Contains(offs, 3) {
		t.Fatalf("records left after cleaning: %v", offs)
	}
}

func TestAbortedTxnsPrunedBelowLogStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 200
	l := mustOpen(t, testOpts(t, cfg))
	defer l.Close()
	mustAppend(t, l, txnBatch(t, 5, 0, 0, 1)) // 0
	if _, err := l.AppendMarker(5, 0, false, 0); err != nil {
		t.Fatal(err) // 1
	}
	for range 3 {
		mustAppend(t, l, build(t, plain(1)))
	}
	if got := l.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("aborted before deleting: %v", got)
	}
	if _, err := l.DeleteRecords(3, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 4 { // roll again: the roll prunes
		mustAppend(t, l, build(t, plain(1)))
	}
	if got := l.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("aborted transactions below the log start kept: %v", got)
	}
}

// FuzzDecodeSnapshot feeds arbitrary bytes (CRC fixed up, so the fields
// are reached) to the snapshot decoder, which must never panic; what it
// accepts must survive an encode/decode round trip unchanged.
func FuzzDecodeSnapshot(f *testing.F) {
	p := producerState{5: {epoch: 1, lastSeq: 9, n: 1, batches: [maxCachedBatches]batchMeta{{lastSeq: 9, lastOffsetDelta: 9}}}}
	f.Add(encodeSnapshot(p, &txnState{open: map[int64]int64{5: 3}, aborted: []AbortedTxn{{5, 0, 2}}}))
	f.Add(encodeSnapshot(producerState{}, &txnState{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= snapshotHeaderLen {
			putSnapshotCRC(b)
		}
		q, txns, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		once := encodeSnapshot(q, &txns)
		q2, txns2, err := decodeSnapshot(once)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if twice := encodeSnapshot(q2, &txns2); !slices.Equal(once, twice) {
			t.Fatalf("encode/decode is not stable:\n%x\n%x", once, twice)
		}
	})
}

// committedView reads the whole log as a read_committed consumer does
// (Kafka's and franz-go's algorithm): a producer of a listed aborted
// transaction has its transactional batches skipped from the
// transaction's first offset until its abort marker. It returns the
// newest value of each key, and checks that batches run on without
// gaps.
func committedView(t *testing.T, l *Log) map[string]string {
	t.Helper()
	aborted := l.AbortedTxns(0, l.HighWatermark())
	skipping := map[int64]bool{}
	view := map[string]string{}
	next := l.LogStartOffset()
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		h, _ := ParseBatchHeader(b)
		if h.BaseOffset != next {
			t.Fatalf("batch at %d after one ending at %d", h.BaseOffset, next-1)
		}
		next = h.LastOffset() + 1
		for len(aborted) > 0 && aborted[0].FirstOffset <= h.LastOffset() {
			skipping[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if h.Control() {
			if MarkerType(b) == MarkerAbort {
				delete(skipping, h.ProducerID)
			}
			continue
		}
		if h.Transactional() && skipping[h.ProducerID] {
			continue
		}
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			view[string(r.Key)] = string(r.Value)
		}
	}
	return view
}

// markers returns the offsets of the log's control batches.
func markers(t *testing.T, l *Log) []int64 {
	t.Helper()
	var out []int64
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		if h, _ := ParseBatchHeader(b); h.Control() {
			out = append(out, h.BaseOffset)
		}
	}
	return out
}

// TestCompactionRemovesMarkers: a transaction's marker goes once no
// batch of the transaction is left and it is older than
// delete.retention.ms, as in Kafka; a marker whose transaction keeps a
// record, or whose producer's last batch it closes, stays. Offsets, the
// committed view, the last stable offset and the aborted list stay right,
// after a restart too.
func TestCompactionRemovesMarkers(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 200 // about two batches per segment
	o := testOpts(t, cfg)
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer func() { l.Close() }()
	marker := func(pid int64, commit bool) int64 {
		t.Helper()
		r, err := l.AppendMarker(pid, 0, commit, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r.BaseOffset
	}
	mustAppend(t, l, txnBatch(t, 7, 0, 0, 1)) // k0, committed, superseded below
	a := marker(7, true)
	mustAppend(t, l, txnBatch(t, 8, 0, 0, 2)) // k0, k1, aborted
	b := marker(8, false)
	mustAppend(t, l, txnBatch(t, 9, 0, 0, 2)) // k0, k1: k1 stays the newest
	c := marker(9, true)
	mustAppend(t, l, txnBatch(t, 7, 0, 1, 1)) // k0: producer 7's last batch
	d := marker(7, true)
	mustAppend(t, l, txnBatch(t, 8, 0, 2, 1)) // k0: producer 8's last batch
	e := marker(8, true)
	for range 12 {
		mustAppend(t, l, build(t, plain(1))) // k0, newest at the end
	}
	want := committedView(t, l)
	if want["k1"] == "" || len(want) != 2 {
		t.Fatalf("committed view before cleaning: %v", want)
	}
	if got := l.AbortedTxns(0, l.HighWatermark()); len(got) != 1 || got[0].LastOffset != b {
		t.Fatalf("aborted: %v", got)
	}

	clean := func() {
		t.Helper()
		if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(wantMarkers []int64, wantAborted int) {
		t.Helper()
		if got := markers(t, l); !slices.Equal(got, wantMarkers) {
			t.Fatalf("markers at %v, want %v", got, wantMarkers)
		}
		if got := committedView(t, l); !maps.Equal(got, want) {
			t.Fatalf("committed view %v, want %v", got, want)
		}
		if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw || len(l.OpenTxns()) != 0 {
			t.Fatalf("last stable offset %d, high watermark %d, open %v", lso, hw, l.OpenTxns())
		}
		if got := l.AbortedTxns(0, l.HighWatermark()); len(got) != wantAborted {
			t.Fatalf("aborted transactions %v, want %d", got, wantAborted)
		}
	}
	clean() // markers younger than delete.retention.ms all stay
	check([]int64{a, b, c, d, e}, 1)
	clk.Advance(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
	clean()
	check([]int64{c, d, e}, 0)
	// The snapshots, written before the clean, still list the aborted
	// transaction: recovery must not bring it back, nor open anything.
	crash(l)
	l = mustOpen(t, o)
	check([]int64{c, d, e}, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	check([]int64{c, d, e}, 0)
	// Producers 7 and 8 go on where they were.
	mustAppend(t, l, txnBatch(t, 7, 0, 2, 1))
	if got := l.OpenTxns(); len(got) != 1 {
		t.Fatalf("open transactions %v", got)
	}
}

// TestCompactionKeepsMarkerAfterSnapshot: a marker at or after the oldest
// producer snapshot stays even when its transaction's batches are gone,
// since recovery replays from a snapshot that lists the transaction as
// open and only the marker closes it.
func TestCompactionKeepsMarkerAfterSnapshot(t *testing.T) {
	clk := newClock()
	o := testOpts(t, compactConfig())
	o.Now = clk.Now
	l := mustOpen(t, o)
	defer func() { l.Close() }()
	roll := func() {
		t.Helper()
		if _, err := l.rollIdle(clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, l, txnBatch(t, 5, 0, 0, 1)) // 0: k0, superseded below
	roll()                                    // snapshot at 1: producer 5's transaction open
	r, err := l.AppendMarker(5, 0, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(t, 5, 0, 1, 1)) // producer 5's last batch
	if _, err := l.AppendMarker(5, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, build(t, plain(1)))
	roll()
	for range 2 { // the first clean gives markers their horizon
		if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Duration(compactConfig().DeleteRetentionMs+1) * time.Millisecond)
	}
	if got := markers(t, l); !slices.Contains(got, r.BaseOffset) {
		t.Fatalf("markers %v: the one at %d, after the snapshot, is gone", got, r.BaseOffset)
	}
	crash(l)
	l = mustOpen(t, o)
	if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw || len(l.OpenTxns()) != 0 {
		t.Fatalf("after recovery: last stable offset %d, high watermark %d, open %v", lso, hw, l.OpenTxns())
	}
}

// TestCompactionTxnProperty: random plain and transactional writes (a
// few producers, transactions of several batches, committed or aborted),
// cleans at random times, crashes and restarts. After each: the log reads
// as a read_committed consumer sees it exactly as the model's newest
// committed value per key (so no aborted record comes back and no
// committed newest one goes), offsets run on without gaps, nothing is
// left open. In the end some markers have gone.
func TestCompactionTxnProperty(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			clk := newClock()
			cfg := compactConfig()
			cfg.SegmentBytes = 1 << 10
			o := testOpts(t, cfg)
			o.Now = clk.Now
			l := mustOpen(t, o)
			defer func() { l.Close() }()
			want := map[string]string{}
			seqs := map[int64]int32{}
			keys := 5 + rng.IntN(20)
			batch := func(pid int64) (map[string]string, []byte) {
				n := 1 + rng.IntN(4)
				recs := make([]kv, n)
				vals := map[string]string{}
				for i := range recs {
					k := fmt.Sprintf("key-%d", rng.IntN(keys))
					v := fmt.Sprintf("v%d", rng.Int64())
					recs[i] = kv{key: []byte(k), value: []byte(v)}
					vals[k] = v
				}
				codec := []int8{CodecNone, CodecGzip, CodecZstd}[rng.IntN(3)]
				seq := int32(-1)
				if pid >= 0 {
					seq = seqs[pid]
					seqs[pid] += int32(n)
				}
				b := buildKeyed(t, codec, pid, seq, clk.Now().UnixMilli(), recs)
				if pid >= 0 {
					putAttributes(b, int16(codec)|attrTransactional)
					putCRC(b)
				}
				return vals, b
			}
			txns := 0
			for range 15 {
				for range 5 + rng.IntN(15) {
					if rng.IntN(3) == 0 {
						vals, b := batch(-1)
						mustAppend(t, l, b)
						maps.Copy(want, vals)
						continue
					}
					pid := int64(20 + rng.IntN(3))
					pending := map[string]string{}
					for range 1 + rng.IntN(3) {
						vals, b := batch(pid)
						mustAppend(t, l, b)
						maps.Copy(pending, vals)
						if rng.IntN(3) == 0 { // interleave a plain batch
							vals, b := batch(-1)
							mustAppend(t, l, b)
							// Committed view order is log
							// order: a later transactional
							// record of the same key wins
							// only if committed.
							for k := range vals {
								delete(pending, k)
							}
							maps.Copy(want, vals)
						}
					}
					commit := rng.IntN(3) != 0
					if _, err := l.AppendMarker(pid, 0, commit, 0); err != nil {
						t.Fatal(err)
					}
					txns++
					if commit {
						maps.Copy(want, pending)
					}
				}
				clk.Advance(time.Duration(rng.IntN(40_000)) * time.Millisecond)
				if _, err := l.ApplyRetention(clk.Now()); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
					t.Fatal(err)
				}
				if rng.IntN(3) == 0 {
					crash(l)
					l = mustOpen(t, o)
				}
				if got := committedView(t, l); !maps.Equal(got, want) {
					t.Fatalf("committed view\n%v\nwant\n%v", got, want)
				}
				if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw || len(l.OpenTxns()) != 0 {
					t.Fatalf("last stable offset %d, high watermark %d, open %v", lso, hw, l.OpenTxns())
				}
			}
			// Roll what is left and let every marker's horizon pass.
			for range 2 {
				clk.Advance(2 * time.Minute)
				if _, err := l.rollIdle(clk.Now()); err != nil {
					t.Fatal(err)
				}
				mustAppend(t, l, func() []byte { _, b := batch(-1); return b }())
			}
			for range 2 { // horizons, then removal
				if _, err := l.Clean(clk.Now(), CleanOptions{}); err != nil {
					t.Fatal(err)
				}
				clk.Advance(2 * time.Minute)
			}
			if n := len(markers(t, l)); n >= txns {
				t.Fatalf("%d markers left of %d transactions: none removed", n, txns)
			}
			crash(l)
			l = mustOpen(t, o)
			if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw || len(l.OpenTxns()) != 0 {
				t.Fatalf("after recovery: last stable offset %d, high watermark %d, open %v", lso, hw, l.OpenTxns())
			}
		})
	}
}
