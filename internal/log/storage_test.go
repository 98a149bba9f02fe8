package log

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// faults is an inject function whose rule tests switch at run time.
type faults struct {
	rule atomic.Pointer[func(errorfs.Op, string) error]
}

func (f *faults) inject(op errorfs.Op, path string) error {
	if r := f.rule.Load(); r != nil {
		return (*r)(op, path)
	}
	return nil
}

func (f *faults) set(r func(errorfs.Op, string) error) { f.rule.Store(&r) }
func (f *faults) clear()                               { f.rule.Store(nil) }

// on fails op on files whose name ends with suffix.
func on(op errorfs.Op, suffix string, err error) func(errorfs.Op, string) error {
	return func(o errorfs.Op, p string) error {
		if o == op && strings.HasSuffix(p, suffix) {
			return err
		}
		return nil
	}
}

func faultyOpts(t *testing.T, cfg Config) (Options, *faults) {
	f := &faults{}
	o := testOpts(t, cfg)
	o.FS = errorfs.New(vfs.Default, f.inject)
	return o, f
}

func TestWriteErrorIsSticky(t *testing.T) {
	for _, torn := range []bool{false, true} {
		o, f := faultyOpts(t, DefaultConfig())
		l := mustOpen(t, o)
		var want [][]byte
		for range 5 {
			b := build(t, plain(4))
			mustAppend(t, l, b)
			want = append(want, b)
		}
		size := l.Size()
		// ENOSPC is not sticky (see TestNoSpaceWriteNotSticky).
		var injected error = errorfs.EIO
		if torn {
			injected = &errorfs.ShortWrite{Err: errorfs.EIO}
		}
		f.set(on(errorfs.OpWrite, logExt, injected))
		_, err := l.Append(build(t, plain(4)))
		if !errors.Is(err, ErrStorage) {
			t.Fatalf("torn=%v: %v, want ErrStorage", torn, err)
		}
		wantErrno := syscall.EIO
		if !errors.Is(err, wantErrno) {
			t.Fatalf("torn=%v: %v does not wrap %v", torn, err, wantErrno)
		}
		f.clear()
		// Sticky: appends keep failing though the disk recovered.
		for range 3 {
			if _, err2 := l.Append(build(t, plain(1))); !errors.Is(err2, ErrStorage) {
				t.Fatalf("torn=%v: append after failure: %v", torn, err2)
			}
		}
		if err := l.Flush(); !errors.Is(err, ErrStorage) {
			t.Fatalf("Flush after failure: %v", err)
		}
		// Earlier data stays readable, and nothing of the failed batch is.
		if l.HighWatermark() != 20 || l.Size() != size {
			t.Fatalf("high watermark %d, size %d (was %d)", l.HighWatermark(), l.Size(), size)
		}
		sameBatches(t, readAll(t, l, 0, 1<<20), want)
		if got := fileSize(t, filepath.Join(o.Dir, fileName(0, logExt))); got != size {
			t.Fatalf("torn=%v: failed write left the file at %d bytes, want %d", torn, got, size)
		}
		if err := l.Close(); !errors.Is(err, ErrStorage) {
			t.Fatalf("Close after failure: %v", err)
		}
		if _, err := os.Stat(filepath.Join(o.Dir, cleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatal("clean-shutdown marker written after a storage error")
		}
		l = mustOpen(t, o)
		sameBatches(t, readAll(t, l, 0, 1<<20), want)
		mustAppend(t, l, build(t, plain(1)))
		l.Close()
	}
}

// TestTornWriteRecovered: the torn tail cannot be truncated away at
// failure time, so the next Open cuts it.
func TestTornWriteRecovered(t *testing.T) {
	o, f := faultyOpts(t, DefaultConfig())
	l := mustOpen(t, o)
	var want [][]byte
	for range 3 {
		b := build(t, plain(10))
		mustAppend(t, l, b)
		want = append(want, b)
	}
	size := l.Size()
	f.set(func(op errorfs.Op, p string) error {
		switch op {
		case errorfs.OpWrite:
			return &errorfs.ShortWrite{Err: errorfs.ENOSPC}
		case errorfs.OpTruncate:
			return errorfs.EIO
		}
		return nil
	})
	if _, err := l.Append(build(t, plain(10))); !errors.Is(err, ErrStorage) {
		t.Fatal(err)
	}
	name := filepath.Join(o.Dir, fileName(0, logExt))
	if got := fileSize(t, name); got <= size {
		t.Fatalf("expected a torn tail, file is %d bytes (was %d)", got, size)
	}
	sameBatches(t, readAll(t, l, 0, 1<<20), want) // the torn bytes are never served
	f.clear()
	crash(l)
	l = mustOpen(t, o)
	defer l.Close()
	sameBatches(t, readAll(t, l, 0, 1<<20), want)
	if got := fileSize(t, name); got != size {
		t.Fatalf("recovery left %d bytes, want %d", got, size)
	}
}

func TestSyncErrorIsSticky(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	o, f := faultyOpts(t, cfg)
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, build(t, plain(1)))
	f.set(on(errorfs.OpSync, logExt, errorfs.EIO))
	if _, err := l.Append(build(t, plain(1))); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	f.clear()
	if _, err := l.Append(build(t, plain(1))); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after failed fsync: %v", err)
	}
}

func TestRollErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule func(errorfs.Op, string) error
	}{
		{"create segment", on(errorfs.OpOpen, logExt, errorfs.ENOSPC)},
		{"write index", on(errorfs.OpWrite, indexExt, errorfs.ENOSPC)},
		{"snapshot", on(errorfs.OpWrite, snapshotExt+vfs.TempSuffix, errorfs.ENOSPC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 500
			cfg.IndexIntervalBytes = 1
			o, f := faultyOpts(t, cfg)
			l := mustOpen(t, o)
			var want [][]byte
			for range 3 {
				b := build(t, plain(3))
				mustAppend(t, l, b)
				want = append(want, b)
			}
			f.set(tc.rule)
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				b := build(t, plain(3))
				if _, err = l.Append(b); err == nil {
					want = append(want, b)
				} else if tc.name != "create segment" {
					want = append(want, b) // written; durability failed after
				}
			}
			if !errors.Is(err, ErrStorage) {
				t.Fatalf("%v, want ErrStorage", err)
			}
			f.clear()
			if _, err := l.Append(build(t, plain(1))); !errors.Is(err, ErrStorage) {
				t.Fatalf("not sticky: %v", err)
			}
			sameBatches(t, readAll(t, l, 0, 1<<20), want)
			l.Close()
			l = mustOpen(t, o)
			defer l.Close()
			sameBatches(t, readAll(t, l, 0, 1<<20), want)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	o, f := faultyOpts(t, DefaultConfig())
	// An existing directory is listed (a missing one is created, and
	// known to be empty).
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.set(on(errorfs.OpReadDir, "", errorfs.EIO))
	if _, err := Open(o); !errors.Is(err, ErrStorage) {
		t.Fatalf("Open with failing ReadDir: %v", err)
	}
	f.clear()
	l := mustOpen(t, o)
	mustAppend(t, l, build(t, plain(1)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f.set(on(errorfs.OpRead, logExt, errorfs.EIO))
	if _, err := Open(o); !errors.Is(err, ErrStorage) {
		t.Fatalf("Open with failing reads: %v", err)
	}
}

// TestRollDurabilityOrder: the snapshot written at a roll is renamed into
// place only after the previous segment, its indexes and the directory
// were fsynced, which is what makes it a recovery point.
func TestRollDurabilityOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 300
	cfg.IndexIntervalBytes = 1
	o, f := faultyOpts(t, cfg)
	var mu sync.Mutex
	var ops []string
	f.set(func(op errorfs.Op, p string) error {
		mu.Lock()
		ops = append(ops, op.String()+" "+filepath.Base(p))
		mu.Unlock()
		return nil
	})
	l := mustOpen(t, o)
	defer l.Close()
	for range 5 {
		mustAppend(t, l, build(t, plain(3)))
	}
	if l.NumSegments() < 2 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	mu.Lock()
	defer mu.Unlock()
	base := l.segs[1].base
	rename := slices.Index(ops, "rename "+fileName(base, snapshotExt)+vfs.TempSuffix)
	if rename < 0 {
		t.Fatalf("no snapshot at %d: %q", base, ops)
	}
	before := ops[:rename]
	for _, want := range []string{
		"sync " + fileName(0, logExt),
		"sync " + fileName(0, indexExt),
		"sync " + fileName(0, timeIndexExt),
		"syncdir " + filepath.Base(o.Dir),
	} {
		if !slices.Contains(before, want) {
			t.Fatalf("%q missing before the snapshot rename: %q", want, before)
		}
	}
	// And the directory sync comes after the index files were created.
	lastDirSync := -1
	for i, op := range before {
		if op == "syncdir "+filepath.Base(o.Dir) {
			lastDirSync = i
		}
	}
	if lastDirSync < slices.Index(before, "sync "+fileName(0, timeIndexExt)) {
		t.Fatalf("directory synced before the index files were: %q", before)
	}
}
