package log

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs/crashfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// A cleanly closed log opened lazily stays dormant (nothing opened, the
// marker kept) until first used; then it is recovered and serves every
// batch, and the marker is gone, so a crash from then on is seen as
// unclean.
func TestLazyOpenCleanLogWakesOnFirstUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	o := testOpts(t, smallConfig())
	l := mustOpen(t, o)
	batches := appendRandom(t, l, rng, 60)
	end := l.HighWatermark()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(o.Dir, cleanShutdownFile)

	o.Lazy = true
	l = mustOpen(t, o)
	if !l.Dormant() {
		t.Fatal("a cleanly closed log opened lazily is not dormant")
	}
	if len(l.segs) != 0 {
		t.Fatalf("dormant log opened %d segments", len(l.segs))
	}
	// Housekeeping leaves it dormant; Size and NumSegments come from
	// the directory.
	if err := l.Tick(l.now()); err != nil {
		t.Fatal(err)
	}
	if res, err := l.ApplyRetention(l.now()); err != nil || res.Deleted != 0 {
		t.Fatalf("ApplyRetention on a dormant log: %+v, %v", res, err)
	}
	n, size := l.NumSegments(), l.Size()
	if n < 2 || size == 0 {
		t.Fatalf("dormant log: %d segments, %d bytes", n, size)
	}
	if !l.Dormant() {
		t.Fatal("housekeeping woke the log")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("clean-shutdown marker of a dormant log: %v", err)
	}

	if hw := l.HighWatermark(); hw != end {
		t.Fatalf("high watermark after wake %d, want %d", hw, end)
	}
	if l.Dormant() {
		t.Fatal("still dormant after use")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker still present after wake: %v", err)
	}
	got := readAll(t, l, 0, 1<<20)
	if len(got) != len(batches) {
		t.Fatalf("read %d batches, want %d", len(got), len(batches))
	}
	for i := range got {
		if !bytes.Equal(got[i][12:], batches[i][12:]) { // past the base offset and length
			t.Fatalf("batch %d differs", i)
		}
	}
	if l.NumSegments() != n || l.Size() != size {
		t.Fatalf("awake: %d segments, %d bytes; dormant said %d, %d", l.NumSegments(), l.Size(), n, size)
	}
	mustAppend(t, l, build(t, plain(3)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A log not closed cleanly is recovered by a lazy Open at once: its torn
// tail is cut before Open returns.
func TestLazyOpenUncleanLogRecoversAtOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	o := testOpts(t, smallConfig())
	l := mustOpen(t, o)
	appendRandom(t, l, rng, 40)
	end := l.HighWatermark()
	act := l.active()
	name, size := act.log.Name(), act.size.Load()
	crash(l)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0xab}, 100)); err != nil { // a torn batch
		t.Fatal(err)
	}
	f.Close()

	o.Lazy = true
	l = mustOpen(t, o)
	if l.Dormant() {
		t.Fatal("a log without the clean-shutdown marker was left dormant")
	}
	if len(l.segs) == 0 {
		t.Fatal("no segment opened")
	}
	if got := fileSize(t, name); got != size {
		t.Fatalf("segment is %d bytes after a lazy Open, want the torn tail cut at %d", got, size)
	}
	if hw := l.HighWatermark(); hw != end {
		t.Fatalf("high watermark %d, want %d", hw, end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A lazy log whose directory does not exist is created on first use, with
// Prepare told it is fresh; one closed with open transactions is loaded at
// once.
func TestLazyOpenFreshAndOpenTransactions(t *testing.T) {
	o := testOpts(t, smallConfig())
	o.Lazy = true
	var fresh []bool
	o.Prepare = func(f bool) error { fresh = append(fresh, f); return nil }
	l := mustOpen(t, o)
	if !l.Dormant() {
		t.Fatal("a log without a directory is not dormant")
	}
	if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
		t.Fatalf("lazy Open created the directory: %v", err)
	}
	if l.Size() != 0 || l.NumSegments() != 0 {
		t.Fatal("dormant fresh log has data")
	}
	mustAppend(t, l, txnBatch(t, 7, 0, 0, 2))
	if len(fresh) != 1 || !fresh[0] {
		t.Fatalf("Prepare calls %v, want [true]", fresh)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	if l.Dormant() {
		t.Fatal("a log closed with an open transaction was left dormant")
	}
	if len(fresh) != 2 || fresh[1] {
		t.Fatalf("Prepare calls %v, want [true false]", fresh)
	}
	if open := l.OpenTxns(); len(open) != 1 {
		t.Fatalf("open transactions %v", open)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A log not created yet answers where it ends (offset 0, empty), that it
// has no timestamps and no producers, and a deletion of its records up to
// offset 0, without creating its directory:
// a consumer polling it at offset 0 gets no records, one past it is out
// of range, and the first append creates it
// and lands at offset 0, also after a first try undone for want of file
// descriptors.
func TestNotCreatedLogAnswersEndsWithoutCreating(t *testing.T) {
	o, f := faultyOpts(t, smallConfig())
	o.LazyCreate = true
	l := mustOpen(t, o)
	defer l.Close()
	notCreated := func(when string) {
		t.Helper()
		if hw, lso, ls := l.HighWatermark(), l.LastStableOffset(), l.LogStartOffset(); hw != 0 || lso != 0 || ls != 0 {
			t.Fatalf("%s: high watermark %d, last stable %d, log start %d; want 0", when, hw, lso, ls)
		}
		if l.ReadLoads(0) {
			t.Fatalf("%s: a read at offset 0 would load the log", when)
		}
		for _, read := range []func(int64, int32, bool) (ReadResult, error){l.Read, l.ReadCommitted} {
			res, err := read(0, 1<<20, true)
			if err != nil || res.HighWatermark != 0 || res.LastStableOffset != 0 || res.LogStartOffset != 0 {
				t.Fatalf("%s: read at 0: %+v, %v", when, res, err)
			}
			if f, _, n := res.File(); f != nil || n != 0 {
				t.Fatalf("%s: read at 0 returned %d bytes", when, n)
			}
			if _, err := read(1, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("%s: read at 1: %v, want out of range", when, err)
			}
		}
		if off, ts, err := l.MaxTimestamp(); off != -1 || ts != -1 || err != nil {
			t.Fatalf("%s: max timestamp %d at %d, %v; want none", when, ts, off, err)
		}
		if off, ts, err := l.OffsetForTimestamp(0); off != -1 || ts != -1 || err != nil {
			t.Fatalf("%s: offset for timestamp 0: %d (%d), %v; want none", when, off, ts, err)
		}
		if ps := l.Producers(); ps == nil || len(ps) != 0 {
			t.Fatalf("%s: producers %v, want none", when, ps)
		}
		for _, off := range []int64{-1, 0} {
			if low, err := l.DeleteRecords(off, time.Now()); low != 0 || err != nil {
				t.Fatalf("%s: deleting records up to %d: low watermark %d, %v; want 0", when, off, low, err)
			}
		}
		if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
			t.Fatalf("%s: answering where the log ends created its directory: %v", when, err)
		}
		if !l.NotCreated() {
			t.Fatalf("%s: the log is no longer dormant", when)
		}
	}
	notCreated("opened")
	f.set(on(errorfs.OpOpen, logExt, &os.PathError{Op: "open", Err: syscall.EMFILE}))
	if _, err := l.Append(build(t, plain(2))); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("append with no file descriptors left: %v", err)
	}
	f.clear()
	// The undone load made the directory: the log is loaded as one that
	// exists from now on, still empty at offset 0.
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after an undone load, want 0", hw)
	}
	if r := mustAppend(t, l, build(t, plain(3))); r.BaseOffset != 0 {
		t.Fatalf("first append at %d", r.BaseOffset)
	}
	if l.Dormant() {
		t.Fatal("the log is dormant after its first append")
	}
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after the first append, want 3", hw)
	}
	if got := readAll(t, l, 0, 1<<20); len(got) != 1 {
		t.Fatalf("read %d batches, want 1", len(got))
	}
}

