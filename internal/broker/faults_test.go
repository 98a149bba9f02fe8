package broker

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

// A full disk fails produce with KAFKA_STORAGE_ERROR while acknowledged
// records stay readable (through the copying read path, since errorfs
// files are not OS files).
func TestDiskFullFailsProduceKeepsReads(t *testing.T) {
	var full atomic.Bool
	fs := errorfs.New(vfs.Default, func(op errorfs.Op, path string) error {
		if full.Load() && op == errorfs.OpWrite && strings.HasSuffix(path, ".log") {
			return syscall.ENOSPC
		}
		return nil
	})
	tb := startBrokerWith(t, Config{FS: fs})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "full", 1, nil)
	sent := produceN(t, cl, "full", 20)

	full.Store(true)
	r := produceRaw(t, tb, cl, "full", 0, buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("x")}))
	if r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce on a full disk: error %d, want KAFKA_STORAGE_ERROR", r.ErrorCode)
	}
	got := consumeN(t, tb.addr, "full", len(sent))
	for i, rec := range got {
		if string(rec.Value) != string(sent[i].Value) || rec.Offset != sent[i].Offset {
			t.Fatalf("record %d after the failed write: %q at %d", i, rec.Value, rec.Offset)
		}
	}
	if hw := tb.partition("full", 0).log.HighWatermark(); hw != int64(len(sent)) {
		t.Fatalf("high watermark %d after a failed write, want %d", hw, len(sent))
	}
	// ENOSPC is not sticky (internal/log/space.go): the torn tail was
	// truncated, so once space returns produce succeeds again.
	full.Store(false)
	r = produceRaw(t, tb, cl, "full", 0, buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: []byte("y")}))
	if r.ErrorCode != 0 || r.BaseOffset != int64(len(sent)) {
		t.Fatalf("produce after space returned: error %d, offset %d", r.ErrorCode, r.BaseOffset)
	}
}

// A client that sends half a frame and goes silent stalls only itself.
func TestHalfOpenClientDoesNotStallOthers(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := rawConn(t, tb.addr)
	c.Write([]byte{0, 0, 1, 0, 0, 18}) // 256-byte frame, 2 bytes sent
	cl := newClient(t, tb.addr, kgo.AllowAutoTopicCreation())
	produceN(t, cl, "others", 10)
	if got := consumeN(t, tb.addr, "others", 10); len(got) != 10 {
		t.Fatalf("consumed %d", len(got))
	}
}

// Corrupt topic metadata stops start-up with a clear error; it is never
// silently reset.
func TestCorruptMetadataStopsStartup(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, newClient(t, tb.addr), "t", 1, nil)
	tb.stop(t)
	path := filepath.Join(dir, "meta.json")
	f, err := vfs.Default.OpenFile(path, 2, 0) // O_RDWR
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), 40)
	f.Close()
	_, err = New(Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "meta.json") {
		t.Fatalf("start-up with corrupt metadata: %v", err)
	}
}
