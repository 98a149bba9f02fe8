package streams

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GlobalTable is a table every worker holds whole (Kafka Streams'
// GlobalKTable): all partitions of its topic, restored up to the topic's
// end when the worker starts, before it processes anything, then kept
// current by a reader of its own, outside the consumer group. Lookups take
// any key, so a stream can join it on a key that is not its partition key
// (JoinGlobal). Its updates are not synchronized with the streams that
// read it (as in Kafka Streams): a lookup sees what the reader has applied
// so far. Under the in-memory Driver the reader catches up before every
// batch.
type GlobalTable[K, V any] struct {
	core  *globalCore
	topic *Topic[K, V]
}

// globalCore is a global table's stores on this worker, one per partition
// of its topic.
type globalCore struct {
	app   *App
	name  string
	topic *topicSpec

	mu     sync.RWMutex
	stores []store // by partition; nil before the worker starts
	stop   context.CancelFunc
	done   chan struct{}
}

// NewGlobalTable declares a global table named name over topic (a record
// with a null value deletes its key).
func NewGlobalTable[K, V any](app *App, name string, topic *Topic[K, V]) *GlobalTable[K, V] {
	g := &GlobalTable[K, V]{core: &globalCore{app: app, name: name}, topic: topic}
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: global table: %w", ErrTopology, err)
		}
		jt := app.joinsLocked()
		for _, o := range jt.globals {
			if o.name == name {
				return fmt.Errorf("%w: two global tables named %q", ErrTopology, name)
			}
		}
		for _, t := range app.tables {
			if t.name == name {
				return fmt.Errorf("%w: a table and a global table named %q", ErrTopology, name)
			}
		}
		g.core.topic = topic.spec
		jt.globals = append(jt.globals, g.core)
		return nil
	})
	return g
}

// Name returns the global table's name.
func (g *GlobalTable[K, V]) Name() string { return g.core.name }

// Lookup returns the value of key and whether it is set.
func (g *GlobalTable[K, V]) Lookup(key K) (V, bool, error) {
	var zero V
	kb, err := g.topic.key.Encode(key)
	if err != nil {
		return zero, false, fmt.Errorf("streams: global table %s: key: %w", g.core.name, err)
	}
	vb, ok, err := g.core.get(kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := g.topic.value.Decode(vb)
	if err != nil {
		return zero, false, fmt.Errorf("streams: global table %s: stored value: %w", g.core.name, err)
	}
	return v, true, nil
}

// ErrGlobalNotRunning is returned by a lookup in a global table before its
// worker has started (or after it stopped).
var ErrGlobalNotRunning = errors.New("streams: global table not loaded (the app is not running)")

func (gc *globalCore) get(k []byte) ([]byte, bool, error) {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	if gc.stores == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrGlobalNotRunning, gc.name)
	}
	for _, st := range gc.stores {
		v, ok, err := st.get(k)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return nil, false, nil
}

// open restores every partition of the table up to its end. Under Kafka it
// then starts the reader that keeps it current.
func (gc *globalCore) open(ctx context.Context, w *worker) error {
	n, err := w.partitionCount(ctx, gc.topic.name)
	if err != nil {
		return err
	}
	stores := make([]store, n)
	fail := func(err error) error {
		for _, st := range stores {
			if st != nil {
				st.close()
			}
		}
		return err
	}
	tc := &tableCore{name: gc.name, changelog: gc.topic.name}
	for p := range stores {
		if w.cfg.inMemory {
			stores[p] = newMemStore()
		} else {
			dir := filepath.Join(w.cfg.stateDir, w.app.id, gc.name+"-global", strconv.Itoa(p))
			if stores[p], err = openPebbleStore(dir); err != nil {
				return fail(err)
			}
		}
		if err := w.restore(ctx, tc, int32(p), stores[p]); err != nil {
			return fail(err)
		}
	}
	gc.mu.Lock()
	gc.stores = stores
	gc.mu.Unlock()
	if kt, ok := w.tr.(*kafkaTransport); ok {
		return gc.startReader(w, kt)
	}
	return nil
}

// catchUp applies what the topic holds beyond each store's checkpoint
// (the Driver, before each batch).
func (gc *globalCore) catchUp(ctx context.Context, w *worker) error {
	gc.mu.RLock()
	stores := gc.stores
	gc.mu.RUnlock()
	tc := &tableCore{name: gc.name, changelog: gc.topic.name}
	for p, st := range stores {
		if err := w.restore(ctx, tc, int32(p), st); err != nil {
			return err
		}
	}
	return nil
}

