package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
)

// forceBulk makes every restore of a bulk-loading store a bulk restore, in
// chunks of a few records, each loaded (into Pebble) as several sstables.
func forceBulk(t *testing.T, chunkBytes int) {
	t.Helper()
	bulkMin, size, partMin := restoreBulkMin, restoreChunkBytes, loadPartMin
	restoreBulkMin, restoreChunkBytes, loadPartMin = 1, chunkBytes, 1
	t.Cleanup(func() { restoreBulkMin, restoreChunkBytes, loadPartMin = bulkMin, size, partMin })
}

// changelogFixture is a one-partition changelog in a memory broker, the
// worker that restores from it, and the table state it describes.
type changelogFixture struct {
	b    *memBroker
	w    *worker
	tc   *tableCore
	rng  *rand.Rand
	want map[string]string // the table after every record produced
	n    int64             // records produced
}

func newChangelogFixture(t *testing.T, seed uint64) *changelogFixture {
	t.Helper()
	app, err := NewApp("r", Logger(slog.New(slog.NewTextHandler(io.Discard, nil))), InMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	b := newMemBroker(app)
	if _, err := b.createTopic(context.Background(), &topicSpec{name: "cl"}, 1, 1); err != nil {
		t.Fatal(err)
	}
	w := &worker{app: app, cfg: app.cfg, log: app.cfg.logger}
	w.tr = b.transport(w, nil)
	return &changelogFixture{b: b, w: w, tc: &tableCore{app: app, name: "t", changelog: "cl"},
		rng: rand.New(rand.NewPCG(seed, 7)), want: map[string]string{}}
}

// produce appends n records over 150 keys: mostly values, a sixth
// tombstones, some empty values (a value, not a delete).
func (f *changelogFixture) produce(t *testing.T, n int) {
	t.Helper()
	for range n {
		k := fmt.Sprintf("k%03d", f.rng.IntN(150))
		r := &kgo.Record{Topic: "cl", Partition: 0, Key: []byte(k)}
		switch x := f.rng.IntN(12); {
		case x < 2:
			delete(f.want, k) // a tombstone: nil value
		case x == 2:
			r.Value = []byte{}
			f.want[k] = ""
		default:
			r.Value = fmt.Appendf(nil, "v%d", f.n)
			f.want[k] = string(r.Value)
		}
		if err := f.b.produceSync(r); err != nil {
			t.Fatal(err)
		}
		f.n++
	}
}

func (f *changelogFixture) restore(st store) error {
	return f.w.restore(context.Background(), f.tc, 0, st)
}

// check fails unless st holds exactly the table and the checkpoint after
// every record.
func (f *changelogFixture) check(t *testing.T, st store) {
	t.Helper()
	got := map[string]string{}
	for k, v := range st.all() {
		got[string(k)] = string(v)
	}
	if !maps.Equal(got, f.want) {
		t.Errorf("store holds %d keys, want %d:\n got %v\nwant %v", len(got), len(f.want), got, f.want)
	}
	if ck, err := st.checkpoint(); err != nil || ck != f.n {
		t.Errorf("checkpoint %d (%v), want %d", ck, err, f.n)
	}
}

// loadCounter counts a bulk loader's chunk loads.
type loadCounter struct {
	*pebbleStore
	loads int
}

func (s *loadCounter) loadChunk(ctx context.Context, c *restoreChunk, ckpt int64) error {
	s.loads++
	return s.pebbleStore.loadChunk(ctx, c, ckpt)
}

// TestRestoreBulk: a bulk restore into Pebble, in chunks of a few dozen
// records, onto a store restored by batches up to the middle of the
// changelog: keys overwritten and deleted within a chunk, across chunks,
// and over the store's older values come out as the changelog's last
// write; an empty value stays a value. The store then takes batches again.
func TestRestoreBulk(t *testing.T) {
	f := newChangelogFixture(t, 1)
	dir := t.TempDir()
	ps, err := openPebbleStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := &loadCounter{pebbleStore: ps}
	defer func() { st.close() }()
	f.produce(t, 1500)
	if err := f.restore(st); err != nil { // batches: 1500 < restoreBulkMin
		t.Fatal(err)
	}
	f.check(t, st)
	if st.loads != 0 {
		t.Fatalf("%d chunk loads for a restore of 1500 records, want batches", st.loads)
	}

	forceBulk(t, 400)
	f.produce(t, 3000)
	if err := f.restore(st); err != nil {
		t.Fatal(err)
	}
	f.check(t, st)
	if st.loads < 50 {
		t.Fatalf("%d chunk loads for 3000 records in chunks of 400 bytes", st.loads)
	}

	// Reopened: the loads and their checkpoint are in the store.
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	if st.pebbleStore, err = openPebbleStore(dir); err != nil {
		t.Fatal(err)
	}
	f.check(t, st)
	if err := st.apply([]kv{{k: []byte("k000"), v: []byte("after")}, {k: []byte("k001"), del: true}}, f.n+2); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := st.get([]byte("k000")); !ok || string(v) != "after" {
		t.Errorf("k000 after a batch: %q, %v", v, ok)
	}
	if _, ok, _ := st.get([]byte("k001")); ok {
		t.Errorf("k001 deleted by a batch is still there")
	}
	if ck, _ := st.checkpoint(); ck != f.n+2 {
		t.Errorf("checkpoint after a batch: %d, want %d", ck, f.n+2)
	}
}

// TestRestoreBulkMemory: the memory store's bulk restore (chunks applied as
// batches) restores the same table.
func TestRestoreBulkMemory(t *testing.T) {
	forceBulk(t, 300)
	f := newChangelogFixture(t, 2)
	st := newMemStore()
	f.produce(t, 1000)
	if err := f.restore(st); err != nil {
		t.Fatal(err)
	}
	f.produce(t, 1000)
	if err := f.restore(st); err != nil {
		t.Fatal(err)
	}
	f.check(t, st)
}

// crashingStore takes a crash image of its file system around its
// crashAt-th chunk load (before the load when before is set, after it
// otherwise), and fails that load as if the process died there.
type crashingStore struct {
	*pebbleStore
	fs      *vfs.MemFS
	crashAt int
	before  bool
	rng     *rand.Rand
	loads   int
	image   *vfs.MemFS
	durable int64 // the checkpoint the crash image must hold
}

var errCrashed = errors.New("crashed")

func (s *crashingStore) loadChunk(ctx context.Context, c *restoreChunk, ckpt int64) error {
	s.loads++
	if s.loads != s.crashAt {
		if err := s.pebbleStore.loadChunk(ctx, c, ckpt); err != nil {
			return err
		}
		s.durable = ckpt
		return nil
	}
	if !s.before {
		if err := s.pebbleStore.loadChunk(ctx, c, ckpt); err != nil {
			return err
		}
		s.durable = ckpt
	}
	s.image = s.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: s.rng.IntN(101), RNG: s.rng})
	return errCrashed
}

