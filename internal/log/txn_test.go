package log

import (
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
