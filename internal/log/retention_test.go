package log

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// lifecycleLog opens a log with small segments, the given clock and
// retention settings.
func lifecycleLog(t *testing.T, clk *clock, mod func(*Config)) (*Log, Options) {
	t.Helper()
	cfg := smallConfig()
	cfg.SegmentBytes = 4 << 10
	mod(&cfg)
	o := testOpts(t, cfg)
	o.Now = clk.Now
	return mustOpen(t, o), o
}

// appendAt appends n batches of 4 records stamped with the clock.
func appendAt(t *testing.T, l *Log, clk *clock, n int) {
	t.Helper()
	for range n {
		s := plain(4)
		s.valueSize = 200
		s.firstTs = clk.Now().UnixMilli()
		mustAppend(t, l, build(t, s))
	}
}

func segBases(l *Log) []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []int64
	for _, s := range l.segs {
		out = append(out, s.base)
	}
	return out
}

func wantOutOfRange(t *testing.T, l *Log, off int64) {
	t.Helper()
	r, err := l.Read(off, 1<<20, true)
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(%d) = %v, want ErrOffsetOutOfRange", off, err)
	}
	if r.LogStartOffset != l.LogStartOffset() {
		t.Fatalf("Read(%d) reports log start %d, want %d", off, r.LogStartOffset, l.LogStartOffset())
	}
}

func TestRetentionByTime(t *testing.T) {
	clk := newClock()
	l, o := lifecycleLog(t, clk, func(c *Config) { c.RetentionMs = 60_000; c.FileDeleteDelayMs = 30_000 })
	defer l.Close()
	appendAt(t, l, clk, 40) // old data, several segments
	clk.Advance(50 * time.Second)
	appendAt(t, l, clk, 40) // newer data
	bases := segBases(l)
	if len(bases) < 6 {
		t.Fatalf("only %d segments", len(bases))
	}

	// Nothing is older than 60 s yet.
	if res, err := l.ApplyRetention(clk.Now()); err != nil || res.Deleted != 0 {
		t.Fatalf("early retention: %+v, %v", res, err)
	}
	clk.Advance(20 * time.Second) // the first 40 batches are 70 s old
	res, err := l.ApplyRetention(clk.Now())
	if err != nil || res.Deleted == 0 || res.Rolled {
		t.Fatalf("retention: %+v, %v", res, err)
	}
	start := l.LogStartOffset()
	if got := segBases(l)[0]; got != start || start == 0 || start > 160 {
		t.Fatalf("log start %d, first segment %d", start, got)
	}
	// Every remaining segment holds a record younger than retention.
	for _, b := range segBases(l)[:1] {
		l.mu.RLock()
		ts, _ := l.segs[0].maxTimestamp()
		l.mu.RUnlock()
		if clk.Now().UnixMilli()-ts > 60_000 {
			t.Fatalf("segment %d kept though its newest record is too old", b)
		}
	}
	wantOutOfRange(t, l, start-1)
	if got := readAll(t, l, start, 1<<20); len(got) == 0 {
		t.Fatal("nothing readable after retention")
	}
	// Deleted files wait for file.delete.delay.ms (30 s).
	if got := globExt(t, o.Dir, logExt+deletedSuffix); len(got) != res.Deleted {
		t.Fatalf(".log.deleted files: %v", got)
	}
	clk.Advance(29 * time.Second)
	if _, err := l.ApplyRetention(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := globExt(t, o.Dir, logExt+deletedSuffix); len(got) != res.Deleted {
		t.Fatalf(".log.deleted files removed before the delay: %v", got)
	}
	clk.Advance(12 * time.Second)
	// Now everything is older than retention: the active segment rolls
	// and only a new empty one is left.
	res, err = l.ApplyRetention(clk.Now())
	if err != nil || !res.Rolled {
		t.Fatalf("full expiry: %+v, %v", res, err)
	}
	if l.NumSegments() != 1 || l.Size() != 0 || l.LogStartOffset() != l.HighWatermark() || l.HighWatermark() != 320 {
		t.Fatalf("after full expiry: %d segments, %d bytes, start %d, hw %d", l.NumSegments(), l.Size(), l.LogStartOffset(), l.HighWatermark())
	}
	if got := globExt(t, o.Dir, logExt+deletedSuffix); len(got) != res.Deleted {
		t.Fatalf("after the first delay: %v, want %d", got, res.Deleted)
	}
	clk.Advance(31 * time.Second)
	if _, err := l.ApplyRetention(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := globExt(t, o.Dir, deletedSuffix); len(got) != 0 {
		t.Fatalf(".deleted files left after the delay: %v", got)
	}
	// Appends continue at the high watermark; the start survives a restart.
	appendAt(t, l, clk, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	defer l.Close()
	if l.LogStartOffset() != 320 || l.HighWatermark() != 324 {
		t.Fatalf("reopened: start %d hw %d", l.LogStartOffset(), l.HighWatermark())
	}
}

func TestRetentionBySize(t *testing.T) {
	clk := newClock()
	const limit = 10 << 10
	l, _ := lifecycleLog(t, clk, func(c *Config) { c.RetentionBytes = limit; c.FileDeleteDelayMs = 0 })
	defer l.Close()
	appendAt(t, l, clk, 60)
	before := l.Size()
	res, err := l.ApplyRetention(clk.Now())
	if err != nil || res.Deleted == 0 || res.DeletedBytes != before-l.Size() {
		t.Fatalf("retention: %+v, %v", res, err)
	}
	// Kafka's rule: delete the oldest segments as long as what remains is
	// still at least the limit, so the log stays within one segment of it.
	l.mu.RLock()
	firstSize := l.segs[0].size.Load()
	l.mu.RUnlock()
	if l.Size() < limit || l.Size()-firstSize >= limit {
		t.Fatalf("log is %d bytes (first segment %d), limit %d", l.Size(), firstSize, limit)
	}
	if l.LogStartOffset() != segBases(l)[0] {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), segBases(l)[0])
	}
	// Idempotent, and nothing without the delete policy.
	if res, _ := l.ApplyRetention(clk.Now()); res.Deleted != 0 {
		t.Fatalf("second pass deleted %d", res.Deleted)
	}
	cfg := l.Config()
	cfg.Delete, cfg.Compact = false, true
	l.SetConfig(cfg)
	appendAt(t, l, clk, 30)
	if res, _ := l.ApplyRetention(clk.Now()); res.Deleted != 0 {
		t.Fatalf("compact-only log deleted %d segments", res.Deleted)
	}
}

// TestReadDuringDeletion: a read that found a segment before retention
// deleted it still gets its bytes.
func TestReadDuringDeletion(t *testing.T) {
	clk := newClock()
	l, o := lifecycleLog(t, clk, func(c *Config) { c.RetentionMs = 1000; c.FileDeleteDelayMs = 0 })
	defer l.Close()
	appendAt(t, l, clk, 30)
	want := readAll(t, l, 0, 1<<20)
	r, err := l.Read(0, 1<<20, true)
	if err != nil || r.Size() == 0 {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	appendAt(t, l, clk, 1)
	res, err := l.ApplyRetention(clk.Now())
	if err != nil || res.Deleted == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, fileName(0, logExt))); !os.IsNotExist(err) {
		t.Fatalf("segment 0 still on disk: %v", err)
	}
	if len(globExt(t, o.Dir, deletedSuffix)) != 0 {
		t.Fatal("deleted files not removed with delay 0")
	}
	got, err := r.AppendTo(nil)
	if err != nil || len(got) != r.Size() || string(got[:len(want[0])]) != string(want[0]) {
		t.Fatalf("read of a deleted segment: %d bytes, %v", len(got), err)
	}
	wantOutOfRange(t, l, 0)
}