// TestRestoreBulkCrash: a crash (the file system as a crash leaves it:
// what was synced, and a random part of what was not) before or after a
// chunk load of a bulk restore that follows batches leaves a store whose
// checkpoint is the last loaded chunk's (a restart resumes there), and
// restoring forward from it gives the table of the whole changelog.
func TestRestoreBulkCrash(t *testing.T) {
	for _, crashAt := range []int{1, 2, 5, 13} {
		for _, before := range []bool{true, false} {
			t.Run(fmt.Sprintf("load%d/before=%v", crashAt, before), func(t *testing.T) {
				forceBulk(t, 500)
				f := newChangelogFixture(t, uint64(crashAt))
				fs := vfs.NewCrashableMem()
				ps, err := openPebbleStoreFS("/db", fs)
				if err != nil {
					t.Fatal(err)
				}
				st := &crashingStore{pebbleStore: ps, fs: fs, crashAt: crashAt, before: before, rng: rand.New(rand.NewPCG(uint64(crashAt), 1))}
				restoreBulkMin = 1 << 20 // batches first
				f.produce(t, 700)
				if err := f.restore(st); err != nil {
					t.Fatal(err)
				}
				restoreBulkMin = 1
				f.produce(t, 2000)
				if err := f.restore(st); !errors.Is(err, errCrashed) {
					t.Fatalf("restore = %v, want the crash", err)
				}
				st.close()
				if st.image == nil {
					t.Fatal("no crash image")
				}
				after, err := openPebbleStoreFS("/db", st.image)
				if err != nil {
					t.Fatal(err)
				}
				defer after.close()
				ck, err := after.checkpoint()
				if err != nil {
					t.Fatal(err)
				}
				// Chunk loads are durable: the image holds the last one's
				// checkpoint (batches' checkpoints may be lost: no WAL).
				if st.durable > 0 && ck != st.durable {
					t.Errorf("checkpoint after the crash %d, want the last loaded chunk's %d", ck, st.durable)
				}
				if ck > st.durable && (st.durable > 0 || ck > 700) {
					t.Errorf("checkpoint after the crash %d, past what was loaded (%d)", ck, st.durable)
				}
				if err := f.restore(after); err != nil {
					t.Fatal(err)
				}
				f.check(t, after)
			})
		}
	}
}

// failingLoader fails its second chunk load.
type failingLoader struct {
	*pebbleStore
	loads int
}

func (s *failingLoader) loadChunk(ctx context.Context, c *restoreChunk, ckpt int64) error {
	s.loads++
	if s.loads == 2 {
		return errDiskFull
	}
	return s.pebbleStore.loadChunk(ctx, c, ckpt)
}

// TestRestoreBulkLoadFailure: a chunk load that fails fails the restore with
// its error (the reader stops, nothing hangs with chunks in flight), and
// the next restore completes the table.
func TestRestoreBulkLoadFailure(t *testing.T) {
	forceBulk(t, 2048)
	f := newChangelogFixture(t, 3)
	ps, err := openPebbleStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	f.produce(t, 3000)
	if err := f.restore(&failingLoader{pebbleStore: ps}); !errors.Is(err, errDiskFull) {
		t.Fatalf("restore = %v, want the load's error", err)
	}
	if ck, _ := ps.checkpoint(); ck <= 0 || ck >= f.n {
		t.Errorf("checkpoint after a failed second load: %d, want the first chunk's", ck)
	}
	if err := f.restore(ps); err != nil {
		t.Fatal(err)
	}
	f.check(t, ps)
}

// TestRestoreBulkTTL: state TTL (values carrying their write time,
// expired keys tombstoned) through bulk restores, in memory and in Pebble.
func TestRestoreBulkTTL(t *testing.T) {
	forceBulk(t, 64)
	TestTableTTL(t)
}

