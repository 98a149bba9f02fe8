package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/crashfs"
)

// capLogs opens n logs on fsys sharing c, lazily as a broker opens them.
func capLogs(t *testing.T, fsys vfs.FS, c *FileCap, cfg Config, n int) []*Log {
	t.Helper()
	logs := make([]*Log, n)
	for i := range logs {
		logs[i] = mustOpen(t, Options{FS: fsys, Dir: fmt.Sprintf("/data/t-%d", i), Config: cfg,
			Logger: quietLogger(), Lazy: true, LazyCreate: true, Files: c})
	}
	return logs
}

func sameCapBatches(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: read %d batches, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i][12:], want[i][12:]) { // past the base offset and length
			t.Fatalf("%s: batch %d differs", what, i)
		}
	}
}

// With a cap of 2 files, 6 logs used in turn stay within the cap: the
// least recently used idle ones are put to sleep (clean-shutdown marker
// written, files closed) and serve every batch, their high watermark and
// log start offset when used again. A crash image taken then holds every
// batch of the sleeping logs, unsynced when appended, and marks them clean.
func TestFileCapPutsIdleLogsToSleep(t *testing.T) {
	fsys := crashfs.New()
	c := NewFileCap(2)
	cfg := DefaultConfig() // no fsync per append: sleeping makes them durable
	logs := capLogs(t, fsys, c, cfg, 6)
	rng := rand.New(rand.NewPCG(7, 8))
	want := make([][][]byte, len(logs))
	var lso int64 // log 3's, set by DeleteRecords
	for round := range 4 {
		for i, l := range logs {
			want[i] = append(want[i], appendRandom(t, l, rng, 1+rng.IntN(3))...)
			if round == 1 && i == 3 {
				h, _ := ParseBatchHeader(want[i][1])
				lso = h.BaseOffset
				if _, err := l.DeleteRecords(lso, l.now()); err != nil {
					t.Fatal(err)
				}
				want[i] = want[i][1:]
			}
			if n := c.OpenFiles(); n > 2 {
				t.Fatalf("round %d, log %d: %d files open, cap 2", round, i, n)
			}
		}
	}
	if c.Stats().Sleeps == 0 {
		t.Fatal("no log was put to sleep")
	}
	asleep := 0
	for i, l := range logs {
		if !l.Dormant() {
			continue
		}
		asleep++
		if _, err := fsys.Stat(filepath.Join(l.Dir(), cleanShutdownFile)); err != nil {
			t.Fatalf("log %d sleeps without its clean-shutdown marker: %v", i, err)
		}
	}
	if asleep < 4 {
		t.Fatalf("%d of 6 logs asleep with a cap of 2 files", asleep)
	}

	// A power loss now: every sleeping log is whole and clean.
	image := fsys.Crash(rand.New(rand.NewPCG(1, 1)))
	for i, l := range logs {
		if !l.Dormant() {
			continue
		}
		o := Options{FS: image, Dir: l.Dir(), Config: cfg, Logger: quietLogger(), Lazy: true}
		r := mustOpen(t, o)
		if !r.Dormant() {
			t.Fatalf("log %d, asleep at the crash, is not loaded lazily from the crash image", i)
		}
		sameCapBatches(t, fmt.Sprintf("log %d from the crash image", i), readAll(t, r, r.LogStartOffset(), 1<<20), want[i])
		if got := r.LogStartOffset(); i == 3 && got != lso {
			t.Fatalf("log start offset %d from the crash image, want %d", got, lso)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}

	for i, l := range logs {
		sameCapBatches(t, fmt.Sprintf("log %d", i), readAll(t, l, l.LogStartOffset(), 1<<20), want[i])
		if got := l.LogStartOffset(); i == 3 && got != lso {
			t.Fatalf("log start offset %d after sleeping, want %d", got, lso)
		}
		if n := c.OpenFiles(); n > 2 {
			t.Fatalf("reading log %d: %d files open, cap 2", i, n)
		}
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Logs != 0 || st.Files != 0 {
		t.Fatalf("after Close the cap still counts %+v", st)
	}
}

// A log put to sleep by the cap answers the calls that ask only where it
// ends (high watermark, log start and last stable offsets, a read at its
// end or outside it) without being loaded, so that a consumer polling more
// partitions than the cap at their ends keeps the cap. A read of batches
// loads it; an append after that moves the ends it answers with.
func TestFileCapSleepingLogAnswersAtItsEnd(t *testing.T) {
	fsys := crashfs.New()
	c := NewFileCap(1)
	logs := capLogs(t, fsys, c, DefaultConfig(), 2)
	rng := rand.New(rand.NewPCG(3, 4))
	want := appendRandom(t, logs[0], rng, 3)
	h, _ := ParseBatchHeader(want[1])
	if _, err := logs[0].DeleteRecords(h.BaseOffset, logs[0].now()); err != nil {
		t.Fatal(err)
	}
	appendRandom(t, logs[1], rng, 1) // puts logs[0] to sleep
	l := logs[0]
	if !l.Dormant() {
		t.Fatal("log 0 is not asleep")
	}
	end := l.HighWatermark()
	last, _ := ParseBatchHeader(want[2])
	if wantEnd := last.BaseOffset + int64(last.LastOffsetDelta) + 1; end != wantEnd {
		t.Fatalf("high watermark %d while asleep, want %d", end, wantEnd)
	}
	if got := l.LogStartOffset(); got != h.BaseOffset {
		t.Fatalf("log start offset %d while asleep, want %d", got, h.BaseOffset)
	}
	if got := l.LastStableOffset(); got != end {
		t.Fatalf("last stable offset %d while asleep, want %d", got, end)
	}
	for _, read := range []func(int64, int32, bool) (ReadResult, error){l.Read, l.ReadCommitted} {
		rr, err := read(end, 1<<20, true)
		if err != nil || rr.Size() != 0 || rr.HighWatermark != end || rr.LogStartOffset != h.BaseOffset || rr.LastStableOffset != end {
			t.Fatalf("read at the end while asleep: %+v %v", rr, err)
		}
		for _, off := range []int64{end + 1, h.BaseOffset - 1} {
			if _, err := read(off, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read at %d while asleep: %v, want ErrOffsetOutOfRange", off, err)
			}
		}
	}
	if !l.Dormant() {
		t.Fatal("answering at the end loaded the log")
	}
	sameCapBatches(t, "read while asleep", readAll(t, l, h.BaseOffset, 1<<20), want[1:])
	if l.Dormant() {
		t.Fatal("reading batches did not load the log")
	}
	more := appendRandom(t, l, rng, 1)
	appendRandom(t, logs[1], rng, 1) // puts logs[0] to sleep again
	if !l.Dormant() {
		t.Fatal("log 0 is not asleep again")
	}
	mh, _ := ParseBatchHeader(more[0])
	if got, wantEnd := l.HighWatermark(), mh.BaseOffset+int64(mh.LastOffsetDelta)+1; got != wantEnd {
		t.Fatalf("high watermark %d after an append and sleep, want %d", got, wantEnd)
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Read(end, 1<<20, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read at the end of a closed log: %v, want ErrClosed", err)
	}
}

// A log is not put to sleep while a ReadResult pins its segment, while it
// has an open transaction, or while every log is in use: the cap is then
// exceeded rather than waited for.
func TestFileCapKeepsBusyLogs(t *testing.T) {
	fsys := crashfs.New()
	c := NewFileCap(1)
	logs := capLogs(t, fsys, c, DefaultConfig(), 3)
	mustAppend(t, logs[0], build(t, plain(2)))
	res, err := logs[0].Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	txn := spec{n: 1, valueSize: 10, firstTs: 1000, pid: 7, seq: 0, attrs: attrTransactional}
	mustAppend(t, logs[1], build(t, txn)) // loading it would put logs[0] to sleep
	if logs[0].Dormant() {
		t.Fatal("a log was put to sleep while a read held its segment")
	}
	mustAppend(t, logs[2], build(t, plain(1)))
	if logs[1].Dormant() {
		t.Fatal("a log with an open transaction was put to sleep")
	}
	res.Release()
	mustAppend(t, logs[2], build(t, plain(1))) // no load: no pass
	mustAppend(t, logs[0], build(t, plain(1)))
	_ = logs[2].HighWatermark()
	if n := c.OpenFiles(); n != 3 {
		t.Fatalf("%d files open, want 3 (none idle and loaded since)", n)
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Appends and reads race with logs being put to sleep and loaded again:
// every append acknowledged is read back in order and the count of open
// files comes back under the cap once the users are done. Run with -race.
func TestFileCapConcurrentUse(t *testing.T) {
	fsys := crashfs.New()
	c := NewFileCap(2)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4 << 10 // rolls while in use
	logs := capLogs(t, fsys, c, cfg, 8)
	const workers, perWorker = 4, 60
	var mu sync.Mutex
	count := make([]int, len(logs)) // records appended, per log
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range perWorker {
				i := rng.IntN(len(logs))
				l := logs[i]
				switch rng.IntN(3) {
				case 0, 1:
					n := 1 + rng.IntN(3)
					if _, err := l.Append(build(t, plain(n))); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					count[i] += n
					mu.Unlock()
				default:
					res, err := l.Read(0, 1<<16, true)
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := res.AppendTo(nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i, l := range logs {
		if hw := l.HighWatermark(); hw != int64(count[i]) {
			t.Fatalf("log %d: high watermark %d, want %d", i, hw, count[i])
		}
		next := int64(0)
		for _, b := range readAll(t, l, 0, 1<<20) {
			h, _ := ParseBatchHeader(b)
			if h.BaseOffset != next {
				t.Fatalf("log %d: batch at %d, want %d", i, h.BaseOffset, next)
			}
			next = h.LastOffset() + 1
		}
		if next != int64(count[i]) {
			t.Fatalf("log %d: read up to %d, want %d", i, next, count[i])
		}
	}
	if c.Stats().Sleeps == 0 {
		t.Fatal("no log was put to sleep")
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
