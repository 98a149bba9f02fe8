package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Damage to the data directory's own files (#12, datadir.go): the broker
// refuses or moves data aside, never deletes it.

// seedDir starts a broker on a fresh directory, creates topic "d" with one
// partition, writes n records and stops it cleanly.
func seedDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "d", 1, nil)
	produceN(t, cl, "d", n)
	cl.Close()
	tb.stop(t)
	return dir
}

func newBrokerErr(t *testing.T, dir string) error {
	t.Helper()
	b, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err == nil {
		b.Close()
	}
	return err
}

func segmentBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestMissingMetaJSONRefusesToStart (#12.1): without meta.json, a data
// directory with partitions is not reset: start-up fails naming the
// problem and the recovery command, and the partitions stay.
func TestMissingMetaJSONRefusesToStart(t *testing.T) {
	dir := seedDir(t, 50)
	before := segmentBytes(t, dir)
	if err := os.Remove(filepath.Join(dir, "meta.json")); err != nil {
		t.Fatal(err)
	}
	err := newBrokerErr(t, dir)
	if !errors.Is(err, ErrMissingMetadata) || !strings.Contains(err.Error(), "sluice recover-metadata") ||
		!strings.Contains(err.Error(), "d-0") {
		t.Fatalf("start without meta.json: %v", err)
	}
	if after := segmentBytes(t, dir); after != before || before == 0 {
		t.Fatalf("segment bytes %d before, %d after", before, after)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); !os.IsNotExist(err) {
		t.Fatalf("meta.json created: %v", err)
	}
}

// TestDamagedPartitionMetadataRefusesToStart (#12.2): an unreadable
// partition.metadata is damage, not a stale directory.
func TestDamagedPartitionMetadataRefusesToStart(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "\x00\xffnot a partition metadata file",
		"empty":     "",
		"truncated": "version: 0\ntopic_id: AAAA",
		"bad id":    "version: 0\ntopic_id: !!!!!!!!!!!!!!!!!!!!!!\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := seedDir(t, 20)
			before := segmentBytes(t, dir)
			pm := filepath.Join(dir, "d-0", "partition.metadata")
			if err := os.WriteFile(pm, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			err := newBrokerErr(t, dir)
			if !errors.Is(err, ErrDamagedPartitionMetadata) || !strings.Contains(err.Error(), pm) {
				t.Fatalf("start: %v", err)
			}
			if after := segmentBytes(t, dir); after != before {
				t.Fatalf("segment bytes %d before, %d after", before, after)
			}
		})
	}
}

// TestPartitionMetadataWithoutNewlineAdopted: the trailing newline is
// optional; the file is rewritten in canonical form and the data served.
func TestPartitionMetadataWithoutNewlineAdopted(t *testing.T) {
	dir := seedDir(t, 20)
	pm := filepath.Join(dir, "d-0", "partition.metadata")
	b, err := os.ReadFile(pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pm, []byte(strings.TrimSuffix(string(b), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, dir, nil)
	consumeN(t, tb.addr, "d", 20)
	if got, _ := os.ReadFile(pm); string(got) != string(b) {
		t.Fatalf("partition.metadata %q, want %q", got, b)
	}
}

// TestStalePartitionDirMovedAside (#12.2): a valid partition.metadata
// naming another topic id means an older topic's directory: it is renamed
// aside with its data, not removed.
func TestStalePartitionDirMovedAside(t *testing.T) {
	dir := seedDir(t, 20)
	before := segmentBytes(t, dir)
	pm := filepath.Join(dir, "d-0", "partition.metadata")
	if err := os.WriteFile(pm, []byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// And a directory no topic owns.
	if err := os.MkdirAll(filepath.Join(dir, "gone-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gone-3", "00000000000000000000.log"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, dir, nil)
	tb.stop(t)
	for _, pat := range []string{"d-0.stale-*", "gone-3.stale-*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		if len(m) != 1 {
			t.Fatalf("%s: %v", pat, m)
		}
	}
	if after := segmentBytes(t, dir); after != before+4 {
		t.Fatalf("segment bytes %d before (+4), %d after", before, after)
	}
	// A second start leaves the moved directories alone.
	tb = startBroker(t, dir, nil)
	tb.stop(t)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.stale-*.stale-*")); len(m) != 0 {
		t.Fatalf("moved twice: %v", m)
	}
}

// TestPartitionMetadataWrittenOnlyWhenChanged (#12.6): a restart does not
// rewrite partition.metadata, so it needs no free space for it.
func TestPartitionMetadataWrittenOnlyWhenChanged(t *testing.T) {
	dir := seedDir(t, 5)
	pm := filepath.Join(dir, "d-0", "partition.metadata")
	fi1, err := os.Stat(pm)
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, dir, nil)
	tb.stop(t)
	fi2, err := os.Stat(pm)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi1, fi2) {
		t.Fatal("partition.metadata was rewritten on start")
	}
}

// TestFetchOfDiskCorruptionIsCorruptMessage (#12.5): a batch damaged on
// disk is answered with CORRUPT_MESSAGE, counted once, never served.
func TestFetchOfDiskCorruptionIsCorruptMessage(t *testing.T) {
	dir := seedDir(t, 1)
	seg := filepath.Join(dir, "d-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	b := []byte{0}
	f.ReadAt(b, fi.Size()-1)
	b[0] ^= 0xff
	f.WriteAt(b, fi.Size()-1)
	f.Close()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr)
	for range 2 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "d"
		rt.TopicID = tb.topic("d").meta.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := send[*kmsg.FetchResponse](t, cl, req)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.CorruptMessage.Code || len(p.RecordBatches) != 0 {
			t.Fatalf("fetch: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
		}
	}
	if n := tb.Corruptions(); n != 1 {
		t.Fatalf("Corruptions() = %d, want 1", n)
	}
}

// TestMissingProducerIDsNotReused: with producer_ids lost, new producer ids
// continue after those the logs know.
func TestMissingProducerIDsNotReused(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "d", 1, nil)
	produceN(t, cl, "d", 5) // idempotent: gets a producer id
	var first int64 = -1
	for _, p := range tb.partition("d", 0).log.Producers() {
		first = max(first, p.ProducerID)
	}
	cl.Close()
	tb.stop(t)
	if first < 0 {
		t.Fatal("no producer id in the log")
	}
	if err := os.Remove(filepath.Join(dir, "producer_ids")); err != nil {
		t.Fatal(err)
	}
	tb = startBroker(t, dir, nil)
	cl = newClient(t, tb.addr)
	resp := send[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	if resp.ErrorCode != 0 || resp.ProducerID <= first {
		t.Fatalf("InitProducerId after losing producer_ids: id %d (error %d), the log knows %d", resp.ProducerID, resp.ErrorCode, first)
	}
}

// TestScrubberFindsDiskCorruption: the scrubber finds a damaged batch that
// no fetch touched and counts it once.
func TestScrubberFindsDiskCorruption(t *testing.T) {
	dir := seedDir(t, 1)
	seg := filepath.Join(dir, "d-0", "00000000000000000000.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, dir, map[string]string{"log.scrubber.io.max.bytes.per.second": "0"})
	if n := tb.Corruptions(); n != 0 {
		t.Fatalf("Corruptions() = %d before scrubbing", n)
	}
	tb.runScrub(1 << 20)
	tb.runScrub(1 << 20)
	if n := tb.Corruptions(); n != 1 {
		t.Fatalf("Corruptions() = %d after scrubbing, want 1", n)
	}
}

// TestLazyLoadDamagedPartitionMetadata: with log.lazy.load.enable, a
// cleanly closed partition is checked on first use: the broker starts, the
// partition answers KAFKA_STORAGE_ERROR, its data is kept; a partition not
// closed cleanly is still checked at start-up.
func TestLazyLoadDamagedPartitionMetadata(t *testing.T) {
	lazy := map[string]string{"log.lazy.load.enable": "true"}
	dir := seedDir(t, 20)
	before := segmentBytes(t, dir)
	pm := filepath.Join(dir, "d-0", "partition.metadata")
	if err := os.WriteFile(pm, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, dir, lazy)
	cl := newClient(t, tb.addr, kgo.RecordRetries(0))
	err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "d", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to a partition whose partition.metadata is damaged: %v", err)
	}
	cl.Close()
	tb.stop(t)
	if after := segmentBytes(t, dir); after != before {
		t.Fatalf("segment bytes %d before, %d after first use", before, after)
	}
	if err := os.Remove(filepath.Join(dir, "d-0", ".clean_shutdown")); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger(), Kafka: lazy})
	if err == nil {
		b.Close()
	}
	if !errors.Is(err, ErrDamagedPartitionMetadata) || !strings.Contains(err.Error(), pm) {
		t.Fatalf("start with a damaged partition not closed cleanly: %v", err)
	}
}