// TestRestoreBulkTTLPebble: a table with a TTL in Pebble, its state
// directory lost and bulk restored from the changelog alone: an expired
// key's tombstone shadows its older value, a live key keeps its write time
// (it expires on time after the restore), and no restored value outlives
// its TTL.
func TestRestoreBulkTTLPebble(t *testing.T) {
	forceBulk(t, 48)
	dir := t.TempDir()
	app, err := NewApp("ttl", StateDir(dir), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		Clock(func() time.Time { return time.Unix(1_000_000, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	in := NewTopic(app, "in", codec.String(), codec.JSON[int64](), Partitions(1))
	tbl := NewTable(app, "last", in, codec.String(), codec.JSON[int64](), TTL[int64](10*time.Second))
	NewAgent(app, "set", in, func(ctx context.Context, s *Stream[string, int64]) error {
		for ev := range s.Events() {
			if err := tbl.Set(ctx, ev.Partition, ev.Key, ev.Value); err != nil {
				return err
			}
		}
		return nil
	})
	d, err := NewDriver(app)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	send := func(kvs ...any) {
		t.Helper()
		for i := 0; i < len(kvs); i += 2 {
			if err := in.Send(ctx, kvs[i].(string), int64(kvs[i+1].(int))); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Process(); err != nil {
			t.Fatal(err)
		}
	}
	advance := func(dur time.Duration) {
		t.Helper()
		if err := d.Advance(dur); err != nil {
			t.Fatal(err)
		}
	}
	restoreFromChangelog := func() {
		t.Helper()
		before := app.restored.Load()
		d.w.requeueTables()
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := d.w.restorePending(ctx); err != nil {
			t.Fatal(err)
		}
		if app.restored.Load() == before {
			t.Fatal("nothing restored from the changelog")
		}
	}
	contents := func(want map[string]int64) {
		t.Helper()
		got, err := TableContents(d, tbl)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("table %v, want %v", got, want)
		}
	}
	for i := range 30 { // overwrites: several chunks
		send("a", i, "b", i, fmt.Sprintf("k%d", i%7), i)
	}
	advance(6 * time.Second)
	send("b", 100)
	advance(5 * time.Second) // a and k*: 11 s old; b: 5 s
	send("c", 1)             // a batch: the expired keys are tombstoned
	restoreFromChangelog()
	contents(map[string]int64{"b": 100, "c": 1})
	advance(6 * time.Second) // b: 11 s old, its write time restored
	contents(map[string]int64{"c": 1})
	restoreFromChangelog()
	contents(map[string]int64{"c": 1})
}

// TestRestoreBulkWindowsMemory: the windows model test with every restore a
// bulk restore (memory store).
func TestRestoreBulkWindowsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	forceBulk(t, 128)
	TestWindowsAgainstModel(t)
}

// TestRestoreBulkWindowsPebble: a windowed table in Pebble restored in
// chunks mid-stream from its changelog alone keeps its open windows and closes them as the model
// says, without reopening a closed window.
func TestRestoreBulkWindowsPebble(t *testing.T) {
	ms := time.Millisecond
	for name, win := range map[string]Windows{
		"hopping": HoppingWindows(100*ms, 30*ms).Grace(20 * ms),
		"session": SessionWindows(25 * ms).Grace(10 * ms),
	} {
		t.Run(name, func(t *testing.T) {
			forceBulk(t, 2048)
			a := newPebbleWinApp(t, win)
			rng := rand.New(rand.NewPCG(5, 5))
			cur := int64(1000)
			var recs []winRec
			for range 300 {
				cur += rng.Int64N(12)
				recs = append(recs, winRec{Key: string(rune('a' + rng.IntN(4))), TS: max(cur-rng.Int64N(100), 0)})
			}
			loadsBefore := a.app.restored.Load()
			for len(recs) > 0 {
				n := min(1+rng.IntN(30), len(recs))
				a.send(t, recs[:n]...)
				recs = recs[n:]
				if rng.IntN(3) == 0 {
					open := a.open(t)
					// The state directory lost (a new machine): the
					// tables restore from their changelogs alone.
					a.d.w.requeueTables()
					if err := os.RemoveAll(a.app.cfg.stateDir); err != nil {
						t.Fatal(err)
					}
					if err := a.d.w.restorePending(context.Background()); err != nil {
						t.Fatal(err)
					}
					if got := a.open(t); !maps.Equal(got, open) {
						t.Fatalf("open windows after a restore:\n got %v\nwant %v", got, open)
					}
				}
			}
			if a.app.restored.Load() == loadsBefore {
				t.Fatal("nothing restored")
			}
			model := newWinModel(win)
			evs, err := Output(a.d, a.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				model.add(ev.Partition, ev.Value)
			}
			wantClosed, wantOpen := model.split()
			if got := a.finals(t); !mapsEqual(got, wantClosed) {
				t.Errorf("final results:\n got %v\nwant %v", got, wantClosed)
			}
			if got := a.open(t); !mapsEqual(got, wantOpen) {
				t.Errorf("open windows:\n got %v\nwant %v", got, wantOpen)
			}
		})
	}
}

// newPebbleWinApp is newWinApp's app (at-least-once, 2 partitions) with
// its tables in Pebble.
func newPebbleWinApp(t *testing.T, w Windows) *winApp {
	t.Helper()
	return newWinAppWith(t, w, 2, StateDir(t.TempDir()))
}

// TestRestoreChunkSort: a chunk sorts by key, keeps each key's last write
// (a delete included), and keeps a chunk already in key order as it is.
func TestRestoreChunkSort(t *testing.T) {
	type w struct {
		k, v string
		del  bool
	}
	collect := func(c *restoreChunk) []w {
		var out []w
		_ = c.each(func(k, v []byte, del bool) error {
			out = append(out, w{string(k), string(v), del})
			return nil
		})
		return out
	}
	c := newRestoreChunk(1 << 10)
	for _, r := range []w{{"b", "1", false}, {"a", "1", false}, {"b", "", true}, {"c", "1", false}, {"a", "2", false}, {"c", "", false}, {"b", "3", false}, {"d", "", true}} {
		c.add([]byte(r.k), []byte(r.v), r.del)
	}
	c.sort()
	want := []w{{"a", "2", false}, {"b", "3", false}, {"c", "", false}, {"d", "", true}}
	if got := collect(c); !slices.Equal(got, want) {
		t.Errorf("sorted chunk %v, want %v", got, want)
	}
	c.reset()
	for _, r := range []w{{"a", "1", false}, {"b", "", true}, {"c", "3", false}} {
		c.add([]byte(r.k), []byte(r.v), r.del)
	}
	c.sort()
	if got, want := collect(c), []w{{"a", "1", false}, {"b", "", true}, {"c", "3", false}}; !slices.Equal(got, want) {
		t.Errorf("ascending chunk %v, want %v", got, want)
	}
	c.reset()
	for _, k := range []string{"a", "b", "b"} { // ascending but for a repeat
		c.add([]byte(k), []byte(k), false)
	}
	c.sort()
	if got := collect(c); len(got) != 2 {
		t.Errorf("chunk with a repeated key: %v, want 2 writes", got)
	}
}

// TestRestoreChunkSortRuns: chunks made of runs of ascending keys (merged)
// and of more runs than merging takes (sorted whole) come out in key order
// with each key's last write, keys of different lengths and a shared
// prefix included.
func TestRestoreChunkSortRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, runs := range []int{1, 2, 3, 5, maxMergeRuns, maxMergeRuns + 1, 200} {
		for range 20 {
			c := newRestoreChunk(1 << 16)
			want := map[string]string{}
			var del = map[string]bool{}
			for r := range runs {
				k := 0
				for range rng.IntN(40) + 1 {
					k += 1 + rng.IntN(3)
					key := fmt.Sprintf("user/%d", k) // lengths vary: ascending as numbers, not always as bytes
					if rng.IntN(2) == 0 {
						key = fmt.Sprintf("user/%04d", k)
					}
					v := fmt.Sprintf("%d.%d", r, k)
					d := rng.IntN(5) == 0
					c.add([]byte(key), []byte(v), d)
					want[key], del[key] = v, d
				}
			}
			c.sort()
			var prev []byte
			got := map[string]string{}
			_ = c.each(func(k, v []byte, d bool) error {
				if prev != nil && bytes.Compare(prev, k) >= 0 {
					t.Fatalf("runs=%d: key %q after %q", runs, k, prev)
				}
				prev = k
				if d != del[string(k)] {
					t.Errorf("runs=%d: key %q delete=%v, want %v", runs, k, d, del[string(k)])
				}
				got[string(k)] = string(v)
				return nil
			})
			if !maps.Equal(got, want) {
				t.Fatalf("runs=%d:\n got %v\nwant %v", runs, got, want)
			}
		}
	}
}

// TestRestoreChunkBounded: a chunk's memory is bounded by its size whatever
// the records' size: tiny records fill it sooner by their bookkeeping.
func TestRestoreChunkBounded(t *testing.T) {
	c := newRestoreChunk(1 << 16)
	for c.fits(2) {
		c.add([]byte("k"), []byte("v"), false)
	}
	if used := len(c.buf) + len(c.recs)*chunkRecBytes; used > 1<<16 || used < 1<<15 {
		t.Errorf("a chunk of 64 KiB holds %d records, %d bytes with bookkeeping", len(c.recs), used)
	}
	if c.fits(1 << 20) {
		t.Errorf("a full chunk takes a 1 MiB record")
	}
	c.reset()
	if !c.fits(1 << 20) {
		t.Errorf("an empty chunk refuses a record larger than itself")
	}
}
