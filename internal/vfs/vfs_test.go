package vfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultFS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := Default.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "f")
	f, err := Default.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("W"), 6); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := f.ReadAt(b, 6); err != nil || string(b) != "World" {
		t.Fatalf("ReadAt: %q %v", b, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 5 {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if f.Name() != name {
		t.Fatalf("Name %q", f.Name())
	}
	osf, ok := f.(OSFiler)
	if !ok || osf.OSFile() == nil {
		t.Fatal("Default files do not expose their *os.File")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(b, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
	if err := Default.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := Default.Rename(name, name+"2"); err != nil {
		t.Fatal(err)
	}
	ents, err := Default.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "f2" {
		t.Fatalf("ReadDir: %v %v", ents, err)
	}
	if _, err := Default.Stat(name); !IsNotExist(err) {
		t.Fatalf("Stat of renamed file: %v", err)
	}
	if err := Default.Remove(name + "2"); err != nil {
		t.Fatal(err)
	}
	if err := Default.RemoveAll(filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := Default.OpenFile(name, os.O_RDONLY, 0); !IsNotExist(err) {
		t.Fatalf("open of missing file: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second, longer", ""} {
		if err := WriteFileAtomic(Default, name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(got, []byte(content)) {
			t.Fatalf("got %q %v, want %q", got, err, content)
		}
	}
	if _, err := os.Stat(name + TempSuffix); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	// A failure leaves the old content and no temporary file.
	if err := WriteFileAtomic(Default, filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	var _ io.Reader = File(nil)
}
