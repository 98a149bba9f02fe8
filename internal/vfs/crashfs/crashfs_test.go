package crashfs

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

func create(t *testing.T, f *FS, name string, data []byte, sync bool) vfs.File {
	t.Helper()
	h, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func contents(t *testing.T, f *FS, name string) ([]byte, bool) {
	t.Helper()
	h, err := f.OpenFile(name, os.O_RDONLY, 0)
	if vfs.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b, err := io.ReadAll(h)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func TestCrashKeepsOnlyDurableState(t *testing.T) {
	f := New()
	if err := f.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	a := create(t, f, "/d/a", []byte("synced"), true)
	create(t, f, "/d/unsynced-entry", []byte("x"), true) // file synced, entry not yet
	if err := f.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	create(t, f, "/d/late", []byte("late"), true) // entry after the SyncDir
	if _, err := a.Write([]byte("-lost")); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/d/unsynced-entry", "/d/renamed"); err != nil {
		t.Fatal(err)
	}

	c := f.Crash(nil)
	if b, ok := contents(t, c, "/d/a"); !ok || string(b) != "synced" {
		t.Errorf("a after crash = %q, %v; want the synced bytes only", b, ok)
	}
	if _, ok := contents(t, c, "/d/late"); ok {
		t.Error("a file whose directory entry was never synced survived the crash")
	}
	if _, ok := contents(t, c, "/d/renamed"); ok {
		t.Error("a rename that was not made durable survived the crash")
	}
	if b, ok := contents(t, c, "/d/unsynced-entry"); !ok || string(b) != "x" {
		t.Errorf("the old name of an undurable rename = %q, %v; want it back", b, ok)
	}
	// The running FS is unchanged.
	if b, _ := contents(t, f, "/d/a"); string(b) != "synced-lost" {
		t.Errorf("running FS: a = %q", b)
	}
	if err := f.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if _, ok := contents(t, f.Crash(nil), "/d/renamed"); !ok {
		t.Error("a rename made durable by SyncDir was lost")
	}
}

func TestCrashTearsOnlyUnsyncedWrites(t *testing.T) {
	seen := map[int]bool{}
	for seed := range uint64(200) {
		f := New()
		h := create(t, f, "/log", []byte("0123456789"), true)
		if err := f.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"abcde", "fghij", "klmno"} {
			if _, err := h.Write([]byte(w)); err != nil {
				t.Fatal(err)
			}
		}
		b, ok := contents(t, f.Crash(rand.New(rand.NewPCG(seed, 1))), "/log")
		full := "0123456789abcdefghijklmno"
		if !ok || len(b) < 10 || !bytes.Equal(b, []byte(full[:len(b)])) {
			t.Fatalf("seed %d: after crash %q; want a prefix of %q that keeps the synced 10 bytes", seed, b, full)
		}
		seen[len(b)] = true
	}
	if !seen[10] || !seen[25] || len(seen) < 6 {
		t.Errorf("crash lengths seen %v: want the synced prefix, everything and torn lengths between", seen)
	}
}

func TestFileSemantics(t *testing.T) {
	f := New()
	if _, err := f.OpenFile("/missing/x", os.O_RDWR|os.O_CREATE, 0o644); !vfs.IsNotExist(err) {
		t.Errorf("create under a missing directory: %v", err)
	}
	h := create(t, f, "/x", []byte("hello world"), false)
	if err := h.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, err := h.ReadAt(buf, 0)
	if n != 5 || err != io.EOF || string(buf[:n]) != "Jello" {
		t.Errorf("ReadAt = %d %v %q", n, err, buf[:n])
	}
	if fi, err := f.Stat("/x"); err != nil || fi.Size() != 5 || fi.IsDir() {
		t.Errorf("Stat = %v, %v", fi, err)
	}
	if _, err := f.OpenFile("/x", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
		t.Error("O_EXCL on an existing file succeeded")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("x")); err == nil {
		t.Error("write after close succeeded")
	}
	if err := f.Remove("/x"); err != nil {
		t.Fatal(err)
	}
	if es, err := f.ReadDir("/"); err != nil || len(es) != 0 {
		t.Errorf("ReadDir after remove = %v, %v", es, err)
	}
}
