package log

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyDir copies the flat directory src to a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// prefixEnding returns the batches that end at or before byte position cut
// of the segment starting at byte position segStart of all batches.
func completeBefore(batches [][]byte, first int, cut int64) [][]byte {
	var out [][]byte
	pos := int64(0)
	for _, b := range batches[first:] {
		if pos+int64(len(b)) > cut {
			break
		}
		out = append(out, b)
		pos += int64(len(b))
	}
	return out
}

// segmentStarts returns, per segment of l, the index in batches of its
// first batch.
func segmentStarts(t *testing.T, l *Log, batches [][]byte) []int {
	var starts []int
	for _, s := range l.segs {
		i := slices.IndexFunc(batches, func(b []byte) bool { h, _ := ParseBatchHeader(b); return h.BaseOffset == s.base })
		if i < 0 {
			t.Fatalf("no batch starts segment %s", s.name())
		}
		starts = append(starts, i)
	}
	return starts
}

func garbage(rng *rand.Rand, kind int) []byte {
	switch kind {
	case 0:
		return nil
	case 1:
		return make([]byte, 1+rng.IntN(5000)) // zeros, as after a crash with preallocation
	case 2:
		b := make([]byte, 1+rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	default:
		// A well-framed batch with the right next offset but a bad CRC.
		b := build(nil, plain(2))
		b[len(b)-1] ^= 1
		return b
	}
}

// TestRecoveryTornTail cuts the active segment at random points, adds
// garbage, and checks that reopening yields exactly the complete batches
// before the cut, with rebuilt indexes, and that appends continue.
func TestRecoveryTornTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := smallConfig()
	cfg.SegmentBytes = 64 << 10
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	batches := appendRandom(t, l, rng, 150)
	starts := segmentStarts(t, l, batches)
	act := l.segs[len(l.segs)-1]
	actSize, actName := act.size.Load(), act.name()
	crash(l)
	if len(starts) < 2 {
		t.Fatalf("%d segments", len(starts))
	}
	first := starts[len(starts)-1]

	for trial := range 40 {
		cut := rng.Int64N(actSize + 1)
		kind := trial % 4
		dir := copyDir(t, o.Dir)
		name := filepath.Join(dir, actName)
		if err := os.Truncate(name, cut); err != nil {
			t.Fatal(err)
		}
		g := garbage(rng, kind)
		if kind == 3 {
			// Give the bad batch the offset recovery expects next.
			keep := completeBefore(batches, first, cut)
			next := int64(0)
			if len(keep) > 0 {
				h, _ := ParseBatchHeader(keep[len(keep)-1])
				next = h.LastOffset() + 1
			} else {
				h, _ := ParseBatchHeader(batches[first])
				next = h.BaseOffset
			}
			putBaseOffset(g, next)
			// And place it right after the complete batches.
			var end int64
			for _, b := range keep {
				end += int64(len(b))
			}
			if err := os.Truncate(name, end); err != nil {
				t.Fatal(err)
			}
			cut = end
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(g)
		f.Close()

		want := append(slices.Clone(batches[:first]), completeBefore(batches, first, cut)...)
		o2 := o
		o2.Dir = dir
		r := mustOpen(t, o2)
		sameBatches(t, readAll(t, r, 0, 1<<20), want)
		var wantEnd int64
		for _, b := range want[first:] {
			wantEnd += int64(len(b))
		}
		if got := fileSize(t, name); got != wantEnd {
			t.Fatalf("trial %d: file is %d bytes, want %d", trial, got, wantEnd)
		}
		for _, s := range r.segs {
			if err := s.ensureLoaded(r.logger, cfg.IndexIntervalBytes); err != nil {
				t.Fatal(err)
			}
			checkIndexes(t, s, cfg.IndexIntervalBytes)
		}
		b := build(t, plain(3))
		res := mustAppend(t, r, b)
		if res.BaseOffset != r.HighWatermark()-3 {
			t.Fatalf("append after recovery at %d", res.BaseOffset)
		}
		sameBatches(t, readAll(t, r, 0, 1<<20), append(want, b))
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(dir)
	}
}

// TestRecoveryWithoutRecoveryPoint removes every snapshot, so that all
// segments are recovered fully; a cut in a middle segment truncates that
// segment's torn tail, and the segments after it, above the recovery point
// too, are moved aside (kept, not served), so the log is a prefix without a
// hole.
func TestRecoveryWithoutRecoveryPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	o := testOpts(t, smallConfig())
	l := mustOpen(t, o)
	batches := appendRandom(t, l, rng, 120)
	starts := segmentStarts(t, l, batches)
	mid := len(l.segs) / 2
	nsegs := len(l.segs)
	midName, midSize := l.segs[mid].name(), l.segs[mid].size.Load()
	crash(l)
	for _, s := range globExt(t, o.Dir, snapshotExt) {
		removeFile(t, s)
	}
	cut := midSize / 2
	if err := os.Truncate(filepath.Join(o.Dir, midName), cut); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, o)
	defer r.Close()
	want := append(slices.Clone(batches[:starts[mid]]), completeBefore(batches, starts[mid], cut)...)
	sameBatches(t, readAll(t, r, 0, 1<<20), want)
	if r.NumSegments() != mid+1 {
		t.Fatalf("%d segments, want %d", r.NumSegments(), mid+1)
	}
	if n := len(globExt(t, o.Dir, logExt)); n != mid+1 {
		t.Fatalf("%d segment files, want %d", n, mid+1)
	}
	if n := len(globExt(t, o.Dir, logExt+unflushedSuffix+"*")); n != nsegs-mid-1 {
		t.Fatalf("%d segment files moved aside, want %d", n, nsegs-mid-1)
	}
}