func TestDeleteRecords(t *testing.T) {
	clk := newClock()
	l, o := lifecycleLog(t, clk, func(c *Config) { c.FileDeleteDelayMs = 0 })
	appendAt(t, l, clk, 40) // 160 records
	hw := l.HighWatermark()
	bases := segBases(l)
	if _, err := l.DeleteRecords(hw+1, clk.Now()); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond hw: %v", err)
	}
	if _, err := l.DeleteRecords(-2, clk.Now()); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("-2: %v", err)
	}
	// In the middle of the third segment: the first two go, the third
	// stays but reads below the new start fail.
	mid := bases[2] + 5
	low, err := l.DeleteRecords(mid, clk.Now())
	if err != nil || low != mid || l.LogStartOffset() != mid {
		t.Fatalf("DeleteRecords(%d) = %d, %v", mid, low, err)
	}
	if got := segBases(l); got[0] != bases[2] {
		t.Fatalf("segments %v, want first %d", got, bases[2])
	}
	wantOutOfRange(t, l, mid-1)
	if _, err := l.Read(mid, 1<<20, true); err != nil {
		t.Fatal(err)
	}
	// Lower is a no-op.
	if low, err := l.DeleteRecords(3, clk.Now()); err != nil || low != mid {
		t.Fatalf("lower: %d %v", low, err)
	}
	// Survives a crash (no clean shutdown) thanks to the checkpoint.
	crash(l)
	l = mustOpen(t, o)
	if l.LogStartOffset() != mid {
		t.Fatalf("after crash: log start %d, want %d", l.LogStartOffset(), mid)
	}
	wantOutOfRange(t, l, mid-1)
	// -1 is the high watermark; the active segment stays.
	if low, err := l.DeleteRecords(-1, clk.Now()); err != nil || low != hw {
		t.Fatalf("-1: %d %v", low, err)
	}
	if l.NumSegments() != 1 || l.HighWatermark() != hw {
		t.Fatalf("%d segments, hw %d", l.NumSegments(), l.HighWatermark())
	}
	if r, err := l.Read(hw, 100, true); err != nil || r.Size() != 0 {
		t.Fatalf("read at hw: %v", err)
	}
	if res := mustAppend(t, l, build(t, plain(1))); res.BaseOffset != hw || res.LogStartOffset != hw {
		t.Fatalf("append after DeleteRecords: %+v", res)
	}
	l.Close()
	l = mustOpen(t, o)
	if l.LogStartOffset() != hw {
		t.Fatalf("after restart: %d", l.LogStartOffset())
	}
	// A compact-only log refuses.
	cfg := l.Config()
	cfg.Delete, cfg.Compact = false, true
	l.SetConfig(cfg)
	if _, err := l.DeleteRecords(-1, clk.Now()); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("compact-only: %v", err)
	}
	l.Close()
}

