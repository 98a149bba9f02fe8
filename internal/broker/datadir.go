package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Damage to the data directory's own files (#12). The broker never deletes
// data at start-up because something looks wrong: it refuses to start with
// an error naming the file, or keeps the data aside and says so.
//
//   - meta.json missing while partition directories exist: start-up fails
//     with ErrMissingMetadata; `sluice recover-metadata` rebuilds the file
//     from the directories' partition.metadata files.
//   - A partition directory no topic owns (a topic deletion interrupted by
//     a crash, or a directory of a topic whose id changed): renamed to
//     <dir>.stale-<unix ms> and kept, never removed; the operator deletes it.
//   - partition.metadata naming another topic id: the directory is moved
//     aside the same way and the partition starts empty.
//   - partition.metadata unreadable (garbage, truncated, empty): start-up
//     fails with ErrDamagedPartitionMetadata naming the file.
//   - partition.metadata missing: the directory is adopted and the file
//     written; it is written only when it is missing or differs, so a
//     restart on a full disk does not fail on it.
//
// These checks run when a partition's log is loaded (log/lazy.go): at
// start-up, or, with log.lazy.load.enable (Sluice's own, default false),
// on first use for partitions closed cleanly; a new partition's directory
// is created on first use. A partition whose check fails on first use
// stays offline (KAFKA_STORAGE_ERROR, the error logged naming the file,
// the data kept) while the broker serves the others.
//   - producer_ids missing: ids continue after the highest producer id any
//     partition's producer state holds (every partition is opened for it).
//     producer_ids behind (restored from a backup): the same, from the
//     partitions recovered at start-up; partitions closed cleanly are
//     opened on first use (log/lazy.go) and not read for it.

// ErrMissingMetadata: the data directory holds partition directories but no
// meta.json.
var ErrMissingMetadata = errors.New("metadata file missing")

// ErrDamagedPartitionMetadata: a partition.metadata file cannot be parsed.
var ErrDamagedPartitionMetadata = errors.New("partition.metadata damaged")

// staleSuffix marks a partition directory moved aside.
const staleSuffix = ".stale-"

// checkMetadataPresent refuses to start on a data directory whose meta.json
// is missing while partition directories with data exist: starting would
// create empty metadata and orphan every partition.
func (b *Broker) checkMetadataPresent() error {
	dir := b.cfg.DataDir
	if _, err := b.cfg.FS.Stat(filepath.Join(dir, "meta.json")); err == nil || !vfs.IsNotExist(err) {
		return nil // present, or a problem the store reports itself
	}
	entries, err := b.cfg.FS.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading data directory: %w", err)
	}
	var found, internal []string
	for _, e := range entries {
		if e.IsDir() && looksLikePartitionDir(e.Name()) {
			if strings.HasPrefix(e.Name(), "__") {
				internal = append(internal, e.Name())
			} else {
				found = append(found, e.Name())
			}
		}
	}
	found = append(found, internal...) // name the users' topics first
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s holds %d partition directories (%s) but no meta.json; refusing to start, which would lose every topic. "+
		"Restore meta.json from a backup, or rebuild it from the partition directories with: sluice recover-metadata --data-dir %s",
		ErrMissingMetadata, dir, len(found), strings.Join(found[:min(len(found), 3)], ", ")+map[bool]string{true: ", ...", false: ""}[len(found) > 3], dir)
}

// moveAside renames a partition directory to <dir>.stale-<unix ms>, keeping
// its data.
func (b *Broker) moveAside(dir, why string) error {
	to := dir + staleSuffix + strconv.FormatInt(b.cfg.Now().UnixMilli(), 10)
	if err := b.cfg.FS.Rename(dir, to); err != nil {
		return fmt.Errorf("moving partition directory %s aside: %w", dir, err)
	}
	if err := b.cfg.FS.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("moving partition directory %s aside: %w", dir, err)
	}
	b.logger.Warn("moved partition directory aside, keeping its data; delete it when it is no longer needed",
		"dir", filepath.Base(dir), "to", filepath.Base(to), "reason", why)
	return nil
}

