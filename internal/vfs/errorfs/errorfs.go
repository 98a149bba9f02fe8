// Package errorfs wraps a vfs.FS so tests can make chosen operations fail.
//
// Every operation first asks an inject function, passing the operation and
// the path involved; a non-nil answer makes the operation fail with that
// error without reaching the inner file system. A *ShortWrite answer to an
// OpWrite writes the first half of the buffer through and then fails, which
// simulates a torn write.
package errorfs

import (
	"fmt"
	"io/fs"
	"syscall"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Op names a file-system operation.
type Op int

// The operations that can be failed.
const (
	OpOpen Op = iota
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpStat
	OpClose
	OpRemove
	OpRemoveAll
	OpRename
	OpMkdirAll
	OpReadDir
	OpSyncDir
)

var opNames = [...]string{"open", "read", "write", "sync", "truncate", "stat", "close",
	"remove", "removeall", "rename", "mkdirall", "readdir", "syncdir"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Common injected errors.
var (
	ENOSPC error = syscall.ENOSPC
	EIO    error = syscall.EIO
)

// ShortWrite, returned by an inject function for OpWrite, makes the write
// store half of its buffer and then fail with Err. For other operations it
// fails like Err.
type ShortWrite struct{ Err error }

func (s *ShortWrite) Error() string { return "short write: " + s.Err.Error() }
func (s *ShortWrite) Unwrap() error { return s.Err }

// New returns an FS that consults inject before each operation on inner.
func New(inner vfs.FS, inject func(op Op, path string) error) vfs.FS {
	return &errFS{inner: inner, inject: inject}
}

type errFS struct {
	inner  vfs.FS
	inject func(Op, string) error
}

// check returns the error to fail op with, unwrapping a ShortWrite marker.
func (e *errFS) check(op Op, path string) error {
	err := e.inject(op, path)
	if sw, ok := err.(*ShortWrite); ok {
		return sw.Err
	}
	return err
}

func (e *errFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := e.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errFile{fs: e, f: f, name: name}, nil
}

func (e *errFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return e.inner.Remove(name)
}

func (e *errFS) RemoveAll(path string) error {
	if err := e.check(OpRemoveAll, path); err != nil {
		return &fs.PathError{Op: "removeall", Path: path, Err: err}
	}
	return e.inner.RemoveAll(path)
}

func (e *errFS) Rename(oldpath, newpath string) error {
	if err := e.check(OpRename, oldpath); err != nil {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: err}
	}
	return e.inner.Rename(oldpath, newpath)
}

func (e *errFS) MkdirAll(path string, perm fs.FileMode) error {
	if err := e.check(OpMkdirAll, path); err != nil {
		return &fs.PathError{Op: "mkdirall", Path: path, Err: err}
	}
	return e.inner.MkdirAll(path, perm)
}

func (e *errFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := e.check(OpReadDir, name); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return e.inner.ReadDir(name)
}

func (e *errFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return e.inner.Stat(name)
}

func (e *errFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	return e.inner.SyncDir(dir)
}

// errFile is a vfs.File whose operations consult the owning errFS. It does
// not implement vfs.OSFiler, so nothing can bypass the injection.
type errFile struct {
	fs   *errFS
	f    vfs.File
	name string
}

func (f *errFile) fail(op Op, what string) error {
	if err := f.fs.check(op, f.name); err != nil {
		return &fs.PathError{Op: what, Path: f.name, Err: err}
	}
	return nil
}

func (f *errFile) Read(p []byte) (int, error) {
	if err := f.fail(OpRead, "read"); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fail(OpRead, "read"); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

// writeErr reports how much of an n-byte write to let through before
// failing: all of it and nil, or a prefix and the injected error.
func (f *errFile) writeErr(n int) (int, error) {
	err := f.fs.inject(OpWrite, f.name)
	if err == nil {
		return n, nil
	}
	if sw, ok := err.(*ShortWrite); ok {
		return n / 2, &fs.PathError{Op: "write", Path: f.name, Err: sw.Err}
	}
	return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
}

func (f *errFile) Write(p []byte) (int, error) {
	allow, err := f.writeErr(len(p))
	if err == nil {
		return f.f.Write(p)
	}
	n, werr := f.f.Write(p[:allow])
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *errFile) WriteAt(p []byte, off int64) (int, error) {
	allow, err := f.writeErr(len(p))
	if err == nil {
		return f.f.WriteAt(p, off)
	}
	n, werr := f.f.WriteAt(p[:allow], off)
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *errFile) Close() error {
	if err := f.fail(OpClose, "close"); err != nil {
		f.f.Close()
		return err
	}
	return f.f.Close()
}

func (f *errFile) Sync() error {
	if err := f.fail(OpSync, "sync"); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errFile) Truncate(size int64) error {
	if err := f.fail(OpTruncate, "truncate"); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errFile) Stat() (fs.FileInfo, error) {
	if err := f.fail(OpStat, "stat"); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *errFile) Name() string { return f.f.Name() }