func TestCheckpointCorruptStopsOpen(t *testing.T) {
	clk := newClock()
	l, o := lifecycleLog(t, clk, func(c *Config) {})
	appendAt(t, l, clk, 3)
	if _, err := l.DeleteRecords(5, clk.Now()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	flipByte(t, filepath.Join(o.Dir, checkpointFile), 10)
	if _, err := Open(o); !IsCorruption(err) {
		t.Fatalf("Open with a corrupt checkpoint: %v", err)
	}
}

func TestLeftoverDeletedFilesRemovedOnOpen(t *testing.T) {
	clk := newClock()
	l, o := lifecycleLog(t, clk, func(c *Config) { c.RetentionMs = 1000 })
	appendAt(t, l, clk, 30)
	clk.Advance(time.Hour)
	appendAt(t, l, clk, 1)
	if res, err := l.ApplyRetention(clk.Now()); err != nil || res.Deleted == 0 {
		t.Fatal(res, err)
	}
	if len(globExt(t, o.Dir, deletedSuffix)) == 0 {
		t.Fatal("no .deleted files")
	}
	start := l.LogStartOffset()
	crash(l)
	l = mustOpen(t, o)
	defer l.Close()
	if got := globExt(t, o.Dir, deletedSuffix); len(got) != 0 {
		t.Fatalf("left over: %v", got)
	}
	if l.LogStartOffset() != start {
		t.Fatalf("start %d, want %d", l.LogStartOffset(), start)
	}
}

func TestSpaceGuard(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	o := testOpts(t, cfg)
	o.Now = clk.Now
	free := int64(10 << 20)
	calls := 0
	o.Space = NewSpaceGuard(o.Dir, 1<<20)
	o.Space.SetStatfs(func(string) (int64, error) { calls++; return free, nil })
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, build(t, plain(2)))
	mustAppend(t, l, build(t, plain(2)))
	if calls != 1 {
		t.Fatalf("statfs called %d times within a second", calls)
	}
	free = 1000
	mustAppend(t, l, build(t, plain(2))) // cached result still good
	clk.Advance(time.Second)
	_, err := l.Append(build(t, plain(2)))
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrStorage) {
		t.Fatalf("append below the floor: %v", err)
	}
	if l.HighWatermark() != 6 {
		t.Fatalf("hw %d", l.HighWatermark())
	}
	if got := readAll(t, l, 0, 1<<20); len(got) != 3 {
		t.Fatalf("reads during a full disk: %d batches", len(got))
	}
	free = 10 << 20
	clk.Advance(time.Second)
	mustAppend(t, l, build(t, plain(2))) // not sticky
}

// TestNoSpaceWriteNotSticky: a write failing with ENOSPC, even half done,
// is undone and the next append succeeds.
func TestNoSpaceWriteNotSticky(t *testing.T) {
	for _, injected := range []error{errorfs.ENOSPC, &errorfs.ShortWrite{Err: errorfs.ENOSPC}, syscall.EDQUOT} {
		o, f := faultyOpts(t, DefaultConfig())
		failOnceThenRetry(t, o, f, on(errorfs.OpWrite, logExt, injected), func(l *Log) {
			if _, err := l.Append(build(t, plain(4))); !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrStorage) {
				t.Fatalf("%v: %v", injected, err)
			}
		})
	}
}