// ParsePartitionMetadata parses a partition.metadata file (Kafka's format,
// see partitionMetadataFile); the trailing newline is optional.
func ParsePartitionMetadata(data []byte) ([16]byte, error) {
	var id [16]byte
	s := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) != 2 || lines[0] != "version: 0" || !strings.HasPrefix(lines[1], "topic_id: ") {
		return id, fmt.Errorf("%w: want \"version: 0\\ntopic_id: <id>\\n\", have %q", ErrDamagedPartitionMetadata, truncate(s, 80))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(lines[1], "topic_id: "))
	if err != nil || len(raw) != 16 || [16]byte(raw) == ([16]byte{}) {
		return id, fmt.Errorf("%w: bad topic id %q", ErrDamagedPartitionMetadata, truncate(lines[1], 80))
	}
	return [16]byte(raw), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// readPartitionMetadata reads dir's partition.metadata: found false when it
// is missing.
func (b *Broker) readPartitionMetadata(dir string) (data []byte, found bool, err error) {
	f, err := b.cfg.FS.OpenFile(filepath.Join(dir, partitionMetadataFile), os.O_RDONLY, 0)
	if vfs.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	return buf[:n], true, nil
}

// checkPartitionDir checks the partition.metadata of the directory of
// partition i of topic id; it reports whether the file must be (re)written.
func (b *Broker) checkPartitionDir(dir string, id [16]byte, want string) (write bool, err error) {
	data, found, err := b.readPartitionMetadata(dir)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", filepath.Join(dir, partitionMetadataFile), err)
	}
	if !found {
		return true, nil
	}
	if string(data) == want {
		return false, nil
	}

	got, err := ParsePartitionMetadata(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w; refusing to start (the partition's data is kept). "+
			"If the directory belongs to this topic, rewrite the file as %q, or remove it to adopt the directory",
			filepath.Join(dir, partitionMetadataFile), err, want)
	}
	if got == id {
		return true, nil // same id, not in canonical form
	}
	if err := b.moveAside(dir, fmt.Sprintf("its %s names topic id %s, not this topic's %s (an older topic of the same name)",
		partitionMetadataFile, encodeTopicID(got), encodeTopicID(id))); err != nil {
		return false, err
	}
	return true, nil
}

// producerIDsFromLogs moves the producer id counter past every producer id
// the open logs know, in case producer_ids was lost.
func (b *Broker) producerIDsFromLogs(fileFound bool) {
	ps := b.allPartitions()
	tops := make([]int64, len(ps))
	forEachParallel(len(ps), func(k int) {
		tops[k] = -1
		if fileFound && ps[k].log.Dormant() {
			return
		}
		for _, pi := range ps[k].log.Producers() {
			tops[k] = max(tops[k], pi.ProducerID)
		}
	})
	top := slices.Max(append(tops, -1))
	if top >= 0 && b.pids.atLeast(top+1) {
		b.logger.Warn("producer_ids is missing or behind the logs; continuing after the highest producer id in them",
			"next_producer_id", top+1)
	}
	if err := b.pids.persistCurrent(); err != nil {
		b.logger.Warn("could not write producer_ids; the next start-up opens every partition to rebuild it", "err", err)
	}
}

// writePartitionMetadata writes dir's partition.metadata atomically and
// durably; in a directory just created (fresh), where there is no file
// to replace, with one write and an fsync of the file: the directory
// entry is made durable by the log's first flush, and a crash before it
// leaves no file, which is adopted.
func (b *Broker) writePartitionMetadata(dir, content string, fresh bool) error {
	path := filepath.Join(dir, partitionMetadataFile)
	if !fresh {
		return vfs.WriteFileAtomic(b.cfg.FS, path, []byte(content), 0o644)
	}
	f, err := b.cfg.FS.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(content)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
