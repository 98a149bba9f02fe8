package log

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func idemHeader(pid int64, epoch int16, seq int32, n int32, base, ts int64) BatchHeader {
	return BatchHeader{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, BaseOffset: base, MaxTimestamp: ts}
}

// ProducerState applies a Log's rules and survives its encoding.
func TestProducerStateRoundTrip(t *testing.T) {
	s := NewProducerState()
	for i := range int32(7) { // more batches than are cached
		h := idemHeader(5, 0, i*2, 2, int64(i)*2, 1000+int64(i))
		if _, dup, err := s.Check(&h); dup || err != nil {
			t.Fatalf("batch %d: dup %v %v", i, dup, err)
		}
		s.Update(&h)
	}
	h := idemHeader(9, 3, 0, 1, 14, 2000)
	s.Update(&h)
	b, err := s.MarshalBinary()
	if err != nil || len(b) != s.MarshalSize() {
		t.Fatalf("encoded %d bytes (MarshalSize %d), %v", len(b), s.MarshalSize(), err)
	}
	got, err := UnmarshalProducerState(b)
	if err != nil || got.Len() != 2 {
		t.Fatalf("decoded %v, %v", got, err)
	}
	for _, st := range []*ProducerState{s, got, got.Clone()} {
		// The last 5 batches are recognised with their offsets.
		r := idemHeader(5, 0, 12, 2, 0, 0)
		if d, dup, err := st.Check(&r); !dup || err != nil || d.BaseOffset != 12 || d.LastOffset != 13 {
			t.Fatalf("retry of the last batch: %+v %v %v", d, dup, err)
		}
		old := idemHeader(5, 0, 2, 2, 0, 0) // the 2nd batch: no longer cached
		if _, _, err := st.Check(&old); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("retry of an evicted batch: %v", err)
		}
		fenced := idemHeader(9, 2, 1, 1, 0, 0)
		if _, _, err := st.Check(&fenced); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("older epoch: %v", err)
		}
		unknown := idemHeader(42, 0, 17, 1, 0, 0)
		if _, dup, err := st.Check(&unknown); dup || err != nil {
			t.Fatalf("unknown producer: %v %v", dup, err)
		}
	}
	// Clone is deep.
	c := s.Clone()
	n := idemHeader(5, 0, 14, 1, 16, 3000)
	c.Update(&n)
	if _, _, err := s.Check(&n); err != nil {
		t.Fatalf("the original changed with its clone: %v", err)
	}
	if n := got.Expire(2005, 10); n != 1 || got.Len() != 1 {
		t.Fatalf("expired %d, left %d", n, got.Len())
	}
	if _, err := UnmarshalProducerState(b[:len(b)-1]); err == nil {
		t.Fatal("truncated state decoded")
	}
	e := NewProducerState()
	eb, _ := e.MarshalBinary()
	if d, err := UnmarshalProducerState(eb); err != nil || d.Len() != 0 {
		t.Fatalf("empty state: %v", err)
	}
}

func txnHeader(pid int64, epoch int16, seq int32, n int32, base, ts int64) BatchHeader {
	h := idemHeader(pid, epoch, seq, n, base, ts)
	h.Attributes = attrTransactional
	return h
}

func markerHeader(pid int64, epoch int16, base, ts int64) BatchHeader {
	return BatchHeader{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, BaseOffset: base, MaxTimestamp: ts,
		Attributes: attrTransactional | attrControl}
}