// TestRecoveryRefusesDamagedDurableData: data vouched for by a clean
// shutdown or the recovery point is not silently cut off.
func TestRecoveryRefusesDamagedDurableData(t *testing.T) {
	for _, clean := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(11, 12))
		o := testOpts(t, smallConfig())
		l := mustOpen(t, o)
		appendRandom(t, l, rng, 100)
		name := filepath.Join(o.Dir, l.segs[0].name())
		size := l.segs[0].size.Load()
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(l)
		}
		if err := os.Truncate(name, size-10); err != nil {
			t.Fatal(err)
		}
		_, err := Open(o)
		if !IsCorruption(err) || !strings.Contains(err.Error(), fileName(0, logExt)) {
			t.Fatalf("clean=%v: Open of a damaged durable segment: %v", clean, err)
		}
		t.Logf("clean=%v: %v", clean, err)
	}
}

// TestIndexRebuild deletes or damages index files and checks that they
// are rebuilt to exactly what they were.
func TestIndexRebuild(t *testing.T) {
	for _, mode := range []string{"deleted clean", "deleted crash", "beyond file", "garbage middle", "time entry lost"} {
		t.Run(mode, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 14))
			cfg := smallConfig()
			o := testOpts(t, cfg)
			l := mustOpen(t, o)
			var batches [][]byte
			if mode == "time entry lost" {
				// The check can only notice a lost final time entry
				// when the segment's largest timestamp is in its last
				// batches: make timestamps rise.
				for i := range 150 {
					s := plain(1 + rng.IntN(20))
					s.valueSize, s.firstTs, s.tsStep = rng.IntN(300), int64(i*100), 1
					b := build(t, s)
					mustAppend(t, l, b)
					batches = append(batches, b)
				}
			} else {
				batches = appendRandom(t, l, rng, 150)
			}
			if mode == "deleted crash" {
				// Make every segment but the last durable, as a roll
				// does, then crash.
				crash(l)
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			orig := map[string][]byte{}
			for _, ext := range []string{indexExt, timeIndexExt} {
				for _, name := range globExt(t, o.Dir, ext) {
					b, _ := os.ReadFile(name)
					orig[name] = b
				}
			}
			for name, b := range orig {
				switch mode {
				case "deleted clean", "deleted crash":
					removeFile(t, name)
				case "beyond file":
					if filepath.Ext(name) == indexExt && len(b) > 0 {
						c := slices.Clone(b)
						c[len(c)-4] = 0x7f // position far beyond the file
						os.WriteFile(name, c, 0o644)
					}
				case "time entry lost":
					if filepath.Ext(name) == timeIndexExt && len(b) > timeEntrySize {
						os.WriteFile(name, b[:len(b)-timeEntrySize], 0o644)
					}
				case "garbage middle":
					if len(b) >= 3*offsetEntrySize {
						c := slices.Clone(b)
						copy(c[offsetEntrySize:], make([]byte, offsetEntrySize))
						os.WriteFile(name, c, 0o644)
					}
				}
			}
			r := mustOpen(t, o)
			sameBatches(t, readAll(t, r, 0, 2000), batches)
			bf := newBruteForce(t, batches)
			wantOff, wantTs := bf.max()
			if off, ts, err := r.MaxTimestamp(); off != wantOff || ts != wantTs || err != nil {
				t.Fatalf("MaxTimestamp %d %d %v", off, ts, err)
			}
			for _, s := range r.segs {
				checkIndexes(t, s, cfg.IndexIntervalBytes)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == "deleted crash" {
				return // the active segment's time index may differ by its final entry timing
			}
			for name, want := range orig {
				got, err := os.ReadFile(name)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s not rebuilt as it was (%v, %d bytes, want %d)", filepath.Base(name), err, len(got), len(want))
				}
			}
		})
	}
}

