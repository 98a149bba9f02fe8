package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// File names inside a partition directory; see doc.go.
const (
	logExt            = ".log"
	indexExt          = ".index"
	timeIndexExt      = ".timeindex"
	snapshotExt       = ".snapshot"
	cleanShutdownFile = ".clean_shutdown"
)

// fileName is the name of a file for base offset base: 20 zero-padded
// decimal digits and ext.
func fileName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// parseFileName returns the offset a file name of the form fileName(_, ext)
// carries.
func parseFileName(name, ext string) (int64, bool) {
	if len(name) != 20+len(ext) || name[20:] != ext {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name[:20], 10, 64)
	return n, err == nil
}

// segment is one .log file and its indexes.
type segment struct {
	fs   vfs.FS
	base int64
	path string // directory and base name, without extension
	log  vfs.File

	// size is the number of bytes of complete batches; the file is never
	// read past it. Written under Log.mu.
	size atomic.Int64

	// Guarded by Log.mu. next never changes once the segment is inactive.
	next    int64     // offset after the segment's last batch
	created time.Time // first append (or Open), for segment.ms
	dirty   bool      // appended to since its last fsync

	// trustFrom: bytes from here on were written by this process or
	// CRC-checked by recovery; verify records the checks of the bytes
	// before it (see verify.go).
	trustFrom atomic.Int64
	verify    verifyState

	// refs counts the holders of the open file: the log while the segment
	// is in its list or waits out file.delete.delay.ms after leaving it,
	// plus every reader using the file outside Log.mu (ReadResults, the
	// cleaner, the scrubber, flushes). The last release closes the file,
	// so a deleted segment's disk space is freed as soon as its last
	// reader is done (see pin and release).
	refs atomic.Int64

	persistMu sync.Mutex // serialises persistIndexes
	// retired: the segment left the log (deleted or replaced by a cleaned
	// copy) and its index files are no longer its own. Set under persistMu.
	retired bool

	mu         sync.RWMutex // guards the fields below
	loaded     bool         // ix.idx and ix.tidx are in memory
	ix         indexer
	idxOnDisk  int  // bytes of ix.idx already in the .index file
	tidxOnDisk int  // bytes of ix.tidx already in the .timeindex file
	rewrite    bool // the index files are stale: rewrite them whole
}

func newSegment(fsys vfs.FS, dir string, base int64, f vfs.File) *segment {
	s := &segment{
		fs:     fsys,
		base:   base,
		path:   filepath.Join(dir, fileName(base, "")),
		log:    f,
		next:   base,
		ix:     newIndexer(),
		loaded: true,
	}
	s.refs.Store(1) // the log's
	return s
}

// pin takes a reference to the segment's file for a reader that uses it
// outside Log.mu. The caller holds Log.mu (read or write) and found s in
// the segment list, or holds a reference already, so the log's reference
// is still there and the file open.
func (s *segment) pin() { s.refs.Add(1) }

// release drops a reference; the last one closes the file.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.log.Close() // read-only by now: nothing to lose
	}
}

// createSegment creates an empty segment starting at base.
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, fileName(base, logExt)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return newSegment(fsys, dir, base, f), nil
}

// openSegment opens an existing segment file; its indexes are not loaded
// and its size is the file's.
func openSegment(fsys vfs.FS, dir string, base int64) (*segment, int64, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, fileName(base, logExt)), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	s := newSegment(fsys, dir, base, f)
	s.loaded = false
	s.trustFrom.Store(fi.Size())
	return s, fi.Size(), nil
}

func (s *segment) name() string { return filepath.Base(s.path) + logExt }

// setIndexes installs indexes built by a scan; they replace whatever the
// files hold.
func (s *segment) setIndexes(ix indexer) {
	s.mu.Lock()
	s.ix, s.loaded, s.rewrite = ix, true, true
	s.idxOnDisk, s.tidxOnDisk = 0, 0
	s.mu.Unlock()
}

// appended records a batch written at pos. Called under Log.mu.
func (s *segment) appended(h *BatchHeader, pos int64, interval int32, now time.Time) {
	s.mu.Lock()
	s.ix.add(s.base, h, pos, interval)
	s.mu.Unlock()
	if pos == 0 {
		s.created = now
	}
	s.next = h.LastOffset() + 1
	s.dirty = true
	s.size.Store(pos + int64(h.Size()))
}

// indexFull reports whether either index reached maxBytes. Called under
// Log.mu on the active segment, whose indexes only Log.mu writers change.
func (s *segment) indexFull(maxBytes int32) bool {
	maxOffsetEntries := max(int(maxBytes)/offsetEntrySize, 1)
	maxTimeEntries := max(int(maxBytes)/timeEntrySize, 1)
	return offsetEntries(s.ix.idx) >= maxOffsetEntries || timeEntries(s.ix.tidx) >= maxTimeEntries
}

// finish adds the final time index entry of a segment that stops being
// active.
func (s *segment) finish() {
	s.mu.Lock()
	if s.loaded {
		s.ix.maybeAppendTime(s.base)
	}
	s.mu.Unlock()
}

