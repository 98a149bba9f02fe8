package log

import "testing"

// ReadResult.NextOffset is the offset after the last batch read, whichever
// way the read found its end: the first batch alone, the segment's end, an
// index jump and a header walk, or the stable offset.
func TestReadNextOffset(t *testing.T) {
	l := mustOpen(t, testOpts(t, smallConfig()))
	defer l.Close()
	for range 300 {
		mustAppend(t, l, build(t, plain(3)))
	}
	if l.NumSegments() < 3 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	for _, from := range []int64{0, 1, 2, 3, 100, 301, 450, 899} {
		for _, maxBytes := range []int32{1, 100, 700, 2000, 5000, 1 << 20} {
			r, err := l.Read(from, maxBytes, true)
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", from, maxBytes, err)
			}
			b, err := r.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			var last int64 = -1
			for len(b) > 0 {
				h, err := ParseBatchHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				last = h.LastOffset()
				b = b[h.Size():]
			}
			if r.NextOffset != last+1 {
				t.Errorf("Read(%d, %d): NextOffset %d, want %d", from, maxBytes, r.NextOffset, last+1)
			}
		}
	}
	if r, err := l.Read(l.HighWatermark(), 1<<20, true); err != nil || r.NextOffset != 0 {
		t.Errorf("read at the end: NextOffset %d, err %v", r.NextOffset, err)
	}
}
