// Package crashfs is an in-memory vfs.FS that simulates power loss, as
// Pebble's vfs.NewCrashableMem does: Crash returns the file system as a
// disk would hold it if the power failed at that instant.
//
// The model, deliberately pessimistic:
//
//   - File contents survive up to the file's last Sync. Writes and
//     truncations after it are kept in order in a pending list; a crash
//     applies a random prefix of that list, and the last write it applies
//     may be torn (only a random prefix of its bytes reaches the disk).
//     With a nil *rand.Rand a crash keeps no pending write at all.
//   - Directory entries (creations, renames, removals) survive only once
//     their directory was synced (SyncDir) after the change. A file whose
//     entry was never made durable is gone after a crash, however often
//     the file itself was synced; a removed or renamed-away name comes back
//     if the removal was not made durable.
//   - Directories made by MkdirAll count as durable at once (sluice creates
//     them only when it creates the files in them and syncs those).
//
// The FS keeps running after Crash: a test takes the crash image while its
// writers go on, then opens what it recovered on the image.
package crashfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// FS is the simulated file system. It is safe for concurrent use.
type FS struct {
	mu   sync.Mutex
	root *node
	now  func() time.Time
}

// node is a file or a directory.
type node struct {
	dir     bool
	mode    fs.FileMode
	modTime time.Time

	// A file's bytes as a reader sees them, the bytes as of its last
	// Sync, and what was done to it since, in order.
	data    []byte
	synced  []byte
	pending []op

	// A directory's entries as they are, and as of its last SyncDir.
	children map[string]*node
	durable  map[string]*node
}

// op is one unsynced change to a file: a write of data at off, or, when
// data is nil, a truncation to off.
type op struct {
	off  int64
	data []byte
}

// New returns an empty file system whose only directory is the root.
func New() *FS {
	return &FS{root: newDir(time.Time{}), now: time.Now}
}

func newDir(t time.Time) *node {
	return &node{dir: true, mode: fs.ModeDir | 0o755, modTime: t, children: map[string]*node{}, durable: map[string]*node{}}
}

var _ vfs.FS = (*FS)(nil)

// split cleans name into its path elements below the root.
func split(name string) []string {
	c := filepath.Clean("/" + name)
	if c == "/" {
		return nil
	}
	return strings.Split(c[1:], "/")
}

// lookupLocked finds the directory holding name's last element and that
// element. The directory is nil if a parent is missing or not a directory.
func (f *FS) lookupLocked(name string) (parent *node, base string, n *node) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", f.root
	}
	d := f.root
	for _, p := range parts[:len(parts)-1] {
		c := d.children[p]
		if c == nil || !c.dir {
			return nil, "", nil
		}
		d = c
	}
	base = parts[len(parts)-1]
	return d, base, d.children[base]
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// OpenFile opens name with os.OpenFile's flags (O_RDONLY, O_WRONLY, O_RDWR,
// O_CREATE, O_EXCL, O_TRUNC, O_APPEND).
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, base, n := f.lookupLocked(name)
	if parent == nil && n == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case n != nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, fs.ErrExist)
	case n == nil:
		n = &node{mode: perm, modTime: f.now()}
		parent.children[base] = n
	case n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if flag&os.O_TRUNC != 0 && !n.dir {
		n.truncateLocked(0)
	}
	return &file{fs: f, n: n, name: name, flag: flag}, nil
}

// Remove removes the file or empty directory name.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, base, n := f.lookupLocked(name)
	if n == nil || parent == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir && len(n.children) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.children, base)
	return nil
}

// RemoveAll removes name and everything below it; a missing name is no
// error.
func (f *FS) RemoveAll(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, base, n := f.lookupLocked(name)
	if n != nil && parent != nil {
		delete(parent.children, base)
	}
	return nil
}

// Rename moves oldpath to newpath, replacing a file there.
func (f *FS) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldParent, obase, n := f.lookupLocked(oldpath)
	if n == nil || oldParent == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	np, nbase, existing := f.lookupLocked(newpath)
	if np == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if existing != nil && existing.dir && (!n.dir || len(existing.children) > 0) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
	}
	delete(oldParent.children, obase)
	np.children[nbase] = n
	return nil
}

// MkdirAll creates name and its missing parents; see the package comment
// for their durability.
func (f *FS) MkdirAll(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.root
	for _, p := range split(name) {
		c := d.children[p]
		if c == nil {
			c = newDir(f.now())
			c.mode = fs.ModeDir | perm.Perm()
			d.children[p] = c
			d.durable[p] = c
		} else if !c.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		d = c
	}
	return nil
}

