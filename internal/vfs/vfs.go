// Package vfs is the narrow seam through which sluice does all file I/O.
//
// Production code uses Default, a thin wrapper over the os package. Tests
// wrap an FS (see the errorfs subpackage) to inject failures such as ENOSPC
// or EIO at precise operations, which is how the storage layer's error
// handling is exercised.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// File is an open file. It is the subset of *os.File the storage layer uses.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync commits the file's contents to stable storage (fsync).
	Sync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Stat returns the file's metadata.
	Stat() (fs.FileInfo, error)
	// Name returns the name the file was opened with.
	Name() string
}

// FS is a file system.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs the directory dir so that creates, renames and
	// removes of its entries are durable.
	SyncDir(dir string) error
}

// OSFiler is implemented by files backed by an *os.File (the files of
// Default). Zero-copy senders type-assert a File to it to reach the file
// descriptor; wrappers such as errorfs deliberately do not implement it.
type OSFiler interface {
	OSFile() *os.File
}

// Default is the real operating-system file system.
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// osFile is a File over an *os.File. It forwards the File methods only, so
// that the surface stays exactly the interface's.
type osFile struct{ f *os.File }

func (o osFile) Read(p []byte) (int, error)               { return o.f.Read(p) }
func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) Write(p []byte) (int, error)              { return o.f.Write(p) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Close() error                             { return o.f.Close() }
func (o osFile) Sync() error                              { return o.f.Sync() }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Stat() (fs.FileInfo, error)               { return o.f.Stat() }
func (o osFile) Name() string                             { return o.f.Name() }
func (o osFile) OSFile() *os.File                         { return o.f }
