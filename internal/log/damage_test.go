package log

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tests of damaged data files (#12): recovery and reads never delete or
// serve damaged data, and never drop intact data.

// damagedLog writes 120 random batches over several segments, closes the
// log cleanly and returns the batches and the segment start indexes.
func damagedLog(t *testing.T, seed uint64) (Options, [][]byte, []int, []int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	o := testOpts(t, smallConfig())
	l := mustOpen(t, o)
	batches := appendRandom(t, l, rng, 120)
	starts := segmentStarts(t, l, batches)
	if len(starts) < 4 {
		t.Fatalf("only %d segments", len(starts))
	}
	var bases []int64
	for _, s := range l.segs {
		bases = append(bases, s.base)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return o, batches, starts, bases
}

// batchPos returns the file position of batch i of a segment starting with
// batch first.
func batchPos(batches [][]byte, first, i int) int64 {
	var pos int64
	for _, b := range batches[first:i] {
		pos += int64(len(b))
	}
	return pos
}

func baseOf(b []byte) int64 { h, _ := ParseBatchHeader(b); return h.BaseOffset }

// TestMissingMiddleSegmentKept (#12.3): a lost middle segment leaves a gap;
// the segments after it are kept and served, and a fetch inside the gap gets
// the batches after it.
func TestMissingMiddleSegmentKept(t *testing.T) {
	for _, clean := range []bool{true, false} {
		o, batches, starts, bases := damagedLog(t, 21)
		if !clean {
			removeFile(t, filepath.Join(o.Dir, cleanShutdownFile))
		}
		for _, ext := range []string{logExt, indexExt, timeIndexExt} {
			removeFile(t, filepath.Join(o.Dir, fileName(bases[1], ext)))
		}
		l := mustOpen(t, o)
		want := append(slices.Clone(batches[:starts[1]]), batches[starts[2]:]...)
		sameBatches(t, readAll(t, l, 0, 1<<20), want)
		res, err := l.Read(bases[1]+1, 1<<20, true)
		if err != nil {
			t.Fatalf("clean=%v: read in the gap: %v", clean, err)
		}
		got, _ := res.AppendTo(nil)
		if !bytes.HasPrefix(got, batches[starts[2]]) {
			t.Fatalf("clean=%v: read in the gap does not start at the next segment", clean)
		}
		if n := len(globExt(t, o.Dir, logExt)); n != len(bases)-1 {
			t.Fatalf("clean=%v: %d segment files left, want %d", clean, n, len(bases)-1)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorruptBatchBelowRecoveryPointRefused (#12.4): after an unclean
// shutdown, a damaged batch below the recovery point, in the segment holding
// it, fails Open naming segment and offset; nothing is truncated.
func TestCorruptBatchBelowRecoveryPointRefused(t *testing.T) {
	o, batches, starts, bases := damagedLog(t, 23)
	// Close wrote a snapshot at the log end: the recovery point is the end.
	removeFile(t, filepath.Join(o.Dir, cleanShutdownFile))
	lastSeg := len(bases) - 1
	victim := starts[lastSeg] + 1
	name := filepath.Join(o.Dir, fileName(bases[lastSeg], logExt))
	size := fileSize(t, name)
	flipByte(t, name, batchPos(batches, starts[lastSeg], victim)+int64(len(batches[victim]))-1)
	_, err := Open(o)
	if !IsDiskCorruption(err) || !strings.Contains(err.Error(), fileName(bases[lastSeg], logExt)) ||
		!strings.Contains(err.Error(), "recovery point") {
		t.Fatalf("Open: %v", err)
	}
	if got := fileSize(t, name); got != size {
		t.Fatalf("segment truncated from %d to %d bytes", size, got)
	}
	t.Log(err)
}

// TestReadNeverServesDiskCorruption (#12.5): a damaged batch in a closed
// segment recovery did not CRC-check is detected by the first read of it:
// reads stop before it, a read of it fails with ErrDiskCorruption, it is
// logged and counted once, and the batches after it are still served.
func TestReadNeverServesDiskCorruption(t *testing.T) {
	for _, how := range []string{"flipped byte", "broken length"} {
		t.Run(how, func(t *testing.T) {
			o, batches, starts, _ := damagedLog(t, 25)
			victim := starts[0] + 5
			name := filepath.Join(o.Dir, fileName(0, logExt))
			pos := batchPos(batches, 0, victim)
			if how == "flipped byte" {
				flipByte(t, name, pos+int64(len(batches[victim]))-2)
			} else {
				f, err := os.OpenFile(name, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], 1<<30)
				f.WriteAt(b[:], pos+8)
				f.Close()
			}
			l := mustOpen(t, o)
			defer l.Close()
			got := readUntilErr(t, l, 0)
			sameBatches(t, got, batches[:victim])
			for range 3 {
				if _, err := l.Read(baseOf(batches[victim]), 1<<20, true); !IsDiskCorruption(err) {
					t.Fatalf("read of the damaged batch: %v", err)
				}
			}
			if n := l.Corruptions(); n != 1 {
				t.Fatalf("Corruptions() = %d, want 1", n)
			}
			if how == "flipped byte" {
				// Batches after it remain readable.
				sameBatches(t, readAll(t, l, baseOf(batches[victim+1]), 1<<20), batches[victim+1:])
			}
			if fileSize(t, name) != batchPos(batches, 0, starts[1]) {
				t.Fatal("segment changed size")
			}
		})
	}
}

// readUntilErr reads from offset on until a read returns nothing new or
// fails.
func readUntilErr(t *testing.T, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	for from < l.HighWatermark() {
		r, err := l.Read(from, 1<<20, true)
		if err != nil {
			return out
		}
		b, err := r.AppendTo(nil)
		if err != nil || len(b) == 0 {
			return out
		}
		for len(b) > 0 {
			h, err := ParseBatchHeader(b)
			if err != nil || h.Size() > len(b) || checkCRC(b[:h.Size()]) != nil {
				t.Fatalf("read from %d served a damaged batch", from)
			}
			out = append(out, b[:h.Size()])
			from = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	return out
}

// TestScrubFindsDiskCorruption: the scrubber finds a damaged batch no read
// touched, once, and then has nothing left to check.
func TestScrubFindsDiskCorruption(t *testing.T) {
	o, batches, starts, _ := damagedLog(t, 27)
	victim := starts[1] + 3
	name := filepath.Join(o.Dir, fileName(baseOf(batches[starts[1]]), logExt))
	flipByte(t, name, batchPos(batches, starts[1], victim)+int64(len(batches[victim]))-2)
	l := mustOpen(t, o)
	defer l.Close()
	var total int64
	for range 1000 {
		n, err := l.Scrub(4 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if l.Corruptions() != 1 {
		t.Fatalf("Corruptions() = %d, want 1", l.Corruptions())
	}
	if n, _ := l.Scrub(1 << 30); n != 0 {
		t.Fatalf("second scrub checked %d bytes", n)
	}
	if total == 0 {
		t.Fatal("scrub checked nothing")
	}
	if _, err := l.Read(baseOf(batches[victim]), 1<<20, true); !IsDiskCorruption(err) {
		t.Fatalf("read of the damaged batch: %v", err)
	}
	if l.Corruptions() != 1 {
		t.Fatalf("Corruptions() = %d after the read, want 1", l.Corruptions())
	}
}

// TestDamagedIndexEntryFallsBack: an offset index entry damaged so that it
// still passes the structural checks but points inside a batch makes the
// read walk from the segment start and rebuild the index, not fail.
func TestDamagedIndexEntryFallsBack(t *testing.T) {
	o, batches, _, _ := damagedLog(t, 29)
	idx, err := os.ReadFile(filepath.Join(o.Dir, fileName(0, indexExt)))
	if err != nil || len(idx) < 3*offsetEntrySize {
		t.Fatalf("index: %d bytes, %v", len(idx), err)
	}
	// Move the second entry's position forward by one byte.
	binary.BigEndian.PutUint32(idx[offsetEntrySize+4:], binary.BigEndian.Uint32(idx[offsetEntrySize+4:])+1)
	if err := os.WriteFile(filepath.Join(o.Dir, fileName(0, indexExt)), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, o)
	defer l.Close()
	sameBatches(t, readAll(t, l, 0, 1), batches)
	if l.Corruptions() != 0 {
		t.Fatalf("Corruptions() = %d for index damage", l.Corruptions())
	}
}

// TestEmptiedIndexRebuilt: an offset index emptied or cut short is rebuilt
// at Open, not used (reads would scan the segment from its start).
func TestEmptiedIndexRebuilt(t *testing.T) {
	o, _, _, _ := damagedLog(t, 31)
	idx := filepath.Join(o.Dir, fileName(0, indexExt))
	want, err := os.ReadFile(idx)
	if err != nil || len(want) == 0 {
		t.Fatalf("index: %d bytes, %v", len(want), err)
	}
	if err := os.Truncate(idx, 0); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, o)
	l.segs[0].mu.RLock()
	got := bytes.Clone(l.segs[0].ix.idx)
	l.segs[0].mu.RUnlock()
	l.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("index after Open: %d bytes, want %d", len(got), len(want))
	}
}

// TestVerifyConcurrent runs reads of unchecked data, the scrubber and
// appends at once (for the race detector), and checks that every batch is
// served intact and the damage is counted once.
func TestVerifyConcurrent(t *testing.T) {
	o, batches, starts, _ := damagedLog(t, 33)
	victim := starts[1] + 2
	name := filepath.Join(o.Dir, fileName(baseOf(batches[starts[1]]), logExt))
	flipByte(t, name, batchPos(batches, starts[1], victim)+int64(len(batches[victim]))-2)
	l := mustOpen(t, o)
	defer l.Close()
	done := make(chan struct{})
	errs := make(chan error, 3)
	go func() {
		defer func() { errs <- nil }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.Scrub(1 << 10); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer func() { errs <- nil }()
		rng := rand.New(rand.NewPCG(3, 4))
		for range 50 {
			if _, err := l.Append(randomBatch(t, rng, 5000)); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 3 {
		got := readUntilErr(t, l, 0)
		sameBatches(t, got, batches[:victim])
		sameBatches(t, readUntilErr(t, l, baseOf(batches[victim+1]))[:len(batches)-victim-1], batches[victim+1:])
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Corruptions(); n != 1 {
		t.Fatalf("Corruptions() = %d, want 1", n)
	}
}
