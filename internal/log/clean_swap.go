package log

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Crash safety, one segment at a time (X is its 20-digit base):
//
//  1. X.log.cleaned, X.index.cleaned, X.timeindex.cleaned are written and
//     fsynced.
//  2. The two index files, then the log, are renamed to the .swap suffix
//     and the directory fsynced: X.log.swap existing is the commit point.
//  3. The two .swap indexes, then X.log.swap, are renamed over X's files
//     and the directory fsynced.
//
// Open removes every .cleaned file (an unfinished clean), completes step 3
// for every X.log.swap whose X.log exists, removes an X.log.swap whose X.log
// does not (the segment was deleted by retention meanwhile) and removes
// index .swap files without their log. Either way the log holds exactly the
// old or exactly the new segment: no newest value lost, no offset twice.
//
// Readers holding the old segment keep reading its open file (its name now
// belongs to the new one); it is closed when the last of them releases it
// (segment.refs).

// swapIn is step 3: it replaces s by the committed cleaned copy (file f,
// built by sw), unless s left the log meanwhile.
func (l *Log) swapIn(s *segment, f vfs.File, sw *segmentWriter, now time.Time) error {
	path := s.path
	removeSwaps := func() {
		f.Close()
		for _, ext := range []string{logExt, indexExt, timeIndexExt} {
			if err := l.fs.Remove(path + ext + swapSuffix); err != nil && !vfs.IsNotExist(err) {
				l.logger.Warn("removing swap file", "file", filepath.Base(path+ext+swapSuffix), "error", err)
			}
		}
	}
	if err := l.cleanHook("swap"); err != nil {
		return err
	}
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	l.mu.RLock()
	closed, i := l.closed, slices.Index(l.segs, s)
	l.mu.RUnlock()
	if closed || i < 0 {
		removeSwaps()
		if closed {
			return ErrClosed
		}
		return nil
	}
	s.persistMu.Lock()
	s.retired = true
	s.persistMu.Unlock()
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if ext == logExt {
			if err := l.cleanHook("index"); err != nil {
				return err
			}
		}
		if err := l.fs.Rename(path+ext+swapSuffix, path+ext); err != nil {
			f.Close()
			return l.fail(fmt.Errorf("swapping in cleaned %s: %w", filepath.Base(path+ext), err))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	ns := newSegment(l.fs, l.dir, s.base, f)
	ns.size.Store(sw.pos)
	ns.next, ns.created = s.next, s.created
	ns.ix = sw.ix
	ns.idxOnDisk, ns.tidxOnDisk = len(sw.ix.idx), len(sw.ix.tidx)
	l.mu.Lock()
	l.segs[i] = ns
	l.mu.Unlock()
	return l.retire(s, now, false)
}

// cleanHook lets tests stop a clean at a stage, as a crash would.
func (l *Log) cleanHook(stage string) error {
	if h := l.lc.testHook; h != nil {
		return h(stage)
	}
	return nil
}

// completeSwaps finishes or undoes the swaps a crash interrupted (see
// above). names is the directory's content.
func (l *Log) completeSwaps(names map[string]bool) error {
	done := map[int64]bool{}
	for name := range names {
		stem, ok := strings.CutSuffix(name, swapSuffix)
		if !ok {
			continue
		}
		base, ok := parseFileName(stem, logExt)
		if !ok {
			continue
		}
		done[base] = true
		if !names[stem] {
			l.logger.Warn("removing cleaned copy of a deleted segment", "file", name)
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				l.removeFile(fileName(base, ext)+swapSuffix, "")
			}
			continue
		}
		l.logger.Info("completing interrupted swap of a cleaned segment", "segment", stem)
		for _, ext := range []string{indexExt, timeIndexExt, logExt} {
			from := filepath.Join(l.dir, fileName(base, ext)+swapSuffix)
			if ext != logExt && !names[filepath.Base(from)] {
				// Already moved, or missing: recovery rebuilds
				// an index that does not match.
				continue
			}
			if err := l.fs.Rename(from, filepath.Join(l.dir, fileName(base, ext))); err != nil {
				return storageErr(err)
			}
		}
		l.dirDirty = true
	}
	for name := range names {
		stem, ok := strings.CutSuffix(name, swapSuffix)
		if !ok {
			continue
		}
		b, isIdx := parseFileName(stem, indexExt)
		if !isIdx {
			b, isIdx = parseFileName(stem, timeIndexExt)
		}
		if isIdx && !done[b] {
			l.removeFile(name, "index swap file without its segment")
		}
	}
	return nil
}

// fileWriter adapts a vfs.File to io.Writer.
type fileWriter struct{ f vfs.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }
