package log

import (
	"fmt"
	"testing"
	"time"
)

// stream assigns offsets from base to the batches and concatenates them,
// as an object-stored log keeps them.
func stream(base int64, batches ...[]byte) []byte {
	var out []byte
	for _, b := range batches {
		h, err := ParseBatchHeader(b)
		if err != nil {
			panic(err)
		}
		AssignBatch(b, &h, base, 0, -1)
		base = h.LastOffset() + 1
		out = append(out, b...)
	}
	return out
}

// streamRecords decodes a stream of batches from base: its records by
// offset, checking CRCs and that offsets run on without gaps to end.
func streamRecords(t *testing.T, b []byte, base, end int64) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	next := base
	for len(b) > 0 {
		h, err := CheckStoredBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkCRC(b[:h.Size()]); err != nil {
			t.Fatalf("batch at %d: %v", h.BaseOffset, err)
		}
		if h.BaseOffset != next {
			t.Fatalf("batch at %d, want %d", h.BaseOffset, next)
		}
		recs, err := DecodeRecords(b[:h.Size()])
		if err != nil {
			t.Fatal(err)
		}
		if h.Control() {
			recs = nil // a marker
		}
		for _, r := range recs {
			v := string(r.Value)
			if r.Value == nil {
				v = "<nil>"
			}
			out[r.Offset] = string(r.Key) + "=" + v
		}
		next = h.LastOffset() + 1
		b = b[h.Size():]
	}
	if next != end {
		t.Fatalf("stream ends at %d, want %d", next, end)
	}
	return out
}

// TestCompactorStream: the cleaner's rules over a stream of batches in
// two runs (as two index entries): the latest record per key at its
// offset, each run keeping its first offset and end, a tombstone kept
// until its horizon, aborted records dropped, CRCs valid.
func TestCompactorStream(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Compact = true
	kv := func(k, v string) KV {
		if v == "" {
			return KV{Key: []byte(k)}
		}
		return KV{Key: []byte(k), Value: []byte(v)}
	}
	run1 := stream(100,
		EncodeBatch([]KV{kv("a", "1"), kv("b", "1")}, 1000, -1, -1, false), // 100-101
		EncodeBatch([]KV{kv("a", "2")}, 1000, -1, -1, false),               // 102
		EncodeBatch([]KV{kv("c", "x")}, 1000, 7, 0, true),                  // 103, aborted
	)
	run2 := stream(104,
		ControlBatch(7, 0, false, 0, 1000),                   // 104, its abort marker
		EncodeBatch([]KV{kv("a", "3")}, 1000, -1, -1, false), // 105
		EncodeBatch([]KV{kv("b", "")}, 1000, -1, -1, false),  // 106, b's tombstone
		EncodeBatch([]KV{kv("d", "1")}, 1000, -1, -1, false), // 107
	)
	aborted := []AbortedTxn{{ProducerID: 7, FirstOffset: 103, LastOffset: 104}}
	now := time.UnixMilli(5000)
	c := NewCompactor(&cfg, now, aborted)
	for _, r := range []struct {
		b    []byte
		base int64
	}{{run1, 100}, {run2, 104}} {
		if err := c.Map(r.b, r.base); err != nil {
			t.Fatal(err)
		}
	}
	if c.Keys() != 3 { // a, b, d: c's only record is aborted
		t.Fatalf("%d keys mapped", c.Keys())
	}
	out1, changed, err := c.Rewrite(run1, 100)
	if err != nil || !changed {
		t.Fatalf("run 1: changed %v, %v", changed, err)
	}
	if got := fmt.Sprint(streamRecords(t, out1, 100, 104)); got != "map[]" {
		t.Fatalf("run 1 keeps %s", got)
	}
	out2, changed, err := c.Rewrite(run2, 104)
	if err != nil || !changed {
		t.Fatalf("run 2: changed %v, %v", changed, err)
	}
	if got, want := fmt.Sprint(streamRecords(t, out2, 104, 108)), "map[105:a=3 106:b=<nil> 107:d=1]"; got != want {
		t.Fatalf("run 2 keeps %s, want %s", got, want)
	}
	hzn := c.NextHorizon()
	if hzn != now.UnixMilli()+cfg.DeleteRetentionMs {
		t.Fatalf("next horizon %d", hzn)
	}
	// The marker stays (the aborted list is not the Compactor's to
	// prune).
	if h, _ := ParseBatchHeader(out2); !h.Control() || h.BaseOffset != 104 {
		t.Fatalf("run 2 starts with %+v, want the marker", h)
	}

	// Past the horizon, the tombstone goes; nothing else changes.
	c = NewCompactor(&cfg, time.UnixMilli(hzn+1), aborted)
	if err := c.Map(out2, 104); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := c.Rewrite(out1, 100); err != nil || changed {
		t.Fatalf("clean run 1 rewritten: %v, %v", changed, err)
	}
	out2b, changed, err := c.Rewrite(out2, 104)
	if err != nil || !changed {
		t.Fatalf("run 2 past the horizon: changed %v, %v", changed, err)
	}
	if got, want := fmt.Sprint(streamRecords(t, out2b, 104, 108)), "map[105:a=3 107:d=1]"; got != want {
		t.Fatalf("run 2 past the horizon keeps %s, want %s", got, want)
	}
	// A damaged stream is refused.
	bad := append([]byte(nil), run1...)
	bad[len(bad)-1] ^= 1
	if _, _, err := NewCompactor(&cfg, now, nil).Rewrite(bad, 100); err == nil {
		t.Fatal("a damaged batch was rewritten")
	}
}