// persistIndexes appends the index entries not yet on disk to the index
// files (rewriting them whole if they are stale), creating them if needed,
// and fsyncs them if sync is set. The in-memory entries are only appended
// to, so the file I/O runs without holding s.mu.
func (s *segment) persistIndexes(sync bool) error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	if s.retired {
		return nil
	}
	s.mu.RLock()
	loaded, rewrite := s.loaded, s.rewrite
	idx, tidx, idxFrom, tidxFrom := s.ix.idx, s.ix.tidx, s.idxOnDisk, s.tidxOnDisk
	s.mu.RUnlock()
	if !loaded {
		return nil // nothing in memory that the files lack
	}
	flag := os.O_WRONLY | os.O_CREATE
	if rewrite {
		flag |= os.O_TRUNC
	}
	if err := appendToFile(s.fs, s.path+indexExt, flag, idx, idxFrom, sync); err != nil {
		return err
	}
	if err := appendToFile(s.fs, s.path+timeIndexExt, flag, tidx, tidxFrom, sync); err != nil {
		return err
	}
	s.mu.Lock()
	if s.rewrite == rewrite { // not reset by setIndexes meanwhile
		s.idxOnDisk, s.tidxOnDisk, s.rewrite = len(idx), len(tidx), false
	}
	s.mu.Unlock()
	return nil
}

// appendToFile writes data[from:] at offset from of the named file.
func appendToFile(fsys vfs.FS, name string, flag int, data []byte, from int, sync bool) error {
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		return err
	}
	if from < len(data) {
		if _, err := f.WriteAt(data[from:], int64(from)); err != nil {
			f.Close()
			return err
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// readFile returns the whole content of the named file.
func readFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// ensureLoaded brings an inactive segment's indexes into memory, rebuilding
// them from the .log (and rewriting the files) when they are missing or
// malformed.
func (s *segment) ensureLoaded(logger *slog.Logger, interval int32) error {
	s.mu.RLock()
	ok := s.loaded
	s.mu.RUnlock()
	if ok {
		return nil
	}
	rebuilt, err := s.load(logger, interval)
	if err != nil || !rebuilt {
		return err
	}
	if err := s.persistIndexes(false); err != nil {
		logger.Warn("writing rebuilt indexes", "segment", s.name(), "error", err)
	}
	return nil
}

// load reads the index files, or rebuilds the indexes, reporting which.
func (s *segment) load(logger *slog.Logger, interval int32) (rebuilt bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return false, nil
	}
	size, relEnd := s.size.Load(), s.next-s.base
	idx, err := readFile(s.fs, s.path+indexExt)
	if err == nil {
		err = checkOffsetIndex(idx, size, relEnd)
	}
	var tidx []byte
	if err == nil {
		if tidx, err = readFile(s.fs, s.path+timeIndexExt); err == nil {
			err = checkTimeIndex(tidx, relEnd)
		}
	}
	if err == nil {
		s.ix.idx, s.ix.tidx = idx, tidx
		s.idxOnDisk, s.tidxOnDisk = len(idx), len(tidx)
		s.loaded = true
		return false, nil
	}
	logger.Warn("rebuilding segment indexes", "segment", s.name(), "reason", err)
	ix, err := buildIndexes(s.log, s.base, size, interval)
	if err != nil {
		return false, err
	}
	s.ix, s.loaded, s.rewrite = ix, true, true
	s.idxOnDisk, s.tidxOnDisk = 0, 0
	return true, nil
}

// buildIndexes scans the headers of a segment's first size bytes and builds
// its indexes.
func buildIndexes(f vfs.File, base, size int64, interval int32) (indexer, error) {
	ix := newIndexer()
	r := windowReader{f: f, limit: size, buf: recoverBuf(min(size, 256<<10))}
	_, _, err := scanBatches(&r, 0, base, false, func(h *BatchHeader, pos int64) {
		ix.add(base, h, pos, interval)
	})
	if err != nil {
		return ix, fmt.Errorf("building indexes of %s: %w", fileName(base, logExt), err)
	}
	ix.maybeAppendTime(base)
	return ix, nil
}

// lookupOffset returns the index entry at or before offset off: the offset
// and position of a batch from which to scan.
func (s *segment) lookupOffset(off int64) (int64, int64) {
	s.mu.RLock()
	rel, pos := floorOffset(s.ix.idx, uint32(off-s.base))
	s.mu.RUnlock()
	return s.base + int64(rel), int64(pos)
}

// lookupPosition returns the index entry with the largest position <= pos.
func (s *segment) lookupPosition(pos int64) (int64, int64) {
	s.mu.RLock()
	rel, p := floorPosition(s.ix.idx, uint32(min(pos, 1<<32-1)))
	s.mu.RUnlock()
	return s.base + int64(rel), int64(p)
}

// lookupTime returns the base offset of a batch such that every record
// before it has a timestamp below ts (or the segment base).
func (s *segment) lookupTime(ts int64) int64 {
	s.mu.RLock()
	rel := floorTime(s.ix.tidx, ts)
	s.mu.RUnlock()
	return s.base + int64(rel)
}

// maxTimestamp returns the segment's largest batch timestamp and the base
// offset of the first batch carrying it; (noTimestamp, -1) if empty.
func (s *segment) maxTimestamp() (int64, int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ix.maxTs, s.ix.maxTsOffset
}

// indexesPending reports whether the in-memory indexes hold entries the
// files may lack.
func (s *segment) indexesPending() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loaded && (s.rewrite || s.idxOnDisk != len(s.ix.idx) || s.tidxOnDisk != len(s.ix.tidx))
}

// resumeIndexing sets up a recovered active segment to continue indexing as
// if it had never stopped: the bytes since the last index entry count
// towards the next one.
func (s *segment) resumeIndexing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := int64(0)
	if n := offsetEntries(s.ix.idx); n > 0 {
		_, pos := offsetEntry(s.ix.idx, n-1)
		last = int64(pos)
	}
	s.ix.bytesSinceEntry = s.size.Load() - last
}
