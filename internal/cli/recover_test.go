package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/meta"
)

func writePartitionDir(t *testing.T, dir, name, pm string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if pm != "" {
		if err := os.WriteFile(filepath.Join(dir, name, "partition.metadata"), []byte(pm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	idA = "AAAAAAAAAAAAAAAAAAAAAQ"
	idB = "AAAAAAAAAAAAAAAAAAAAAg"
)

func TestRecoverMetadata(t *testing.T) {
	dir := t.TempDir()
	writePartitionDir(t, dir, "orders-0", "version: 0\ntopic_id: "+idA+"\n")
	writePartitionDir(t, dir, "orders-2", "version: 0\ntopic_id: "+idA) // no newline
	writePartitionDir(t, dir, "plain-0", "")
	writePartitionDir(t, dir, "__consumer_offsets-0", "version: 0\ntopic_id: "+idB+"\n")
	writePartitionDir(t, dir, "old-0.stale-123", "version: 0\ntopic_id: "+idB+"\n")
	var out, errb bytes.Buffer
	if code := Main([]string{"recover-metadata", "--data-dir", dir, "--dry-run"}, &out, &errb); code != 0 {
		t.Fatalf("dry run: %d %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); !os.IsNotExist(err) {
		t.Fatal("dry run wrote meta.json")
	}
	out.Reset()
	if code := Main([]string{"recover-metadata", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("recover: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "only 2 of 3 partition directories exist") {
		t.Fatalf("no warning about the missing partition:\n%s", out.String())
	}
	st, err := meta.OpenStore(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]meta.Topic{}
	for _, tp := range st.Topics() {
		got[tp.Name] = tp
	}
	if len(got) != 3 {
		t.Fatalf("topics %v", got)
	}
	if o := got["orders"]; o.Partitions != 3 || encodeID(o.ID) != idA || o.Internal {
		t.Fatalf("orders: %+v", o)
	}
	if c := got["__consumer_offsets"]; !c.Internal || encodeID(c.ID) != idB || c.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("__consumer_offsets: %+v", c)
	}
	if p := got["plain"]; p.Partitions != 1 || p.ID == ([16]byte{}) {
		t.Fatalf("plain: %+v", p)
	}
	// It never overwrites.
	if code := Main([]string{"recover-metadata", "--data-dir", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "refusing to overwrite") {
		t.Fatalf("second run: %d %s", code, errb.String())
	}
}

func TestRecoverMetadataRefusesConflicts(t *testing.T) {
	for name, dirs := range map[string][2]string{
		"different ids": {"version: 0\ntopic_id: " + idA + "\n", "version: 0\ntopic_id: " + idB + "\n"},
		"damaged file":  {"version: 0\ntopic_id: " + idA + "\n", "garbage"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writePartitionDir(t, dir, "x-0", dirs[0])
			writePartitionDir(t, dir, "x-1", dirs[1])
			var out, errb bytes.Buffer
			if code := Main([]string{"recover-metadata", "--data-dir", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "x-1") {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "meta.json")); !os.IsNotExist(err) {
				t.Fatal("meta.json written")
			}
		})
	}
}
