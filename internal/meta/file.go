package meta

// All file-system access of the package lives here and goes through the
// vfs seam, so that tests can inject failures (errorfs) and power loss
// (crashfs).

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-io/sluice/internal/vfs"
)

// readFile reads a whole file; a missing file is reported with found false.
func readFile(fsys vfs.FS, path string) (data []byte, found bool, err error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if vfs.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err = io.ReadAll(f)
	return data, err == nil, err
}

// writeFileAtomic replaces dir/name with data so that a crash at any point
// leaves either the old or the new file (vfs.WriteFileAtomic: write a
// temporary file, fsync it, rename it over dir/name, fsync dir). The file
// is readable by its owner only: it may hold credentials.
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	return vfs.WriteFileAtomic(fsys, filepath.Join(dir, name), data, 0o600)
}

// removeTempFiles deletes the temporary files an interrupted writeFileAtomic
// leaves behind (name+vfs.TempSuffix, and name+".tmp-*" of older versions,
// which wrote randomly named temporary files), returning their paths. The
// removals are made durable so that the files do not come back.
func removeTempFiles(fsys vfs.FS, dir, name string) ([]string, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), name+vfs.TempSuffix) {
			p := filepath.Join(dir, e.Name())
			if err := fsys.Remove(p); err != nil {
				return removed, err
			}
			removed = append(removed, p)
		}
	}
	if len(removed) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func mkdirAll(fsys vfs.FS, dir string) error { return fsys.MkdirAll(dir, 0o755) }
