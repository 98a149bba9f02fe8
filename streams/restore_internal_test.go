package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// failingStore fails its second apply.
type failingStore struct {
	*memStore
	applies int
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) apply(ws []kv, ckpt int64) error {
	s.applies++
	if s.applies == 2 {
		return errDiskFull
	}
	return s.memStore.apply(ws, ckpt)
}

// TestRestoreStoreFailure: a store that fails mid-restore fails the
// restore with its error (the reader stops; nothing hangs), and a store
// that works restores every record up to the end.
func TestRestoreStoreFailure(t *testing.T) {
	app, err := NewApp("r", Logger(slog.New(slog.NewTextHandler(io.Discard, nil))), InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	b := newMemBroker(app)
	ctx := context.Background()
	if _, err := b.createTopic(ctx, &topicSpec{name: "cl"}, 1, 1); err != nil {
		t.Fatal(err)
	}
	n := 5*restoreBatch + 7
	for i := range n {
		if err := b.produceSync(&kgo.Record{Topic: "cl", Partition: 0, Key: fmt.Appendf(nil, "k%d", i%1000), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	w := &worker{app: app, cfg: app.cfg, log: app.cfg.logger}
	w.tr = b.transport(w, nil)
	tc := &tableCore{app: app, name: "t", changelog: "cl"}

	fs := &failingStore{memStore: newMemStore()}
	if err := w.restore(ctx, tc, 0, fs); !errors.Is(err, errDiskFull) {
		t.Fatalf("restore = %v, want the store's error", err)
	}
	st := newMemStore()
	if err := w.restore(ctx, tc, 0, st); err != nil {
		t.Fatal(err)
	}
	if ck, _ := st.checkpoint(); ck != int64(n) || len(st.m) != 1000 {
		t.Fatalf("restored to %d with %d keys, want %d and 1000", ck, len(st.m), n)
	}
}

// The memory store keeps its own copy of a value: a restored value is a
// slice of a fetched batch that the reader reuses or drops.
func TestMemStoreCopiesValues(t *testing.T) {
	st := newMemStore()
	buf := []byte("value")
	if err := st.apply([]kv{{k: []byte("k"), v: buf[:5]}}, 1); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	if v, ok, _ := st.get([]byte("k")); !ok || string(v) != "value" {
		t.Fatalf("get = %q, %v; want the value as applied", v, ok)
	}
}
