package cli

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/meta"
)

const recoverMetadataUsage = `Usage: sluice recover-metadata [flags]

Rebuilds a lost meta.json of a stopped broker's data directory from its
partition directories (TOPIC-N), each of which records its topic's id in
partition.metadata. A broker refuses to start on a data directory that
holds partitions but no meta.json; run this, then start it again.

Each topic gets the id its partition.metadata files name and as many
partitions as its highest-numbered directory plus one. What only meta.json
held is lost: the cluster id (a new one is made: clients notice nothing,
but tools that pinned the old one do), topic config overrides (re-apply
them with 'sluice topic alter-config'; the internal topics get their
defaults back) and dynamic broker configs. A topic whose directories name
different ids, or whose partition.metadata is damaged, stops the command:
move the wrong directory aside (or fix the file) and run it again.

It refuses to overwrite an existing meta.json.

Examples:
  sluice recover-metadata --data-dir /var/lib/sluice
  sluice recover-metadata --data-dir ./data --dry-run

Flags:
`

// internalTopicConfigs are the configs the broker creates its internal
// topics with (groups.go, txn.go).
var internalTopicConfigs = map[string]map[string]string{
	"__consumer_offsets":  {"cleanup.policy": "compact", "segment.bytes": "104857600"},
	"__transaction_state": {"cleanup.policy": "compact", "segment.bytes": "104857600"},
}

func runRecoverMetadata(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("recover-metadata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, recoverMetadataUsage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", broker.DefaultDataDir, "the broker's data `DIR`")
	dryRun := fs.Bool("dry-run", false, "print what would be recovered, write nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice recover-metadata: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := recoverMetadata(*dataDir, *dryRun, stdout); err != nil {
		fmt.Fprintf(stderr, "sluice recover-metadata: %v\n", err)
		return 1
	}
	return 0
}

// recoveredTopic is a topic found in the partition directories.
type recoveredTopic struct {
	id         [16]byte
	hasID      bool
	partitions []int32
}

func recoverMetadata(dir string, dryRun bool, out io.Writer) error {
	metaPath := filepath.Join(dir, "meta.json")
	if _, err := os.Stat(metaPath); err == nil {
		return fmt.Errorf("%s exists; refusing to overwrite it (move it away first if it is damaged)", metaPath)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	topics := map[string]*recoveredTopic{}
	for _, e := range entries {
		name, part, ok := parsePartitionDirName(e.Name())
		if !e.IsDir() || !ok || meta.ValidateTopicName(name) != nil {
			continue
		}
		t := topics[name]
		if t == nil {
			t = &recoveredTopic{}
			topics[name] = t
		}
		t.partitions = append(t.partitions, part)
		pm := filepath.Join(dir, e.Name(), "partition.metadata")
		data, err := os.ReadFile(pm)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		id, err := broker.ParsePartitionMetadata(data)
		if err != nil {
			return fmt.Errorf("%s: %w (fix the file, or remove it if the directory belongs to topic %s)", pm, err, name)
		}
		if t.hasID && t.id != id {
			return fmt.Errorf("%s names topic id %s, but another partition of %s names %s: move the directory that is not the topic's aside",
				pm, encodeID(id), name, encodeID(t.id))
		}
		t.id, t.hasID = id, true
	}
	if len(topics) == 0 {
		return fmt.Errorf("%s holds no partition directories: nothing to recover (a broker starting on it creates fresh metadata)", dir)
	}
	tmp := filepath.Join(dir, ".recover-metadata.tmp")
	if !dryRun {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	}
	var store *meta.Store
	if !dryRun {
		if store, err = meta.OpenStore(nil, tmp, nil); err != nil {
			return err
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range topics {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t := topics[name]
		n := slices.Max(t.partitions) + 1
		id := "a new id (no partition.metadata found)"
		if t.hasID {
			id = encodeID(t.id)
		}
		fmt.Fprintf(out, "topic %s: %d partitions, id %s\n", name, n, id)
		if int(n) != len(t.partitions) {
			fmt.Fprintf(out, "  warning: only %d of %d partition directories exist; the missing ones start empty\n", len(t.partitions), n)
		}
		if store == nil {
			continue
		}
		mt := meta.Topic{Name: name, Partitions: n, Configs: internalTopicConfigs[name]}
		mt.Internal = mt.Configs != nil
		if t.hasID {
			mt.ID = t.id
		}
		if _, err := store.CreateTopic(mt); err != nil {
			return fmt.Errorf("topic %s: %w", name, err)
		}
	}
	fmt.Fprintln(out, "topic config overrides and dynamic broker configs are not recoverable from the partitions: re-apply them")
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing written")
		return nil
	}
	if err := os.Rename(filepath.Join(tmp, "meta.json"), metaPath); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %s (new cluster id %s)\n", metaPath, store.ClusterID())
	return nil
}

// parsePartitionDirName splits TOPIC-N; a directory moved aside by the
// broker (TOPIC-N.stale-MS) is not one.
func parsePartitionDirName(name string) (string, int32, bool) {
	if i := strings.LastIndex(name, ".stale-"); i > 0 {
		if _, _, ok := parsePartitionDirName(name[:i]); ok {
			return "", 0, false
		}
	}
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], int32(n), true
}

func encodeID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }
