package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TempSuffix is appended to a path to name the temporary file that
// WriteFileAtomic writes before renaming it into place. Directory scanners
// may delete leftovers carrying it.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces path with data so that after a crash the file
// holds either its old contents or data, never a mix: it writes
// path+TempSuffix, fsyncs it, renames it over path and fsyncs the parent
// directory.
func WriteFileAtomic(fsys FS, path string, data []byte, perm fs.FileMode) (err error) {
	tmp := path + TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("vfs: create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			_ = fsys.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("vfs: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("vfs: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vfs: close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("vfs: rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("vfs: sync dir of %s: %w", path, err)
	}
	return nil
}

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
