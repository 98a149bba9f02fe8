package errorfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

func TestInjection(t *testing.T) {
	dir := t.TempDir()
	var (
		fail   *Op
		inject = ENOSPC
	)
	fsys := New(vfs.Default, func(op Op, path string) error {
		if fail != nil && *fail == op && strings.HasPrefix(path, dir) {
			return inject
		}
		return nil
	})
	set := func(op Op) { fail = &op }
	name := filepath.Join(dir, "f")

	set(OpOpen)
	if _, e := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(e, syscall.ENOSPC) {
		t.Fatalf("open: %v", e)
	}
	fail = nil
	f, e := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if e != nil {
		t.Fatal(e)
	}
	if _, ok := f.(vfs.OSFiler); ok {
		t.Fatal("errorfs files must not expose the *os.File")
	}
	if _, e := f.Write([]byte("0123")); e != nil {
		t.Fatal(e)
	}

	set(OpWrite)
	if n, e := f.WriteAt([]byte("abcd"), 4); n != 0 || !errors.Is(e, syscall.ENOSPC) {
		t.Fatalf("write: %d %v", n, e)
	}
	inject = &ShortWrite{Err: EIO}
	if n, e := f.WriteAt([]byte("abcd"), 4); n != 2 || !errors.Is(e, syscall.EIO) {
		t.Fatalf("short write: %d %v", n, e)
	}
	if n, e := f.Write([]byte("wxyz")); n != 2 || !errors.Is(e, syscall.EIO) {
		t.Fatalf("short Write: %d %v", n, e)
	}
	fail = nil
	// WriteAt stored "ab" at 4, then Write "wx" at the file offset, 4.
	if got, _ := os.ReadFile(name); string(got) != "0123wx" {
		t.Fatalf("torn writes left %q", got)
	}

	inject = EIO
	for _, tc := range []struct {
		op  Op
		run func() error
	}{
		{OpRead, func() error { _, e := f.ReadAt(make([]byte, 1), 0); return e }},
		{OpRead, func() error { _, e := f.Read(make([]byte, 1)); return e }},
		{OpSync, f.Sync},
		{OpTruncate, func() error { return f.Truncate(0) }},
		{OpStat, func() error { _, e := f.Stat(); return e }},
		{OpMkdirAll, func() error { return fsys.MkdirAll(filepath.Join(dir, "d"), 0o755) }},
		{OpReadDir, func() error { _, e := fsys.ReadDir(dir); return e }},
		{OpSyncDir, func() error { return fsys.SyncDir(dir) }},
		{OpRemoveAll, func() error { return fsys.RemoveAll(filepath.Join(dir, "nothing")) }},
		{OpStat, func() error { _, e := fsys.Stat(name); return e }},
		{OpRename, func() error { return fsys.Rename(name, name+"x") }},
		{OpRemove, func() error { return fsys.Remove(name) }},
	} {
		set(tc.op)
		if e := tc.run(); !errors.Is(e, syscall.EIO) {
			t.Fatalf("%v: %v", tc.op, e)
		}
		fail = nil
		if e := tc.run(); e != nil && e != io.EOF && tc.op != OpRename && tc.op != OpRemove {
			t.Fatalf("%v without injection: %v", tc.op, e)
		}
	}
	set(OpClose)
	if e := f.Close(); !errors.Is(e, syscall.EIO) {
		t.Fatalf("close: %v", e)
	}
	if OpSyncDir.String() != "syncdir" || Op(99).String() != "Op(99)" {
		t.Fatal("Op names")
	}
}