// startReader tails every partition from its store's checkpoint.
func (gc *globalCore) startReader(w *worker, kt *kafkaTransport) error {
	offs := map[int32]kgo.Offset{}
	for p, st := range gc.stores {
		c, err := st.checkpoint()
		if err != nil {
			return err
		}
		offs[int32(p)] = kgo.NewOffset().At(c)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.brokers...)}
	opts = append(opts, w.cfg.kopts...)
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{gc.topic.name: offs}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if kt.sess != nil {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("streams: global table %s: reader: %w", gc.name, err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	gc.stop, gc.done = cancel, make(chan struct{})
	go func() {
		defer close(gc.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			for _, fe := range fs.Errors() {
				if !errors.Is(fe.Err, context.Canceled) {
					w.log.Warn("streams: global table fetch error", "table", gc.name, "partition", fe.Partition, "err", fe.Err)
				}
			}
			byP := map[int32][]kv{}
			last := map[int32]int64{}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Key != nil {
					byP[r.Partition] = append(byP[r.Partition], kv{k: r.Key, v: r.Value, del: r.Value == nil})
				}
				last[r.Partition] = r.Offset
			})
			for p, off := range last {
				if int(p) >= len(gc.stores) {
					continue
				}
				if err := gc.stores[p].apply(byP[p], off+1); err != nil {
					w.fail(fmt.Errorf("streams: global table %s partition %d: %w", gc.name, p, err))
					return
				}
			}
			if ctx.Err() == nil && len(fs.Errors()) > 0 && fs.NumRecords() == 0 {
				select { // do not spin on a broker that is away
				case <-ctx.Done():
				case <-time.After(250 * time.Millisecond):
				}
			}
		}
	}()
	return nil
}

func (gc *globalCore) close(w *worker) {
	if gc.stop != nil {
		gc.stop()
		<-gc.done
		gc.stop = nil
	}
	gc.mu.Lock()
	stores := gc.stores
	gc.stores = nil
	gc.mu.Unlock()
	for p, st := range stores {
		if err := st.close(); err != nil {
			w.log.Warn("streams: closing global table store", "table", gc.name, "partition", p, "err", err)
		}
	}
}

// partitionCount returns the partition count of topic.
func (w *worker) partitionCount(ctx context.Context, topic string) (int32, error) {
	var n int32
	err := w.retry(ctx, "reading the partition count of "+topic, func() error {
		var err error
		if w.app.mem != nil {
			n, err = w.app.mem.partitionCount(ctx, topic)
		} else {
			n, err = kafkaAdmin{kadm.NewClient(w.tr.(*kafkaTransport).cl)}.partitionCount(ctx, topic)
		}
		if err == nil && n == 0 {
			err = fmt.Errorf("streams: topic %s has no partitions", topic)
		}
		return err
	})
	return n, err
}

// openGlobals loads the app's global tables (at worker start).
func (w *worker) openGlobals(ctx context.Context) error {
	if w.app.joins == nil {
		return nil
	}
	for i, gc := range w.app.joins.globals {
		if err := gc.open(ctx, w); err != nil {
			for _, o := range w.app.joins.globals[:i] {
				o.close(w)
			}
			return err
		}
	}
	return nil
}

// catchUpGlobals brings the global tables to the end of their topics
// (the Driver's worker, which has no reader goroutines).
func (w *worker) catchUpGlobals(ctx context.Context) error {
	if w.app.joins == nil || w.app.mem == nil {
		return nil
	}
	for _, gc := range w.app.joins.globals {
		if err := gc.catchUp(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) closeGlobals() {
	if w.app.joins == nil {
		return
	}
	for _, gc := range w.app.joins.globals {
		gc.close(w)
	}
}

// JoinGlobal joins each record of stream with the value global holds for
// keyMapper(key, value) (Kafka Streams' KStream-GlobalKTable join): the
// result goes to out with the stream record's key and timestamp. InnerJoin
// skips records whose mapped key is not in the table; LeftJoin calls
// joiner with found false. Stream records with a null key or value are
// skipped. No co-partitioning is needed.
func JoinGlobal[K, V, GK, GV, R any](app *App, name string, stream *Topic[K, V], global *GlobalTable[GK, GV], keyMapper func(key K, v V) GK, kind JoinKind, joiner func(key K, v V, g GV, found bool) R, out *Topic[K, R]) {
	app.register(func() error {
		if kind != InnerJoin && kind != LeftJoin {
			return fmt.Errorf("%w: join %s: a stream-global table join is inner or left, not %s", ErrTopology, name, kind)
		}
		if err := app.declareJoin(name, nil, nil); err != nil {
			return err
		}
		app.joins.addHandler(stream.spec, false, func(ctx context.Context, r *kgo.Record) error {
			if r.Key == nil || r.Value == nil {
				return nil
			}
			ev, err := stream.decode(r)
			if err != nil {
				return decodeFailed(ctx, name, r, err)
			}
			g, found, err := global.Lookup(keyMapper(ev.Key, ev.Value))
			if err != nil {
				return err
			}
			if !found && kind == InnerJoin {
				return nil
			}
			return emit(ctx, out, ev.Key, joiner(ev.Key, ev.Value, g, found), false, r.Timestamp)
		})
		return nil
	})
}
