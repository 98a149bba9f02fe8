package log

import (
	"errors"
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