// Transactions in a ProducerState: opened by transactional batches,
// closed by markers, kept through the encoding and Clone, never expired
// while open, aborted entries pruned below the log start.
func TestProducerStateTransactions(t *testing.T) {
	s := NewProducerState()
	apply := func(h BatchHeader) {
		t.Helper()
		if _, dup, err := s.Check(&h); dup || err != nil {
			t.Fatalf("batch at %d: dup %v %v", h.BaseOffset, dup, err)
		}
		s.Update(&h)
	}
	marker := func(pid int64, epoch int16, base int64, m int16) {
		t.Helper()
		h := markerHeader(pid, epoch, base, 1000)
		if err := s.CheckMarker(&h); err != nil {
			t.Fatalf("marker at %d: %v", base, err)
		}
		s.UpdateMarker(&h, m)
	}
	plain := idemHeader(-1, -1, -1, 3, 0, 1000)
	s.Update(&plain)                      // [0, 2]
	apply(txnHeader(1, 0, 0, 2, 3, 1000)) // [3, 4]: producer 1 opens at 3
	apply(txnHeader(2, 0, 0, 1, 5, 1000)) // [5]: producer 2 opens at 5
	apply(txnHeader(1, 0, 2, 1, 6, 1000)) // [6]: still open at 3
	if got := s.LastStable(7); got != 3 {
		t.Fatalf("LSO %d, want 3", got)
	}
	marker(1, 0, 7, MarkerAbort) // producer 1 aborts [3, 7]
	if got := s.LastStable(8); got != 5 {
		t.Fatalf("LSO after the abort %d, want 5", got)
	}
	marker(2, 0, 8, MarkerCommit)
	if got := s.LastStable(9); got != 9 {
		t.Fatalf("LSO with nothing open %d, want the hw 9", got)
	}
	marker(3, 0, 9, MarkerAbort) // no open transaction: nothing else changes
	apply(txnHeader(2, 0, 1, 1, 10, 1000))
	// A marker of an older epoch is refused; a newer one fences.
	old := markerHeader(2, -1, 11, 1000)
	if err := s.CheckMarker(&old); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old-epoch marker: %v", err)
	}
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 3, LastOffset: 7}}
	b, _ := s.MarshalBinary()
	if len(b) != s.MarshalSize() {
		t.Fatalf("encoded %d bytes, MarshalSize %d", len(b), s.MarshalSize())
	}
	got, err := UnmarshalProducerState(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range []*ProducerState{s, got, got.Clone()} {
		if a := st.Aborted(0, 100); !slices.Equal(a, want) {
			t.Fatalf("state %d: aborted %v, want %v", i, a, want)
		}
		if a := st.Aborted(8, 100); len(a) != 0 {
			t.Fatalf("state %d: aborted from 8: %v", i, a)
		}
		if a := st.Aborted(0, 2); len(a) != 0 {
			t.Fatalf("state %d: aborted up to 2: %v", i, a)
		}
		if o := st.Open(); len(o) != 1 || o[2] != 10 {
			t.Fatalf("state %d: open %v, want producer 2 at 10", i, o)
		}
		if lso := st.LastStable(11); lso != 10 {
			t.Fatalf("state %d: LSO %d, want 10", i, lso)
		}
		infos := st.Producers()
		if len(infos) != 3 || infos[0].TxnStart != -1 || infos[1].ProducerID != 2 || infos[1].TxnStart != 10 {
			t.Fatalf("state %d: producers %+v", i, infos)
		}
	}
	// Clone is deep.
	c := got.Clone()
	m := markerHeader(2, 0, 11, 1000)
	c.UpdateMarker(&m, MarkerAbort)
	c.Prune(8)
	if o := got.Open(); len(o) != 1 {
		t.Fatalf("the original's open transactions changed with its clone: %v", o)
	}
	if a := got.Aborted(0, 100); !slices.Equal(a, want) {
		t.Fatalf("the original's aborted list changed with its clone: %v", a)
	}
	if a := c.Aborted(0, 100); len(a) != 1 || a[0].ProducerID != 2 {
		t.Fatalf("clone after prune: %v", a)
	}
	// Expiry keeps the producer with an open transaction.
	if n := got.Expire(1_000_000, 10); n != 2 || got.Len() != 1 || got.Open()[2] != 10 {
		t.Fatalf("expired %d, left %d: %+v", n, got.Len(), got.Producers())
	}
	// Prune drops the aborted entries whose marker is below the start.
	got.Prune(7)
	if a := got.Aborted(0, 100); len(a) != 1 {
		t.Fatalf("pruned at 7 (the marker): %v", a)
	}
	got.Prune(8)
	if a := got.Aborted(0, 100); len(a) != 0 {
		t.Fatalf("pruned past the marker: %v", a)
	}
}

// A state encoded in version 1 (before transactions) still decodes.
func TestProducerStateVersion1(t *testing.T) {
	s := NewProducerState()
	h := idemHeader(5, 0, 0, 2, 0, 1000)
	s.Update(&h)
	b, _ := s.MarshalBinary()
	// Version 1: no transaction fields (two empty counts).
	v1 := slices.Clone(b[:len(b)-8])
	binary.BigEndian.PutUint16(v1, 1)
	putSnapshotCRC(v1)
	got, err := UnmarshalProducerState(v1)
	if err != nil || got.Len() != 1 || len(got.Open()) != 0 {
		t.Fatalf("version 1 state: %v", err)
	}
	r := idemHeader(5, 0, 0, 2, 0, 0)
	if d, dup, err := got.Check(&r); !dup || err != nil || d.BaseOffset != 0 {
		t.Fatalf("retry against a version 1 state: %+v %v %v", d, dup, err)
	}
}