func TestDirectoryHousekeeping(t *testing.T) {
	o := testOpts(t, DefaultConfig())
	l := mustOpen(t, o)
	mustAppend(t, l, build(t, plain(2)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(o.Dir, cleanShutdownFile)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no clean shutdown marker: %v", err)
	}
	stray := []string{
		filepath.Join(o.Dir, fileName(5, snapshotExt)+".tmp"),
		filepath.Join(o.Dir, fileName(999, indexExt)),
		filepath.Join(o.Dir, fileName(999, timeIndexExt)),
	}
	for _, s := range stray {
		os.WriteFile(s, []byte("x"), 0o644)
	}
	l = mustOpen(t, o)
	defer l.Close()
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker survives Open: %v", err)
	}
	for _, s := range stray {
		if _, err := os.Stat(s); !os.IsNotExist(err) {
			t.Fatalf("%s survives Open", filepath.Base(s))
		}
	}
	if l.HighWatermark() != 2 {
		t.Fatalf("high watermark %d", l.HighWatermark())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestStaleIndexFilesRewritten: indexes rebuilt by recovery replace longer
// stale files whole.
func TestStaleIndexFilesRewritten(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	o := testOpts(t, cfg)
	l := mustOpen(t, o)
	batches := appendRandom(t, l, rng, 100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash after a clean reopen, with the segment's tail lost (and the
	// snapshot that would vouch for it, or recovery would refuse).
	removeFile(t, filepath.Join(o.Dir, cleanShutdownFile))
	for _, s := range globExt(t, o.Dir, snapshotExt) {
		removeFile(t, s)
	}
	name := filepath.Join(o.Dir, fileName(0, logExt))
	cut := fileSize(t, name) / 3
	if err := os.Truncate(name, cut); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	want := completeBefore(batches, 0, cut)
	sameBatches(t, readAll(t, l, 0, 1<<20), want)
	act := l.segs[0]
	act.finish()
	act.mu.RLock()
	idx, tidx := bytes.Clone(act.ix.idx), bytes.Clone(act.ix.tidx)
	act.mu.RUnlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]byte{indexExt: idx, timeIndexExt: tidx} {
		got, err := os.ReadFile(filepath.Join(o.Dir, fileName(0, file)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, want %d (%v)", file, len(got), len(want), err)
		}
	}
}

// TestIndexingResumesAfterReopen: the bytes since the last index entry
// survive a restart, so the entries are those of an uninterrupted run.
func TestIndexingResumesAfterReopen(t *testing.T) {
	for _, clean := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.IndexIntervalBytes = 1000
		o := testOpts(t, cfg)
		l := mustOpen(t, o)
		b := build(t, plain(10)) // about 220 bytes
		n := int(cfg.IndexIntervalBytes)/len(b) + 1
		for range n {
			mustAppend(t, l, build(t, plain(10)))
		}
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(l)
		}
		l = mustOpen(t, o)
		mustAppend(t, l, build(t, plain(10)))
		if got := offsetEntries(l.segs[0].ix.idx); got != 1 {
			t.Fatalf("clean=%v: %d index entries after %d bytes, want 1", clean, got, l.Size())
		}
		checkIndexes(t, l.segs[0], cfg.IndexIntervalBytes)
		l.Close()
	}
}