// ReadDir lists name's entries sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _, n := f.lookupLocked(name)
	if n == nil {
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	if !n.dir {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	out := make([]fs.DirEntry, 0, len(n.children))
	for base, c := range n.children {
		out = append(out, fs.FileInfoToDirEntry(c.info(base)))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat describes name.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _, n := f.lookupLocked(name)
	if n == nil {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	return n.info(filepath.Base(name)), nil
}

// SyncDir makes dir's current entries durable.
func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _, n := f.lookupLocked(dir)
	if n == nil {
		return pathErr("sync", dir, fs.ErrNotExist)
	}
	if !n.dir {
		return pathErr("sync", dir, syscall.ENOTDIR)
	}
	n.durable = cloneMap(n.children)
	return nil
}

// Crash returns the file system a power loss at this instant would leave:
// durable directory entries only, each file as of its last Sync plus, when
// rng is not nil, a random prefix of its later changes with the last one
// possibly torn. f itself is unchanged and goes on.
func (f *FS) Crash(rng *rand.Rand) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	copies := map[*node]*node{}
	return &FS{root: f.root.crashCopy(rng, copies), now: f.now}
}

// crashCopy copies n as it would survive a crash. copies maps each node
// already copied, so a file reachable under two durable names (a rename not
// yet made durable in one of its directories) stays one file.
func (n *node) crashCopy(rng *rand.Rand, copies map[*node]*node) *node {
	if c, ok := copies[n]; ok {
		return c
	}
	c := &node{dir: n.dir, mode: n.mode, modTime: n.modTime}
	copies[n] = c
	if n.dir {
		c.children = make(map[string]*node, len(n.durable))
		for k, v := range n.durable {
			c.children[k] = v.crashCopy(rng, copies)
		}
		c.durable = cloneMap(c.children)
		return c
	}
	c.data = slices.Clone(n.synced)
	if rng != nil && len(n.pending) > 0 {
		keep := rng.IntN(len(n.pending) + 1)
		for i, o := range n.pending[:keep] {
			if i == keep-1 && o.data != nil && rng.IntN(2) == 0 {
				o.data = o.data[:rng.IntN(len(o.data)+1)] // torn
			}
			c.data = apply(c.data, o)
		}
	}
	c.synced = slices.Clone(c.data)
	return c
}

func cloneMap(m map[string]*node) map[string]*node {
	out := make(map[string]*node, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// apply does o to data and returns the result.
func apply(data []byte, o op) []byte {
	if o.data == nil {
		if o.off <= int64(len(data)) {
			return data[:o.off]
		}
		return append(data, make([]byte, o.off-int64(len(data)))...)
	}
	end := o.off + int64(len(o.data))
	if end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[o.off:], o.data)
	return data
}

func (n *node) writeLocked(off int64, p []byte) {
	o := op{off: off, data: slices.Clone(p)}
	n.data = apply(n.data, o)
	n.pending = append(n.pending, o)
}

func (n *node) truncateLocked(size int64) {
	o := op{off: size}
	n.data = apply(n.data, o)
	n.pending = append(n.pending, o)
}

func (n *node) info(name string) fs.FileInfo {
	return fileInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.modTime }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// file is an open file of an FS.
type file struct {
	fs     *FS
	n      *node
	name   string
	flag   int
	off    int64
	closed bool
}

// ErrClosed is returned by operations on a closed file.
var ErrClosed = errors.New("crashfs: file already closed")

func (h *file) check(write bool) error {
	if h.closed {
		return ErrClosed
	}
	if h.n.dir {
		return syscall.EISDIR
	}
	if write && h.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return syscall.EBADF
	}
	if !write && h.flag&os.O_WRONLY != 0 {
		return syscall.EBADF
	}
	return nil
}

func (h *file) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	n, err := h.readAtLocked(p, h.off)
	h.off += int64(n)
	return n, err
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	if off < 0 {
		return 0, pathErr("read", h.name, syscall.EINVAL)
	}
	return h.readAtLocked(p, off)
}

func (h *file) readAtLocked(p []byte, off int64) (int, error) {
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(true); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	if h.flag&os.O_APPEND != 0 {
		h.off = int64(len(h.n.data))
	}
	h.n.writeLocked(h.off, p)
	h.off += int64(len(p))
	return len(p), nil
}

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(true); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	if off < 0 || h.flag&os.O_APPEND != 0 {
		return 0, pathErr("write", h.name, syscall.EINVAL)
	}
	h.n.writeLocked(off, p)
	return len(p), nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("close", h.name, ErrClosed)
	}
	h.closed = true
	return nil
}

// Sync makes the file's contents durable: what a reader sees now survives
// a crash (its directory entry still needs SyncDir).
func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("sync", h.name, ErrClosed)
	}
	h.n.synced = slices.Clone(h.n.data)
	h.n.pending = nil
	return nil
}

func (h *file) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(true); err != nil {
		return pathErr("truncate", h.name, err)
	}
	if size < 0 {
		return pathErr("truncate", h.name, syscall.EINVAL)
	}
	h.n.truncateLocked(size)
	return nil
}

func (h *file) Stat() (fs.FileInfo, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return nil, pathErr("stat", h.name, ErrClosed)
	}
	return h.n.info(filepath.Base(h.name)), nil
}

func (h *file) Name() string { return h.name }