// A roll that cannot create the new segment because the process is out
// of file descriptors fails that append only: nothing was written, and the
// next append rolls.
func TestRollOutOfFilesNotSticky(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1 // every batch rolls
	o, f := faultyOpts(t, cfg)
	failOnceThenRetry(t, o, f, on(errorfs.OpOpen, logExt, &os.PathError{Op: "open", Err: syscall.EMFILE}), func(l *Log) {
		segs := l.NumSegments()
		if _, err := l.Append(build(t, plain(4))); !errors.Is(err, syscall.EMFILE) || !errors.Is(err, ErrStorage) {
			t.Fatalf("append needing a roll with no descriptors left: %v", err)
		}
		if n := l.NumSegments(); n != segs {
			t.Fatalf("%d segments after the failed roll, had %d", n, segs)
		}
	})
}

// failOnceThenRetry opens a log with o and appends three batches of 4
// records, then runs fail (an append that must fail, and its checks) with
// fault injected, and checks that the retry without it lands at offset 12
// and that all four batches read back, before and after a crash: the
// failure was not sticky and left nothing behind.
func failOnceThenRetry(t *testing.T, o Options, f *faults, fault func(errorfs.Op, string) error, fail func(*Log)) {
	t.Helper()
	l := mustOpen(t, o)
	var want [][]byte
	for range 3 {
		b := build(t, plain(4))
		mustAppend(t, l, b)
		want = append(want, b)
	}
	f.set(fault)
	fail(l)
	f.clear()
	b := build(t, plain(4))
	if r := mustAppend(t, l, b); r.BaseOffset != 12 {
		t.Fatalf("retry got offset %d", r.BaseOffset)
	}
	want = append(want, b)
	sameBatches(t, readAll(t, l, 0, 1<<20), want)
	crash(l)
	l = mustOpen(t, o)
	sameBatches(t, readAll(t, l, 0, 1<<20), want)
	l.Close()
}

// TestDeletedSegmentClosedByLastReader: the file of a deleted segment
// stays open while reads that located it hold it, and is closed as soon
// as the last of them releases it (no garbage collector involved: GC is
// off for the test); a deleted segment nobody reads is closed at once.
func TestDeletedSegmentClosedByLastReader(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	clk := newClock()
	l, _ := lifecycleLog(t, clk, func(c *Config) { c.FileDeleteDelayMs = 0 })
	appendAt(t, l, clk, 20)
	bases := segBases(l)
	if len(bases) < 3 {
		t.Fatalf("want at least 3 segments, have %v", bases)
	}
	read := func(off int64) ReadResult {
		t.Helper()
		r, err := l.Read(off, 1<<20, true)
		if err != nil || r.Size() == 0 {
			t.Fatalf("Read(%d): %d bytes, %v", off, r.Size(), err)
		}
		return r
	}
	open := func(f vfs.File) bool {
		_, err := f.ReadAt(make([]byte, 1), 0)
		if err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatalf("ReadAt: %v", err)
		}
		return err == nil
	}

	r1, r2 := read(bases[0]), read(bases[0])
	f0, _, _ := r1.File()
	idle := read(bases[1]) // the second segment: read and released
	f1, _, _ := idle.File()
	idle.Release()
	idle.Release() // a second release does nothing

	if _, err := l.DeleteRecords(bases[2], clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Millisecond)
	if _, err := l.ApplyRetention(clk.Now()); err != nil { // removes the expired files
		t.Fatal(err)
	}
	if got := segBases(l); got[0] != bases[2] {
		t.Fatalf("segments after DeleteRecords: %v", got)
	}
	if open(f1) {
		t.Error("a deleted segment no reader holds is still open")
	}
	if !open(f0) {
		t.Fatal("a deleted segment was closed while two reads held it")
	}
	r1.Release()
	if !open(f0) {
		t.Fatal("a deleted segment was closed while a read held it")
	}
	if b, err := r2.AppendTo(nil); err != nil || len(b) != r2.Size() { // consumes r2
		t.Fatalf("AppendTo of a deleted segment's read: %d bytes, %v", len(b), err)
	}
	if open(f0) {
		t.Error("a deleted segment is still open after its last reader released it")
	}
	r2.Release() // already released by AppendTo: no double close
	if !open(mustFile(t, read(bases[2]))) {
		t.Error("a live segment was closed")
	}
}

func mustFile(t *testing.T, r ReadResult) vfs.File {
	t.Helper()
	f, _, _ := r.File()
	if f == nil {
		t.Fatal("empty read")
	}
	return f
}