// Loading a cleanly closed log removes its marker without an fsync; the
// first change to the log makes the removal durable first, so no crash
// after it brings the marker back.
func TestLoadDefersMarkerFsyncToFirstWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	fsys := crashfs.New()
	o := Options{FS: fsys, Dir: "/d/t-0", Config: smallConfig(), Logger: quietLogger(), Lazy: true}
	l := mustOpen(t, o)
	mustAppend(t, l, build(t, plain(5)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	marker := "/d/t-0/" + cleanShutdownFile
	l = mustOpen(t, o)
	if hw := l.HighWatermark(); hw != 5 { // loads it
		t.Fatalf("high watermark %d", hw)
	}
	if _, err := fsys.Stat(marker); err == nil {
		t.Fatal("marker still present after load")
	}
	mustAppend(t, l, build(t, plain(2)))
	for i := range 20 {
		img := fsys.Crash(rng)
		if _, err := img.Stat(marker); err == nil {
			t.Fatalf("crash image %d after an append holds the clean-shutdown marker", i)
		}
		o2 := o
		o2.FS = img
		l2 := mustOpen(t, o2)
		if l2.Dormant() {
			t.Fatalf("crash image %d opened dormant", i)
		}
		l2.Close()
	}
	l.Close()
}

// A first use that runs out of file descriptors fails that call and leaves
// the log dormant: the next use loads it, with every batch. Another error
// is sticky, as Open's would be.
func TestWakeRetriedAfterOutOfFiles(t *testing.T) {
	emfile := &os.PathError{Op: "open", Err: syscall.EMFILE}
	t.Run("clean log", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		o, f := faultyOpts(t, smallConfig())
		l := mustOpen(t, o)
		batches := appendRandom(t, l, rng, 40)
		end := l.HighWatermark()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		o.Lazy = true
		l = mustOpen(t, o)
		defer l.Close()
		f.set(on(errorfs.OpOpen, indexExt, emfile)) // after the segments opened
		if _, err := l.Read(0, 1<<20, true); !errors.Is(err, syscall.EMFILE) || !errors.Is(err, ErrStorage) {
			t.Fatalf("read with no file descriptors left: %v", err)
		}
		if !l.Dormant() {
			t.Fatal("a load that ran out of files left the log awake")
		}
		f.clear()
		if hw := l.HighWatermark(); hw != end {
			t.Fatalf("high watermark after the retried load %d, want %d", hw, end)
		}
		if got := readAll(t, l, 0, 1<<20); len(got) != len(batches) {
			t.Fatalf("read %d batches, want %d", len(got), len(batches))
		}
		if r := mustAppend(t, l, build(t, plain(2))); r.BaseOffset != end {
			t.Fatalf("append after the retried load at %d, want %d", r.BaseOffset, end)
		}
	})
	t.Run("new log", func(t *testing.T) {
		o, f := faultyOpts(t, smallConfig())
		o.LazyCreate = true
		l := mustOpen(t, o)
		defer l.Close()
		f.set(on(errorfs.OpOpen, logExt, emfile)) // creating the first segment
		if _, err := l.Append(build(t, plain(2))); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("append with no file descriptors left: %v", err)
		}
		f.clear()
		if r := mustAppend(t, l, build(t, plain(2))); r.BaseOffset != 0 {
			t.Fatalf("first append after the retried load at %d", r.BaseOffset)
		}
		if hw := l.HighWatermark(); hw != 2 {
			t.Fatalf("high watermark %d", hw)
		}
	})
	t.Run("other errors stay", func(t *testing.T) {
		o, f := faultyOpts(t, smallConfig())
		l := mustOpen(t, o)
		mustAppend(t, l, build(t, plain(2)))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		o.Lazy = true
		l = mustOpen(t, o)
		defer l.Close()
		f.set(on(errorfs.OpOpen, logExt, errorfs.EIO))
		if _, err := l.Read(0, 1<<20, true); err == nil {
			t.Fatal("read with a failing disk succeeded")
		}
		f.clear()
		if _, err := l.Read(0, 1<<20, true); !errors.Is(err, ErrStorage) {
			t.Fatalf("a failed load was retried: %v", err)
		}
	})
}
