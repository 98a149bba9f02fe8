package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSpaceGuardCountsBytesAboutToBeWritten: within one statfs interval a
// fast producer is refused before its writes take the disk below the
// floor; the guard counts the bytes it admits, not just the cached
// statfs result.
func TestSpaceGuardCountsBytesAboutToBeWritten(t *testing.T) {
	clk := newClock()
	o := testOpts(t, DefaultConfig())
	o.Now = clk.Now
	const (
		disk  = 8 << 20 // free before the first append
		floor = 2 << 20
	)
	// A disk whose free space shrinks by what the log files hold.
	used := func() int64 {
		var n int64
		logs, _ := filepath.Glob(filepath.Join(o.Dir, "*"+logExt))
		for _, p := range logs {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	freed := int64(0)
	o.Space = NewSpaceGuard(o.Dir, floor)
	o.Space.SetStatfs(func(string) (int64, error) { return disk - used() + freed, nil })
	l := mustOpen(t, o)
	defer l.Close()
	s := plain(1)
	s.valueSize = 256 << 10
	appended := 0
	for range 40 { // 10 MiB at the same instant: more than the disk holds
		_, err := l.Append(build(t, s))
		if err != nil {
			if !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrStorage) {
				t.Fatalf("append: %v", err)
			}
			continue
		}
		appended++
		if free := disk - used(); free < floor {
			t.Fatalf("after %d appends %d bytes free, below the floor of %d", appended, free, floor)
		}
	}
	// The estimate is exact here: every byte above the floor was usable.
	if want := (disk - floor) / (256<<10 + 100); appended < int(want) {
		t.Fatalf("%d appends admitted, want about %d", appended, want)
	}
	// Space freed (retention) within the statfs interval is seen at once:
	// the guard looks again before refusing.
	freed = 4 << 20
	mustAppend(t, l, build(t, s))
}

func TestDefaultMinFree(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{100 << 20, 5 << 20},
		{10 << 30, 512 << 20},
		{1 << 40, 1 << 30},
	} {
		if got := minFreeFor(c.size); got < c.want-1<<20 || got > c.want+1<<20 {
			t.Errorf("file system of %d bytes: floor %d, want about %d", c.size, got, c.want)
		}
	}
	if got := DefaultMinFree(t.TempDir()); got <= 0 || got > 1<<30 {
		t.Errorf("DefaultMinFree of a temp dir: %d", got)
	}
}
