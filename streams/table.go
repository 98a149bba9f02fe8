package streams

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// TopicRef is a declared topic, whatever its key and value types: a table's
// source, for co-partitioning.
type TopicRef interface {
	Name() string
	kafkaTopic() *topicSpec
}

// tableSpec is a declared table.
type tableSpec struct {
	name      string
	changelog string
	source    *topicSpec
	core      *tableCore
	fromTopic bool // a TableOf: its changelog is its source topic
	// render decodes a stored value for an interactive query's answer.
	render func([]byte) (any, error)
}

// TableOption configures NewTable.
type TableOption[V any] func(*tableOpts[V])

type tableOpts[V any] struct {
	def     func() V
	configs map[string]string
	ttl     time.Duration
}

// Default sets the value Get returns for a missing key (Faust's
// default=int is Default(func() int64 { return 0 }); without it, Get
// returns V's zero value).
func Default[V any](f func() V) TableOption[V] {
	return func(o *tableOpts[V]) { o.def = f }
}

// ChangelogConfig sets a config of the changelog topic when it is created
// (cleanup.policy is always compact).
func ChangelogConfig[V any](name, value string) TableOption[V] {
	return func(o *tableOpts[V]) { o.configs[name] = value }
}

// Table is a partitioned key/value map of an app (Faust's app.Table): each
// partition lives on the worker that owns the same partition of the table's
// source topic, in a local store restored from the compacted changelog
// topic APPID-NAME-changelog. Reads see the current batch's writes; writes
// become durable with the batch (see the package doc).
//
// Table methods take the partition explicitly: pass the partition of the
// event being processed (ev.Partition), as Faust does implicitly. They are
// meant for agents: a read from elsewhere sees the running batch's
// uncommitted writes and may race with a rebalance closing the partition
// (serving tables to other readers is interactive queries' job).
type Table[K, V any] struct {
	spec  *tableSpec
	key   codec.Codec[K]
	value codec.Codec[V]
	def   func() V
}

// NewTable declares a table named name, co-partitioned with source.
func NewTable[K, V any](app *App, name string, source TopicRef, key codec.Codec[K], value codec.Codec[V], opts ...TableOption[V]) *Table[K, V] {
	o := tableOpts[V]{configs: map[string]string{}}
	for _, f := range opts {
		f(&o)
	}
	spec := &tableSpec{name: name, changelog: app.id + "-" + name + "-changelog", source: source.kafkaTopic()}
	spec.render = func(b []byte) (any, error) { return value.Decode(b) }
	spec.core = &tableCore{app: app, name: name, changelog: spec.changelog, source: spec.source}
	if o.ttl > 0 {
		spec.core.ttl = o.ttl
		spec.core.ext = newTTLIndex(spec.core)
	}
	t := &Table[K, V]{spec: spec, key: key, value: value, def: o.def}
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: table: %w", ErrTopology, err)
		}
		if spec.source == nil {
			return fmt.Errorf("%w: table %s: its source must be a topic", ErrTopology, name)
		}
		for _, other := range app.tables {
			if other.name == name {
				return fmt.Errorf("%w: two tables named %q", ErrTopology, name)
			}
		}
		if _, ok := app.topics[spec.changelog]; ok {
			return fmt.Errorf("%w: table %s: topic %s already declared", ErrTopology, name, spec.changelog)
		}
		cl := &topicSpec{name: spec.changelog, internal: true, copartOf: spec.source, configs: map[string]*string{}}
		for k, v := range o.configs {
			cl.configs[k] = &v
		}
		compact := "compact"
		cl.configs["cleanup.policy"] = &compact
		app.topics[spec.changelog] = cl
		app.tables = append(app.tables, spec)
		return nil
	})
	return t
}

// Name returns the table's name.
func (t *Table[K, V]) Name() string { return t.spec.name }

// Changelog returns the name of the table's changelog topic.
func (t *Table[K, V]) Changelog() string { return t.spec.changelog }

// Get returns the value of key in partition p, or the default. A failure
// (a partition this worker does not own, a store error, an undecodable
// stored value) fails the current batch: it does not commit, and Run
// returns the error.
func (t *Table[K, V]) Get(p int32, key K) V {
	v, ok := t.Lookup(p, key)
	if !ok && t.def != nil {
		return t.def()
	}
	return v
}

// Lookup returns the value of key in partition p and whether it is set.
// Failures are handled as Get's.
func (t *Table[K, V]) Lookup(p int32, key K) (V, bool) {
	var zero V
	kb, err := t.key.Encode(key)
	if err != nil {
		t.spec.core.setErr(fmt.Errorf("streams: table %s: key: %w", t.spec.name, err))
		return zero, false
	}
	vb, ok := t.spec.core.get(p, kb)
	if !ok {
		return zero, false
	}
	v, err := t.value.Decode(vb)
	if err != nil {
		t.spec.core.setErr(fmt.Errorf("streams: table %s partition %d: stored value: %w", t.spec.name, p, err))
		return zero, false
	}
	return v, true
}

// Set sets key to value in partition p. ctx must be the context the agent
// function got: the write joins its batch.
func (t *Table[K, V]) Set(ctx context.Context, p int32, key K, value V) error {
	kb, err := t.key.Encode(key)
	if err != nil {
		return fmt.Errorf("streams: table %s: key: %w", t.spec.name, err)
	}
	vb, err := t.value.Encode(value)
	if err != nil {
		return fmt.Errorf("streams: table %s: value: %w", t.spec.name, err)
	}
	return t.spec.core.set(ctx, p, kb, vb, false)
}

// Delete removes key from partition p (a tombstone in the changelog).
func (t *Table[K, V]) Delete(ctx context.Context, p int32, key K) error {
	kb, err := t.key.Encode(key)
	if err != nil {
		return fmt.Errorf("streams: table %s: key: %w", t.spec.name, err)
	}
	return t.spec.core.set(ctx, p, kb, nil, true)
}

// Items ranges over partition p's keys and values in the order of their
// encoded keys, the current batch's writes included.
func (t *Table[K, V]) Items(p int32) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for kb, vb := range t.spec.core.items(p) {
			k, err := t.key.Decode(kb)
			if err != nil {
				t.spec.core.setErr(fmt.Errorf("streams: table %s: stored key: %w", t.spec.name, err))
				return
			}
			v, err := t.value.Decode(vb)
			if err != nil {
				t.spec.core.setErr(fmt.Errorf("streams: table %s: stored value: %w", t.spec.name, err))
				return
			}
			if !yield(k, v) {
				return
			}
		}
	}
}

// tableCore is a table's partitions on this worker, in bytes.
type tableCore struct {
	app       *App
	name      string
	changelog string
	source    *topicSpec

	mu      sync.Mutex
	w       *worker
	parts   map[int32]*tablePart
	pending map[int32]bool // assigned, not yet restored
	err     error          // sticky failure of the current batch

	// gen changes whenever cached views of the partitions go stale (a
	// batch's writes discarded, partitions restored or closed); ext
	// (windowed tables, TTL) rebuilds its caches when it sees it change.
	gen atomic.Int64
	ext tableExt
	ttl time.Duration // 0: no TTL (see ttl.go)
}

// tablePart is one partition: its store, the batch's uncommitted writes,
// and the last changelog offset the batch produced.
type tablePart struct {
	st      store
	overlay map[string]kv
	last    int64 // -1: nothing produced in this batch
}

func (tc *tableCore) reset(w *worker) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.w, tc.parts, tc.pending, tc.err = w, map[int32]*tablePart{}, map[int32]bool{}, nil
}

func (tc *tableCore) setErr(err error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.failLocked(err)
}

func (tc *tableCore) stickyErr() error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.err
}

func (tc *tableCore) part(p int32) (*tablePart, error) {
	tp := tc.parts[p]
	if tp == nil {
		return nil, fmt.Errorf("%w: table %s partition %d", ErrNotOwned, tc.name, p)
	}
	return tp, nil
}

func (tc *tableCore) get(p int32, k []byte) ([]byte, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tp, err := tc.part(p)
	if err != nil {
		tc.failLocked(err)
		return nil, false
	}
	if w, ok := tp.overlay[string(k)]; ok {
		if tc.ttl > 0 && !w.del {
			return tc.ttlUnwrap(w.v)
		}
		return w.v, !w.del
	}
	v, ok, err := tp.st.get(k)
	if err != nil {
		tc.failLocked(err)
		return nil, false
	}
	if tc.ttl > 0 && ok {
		return tc.ttlUnwrap(v)
	}
	return v, ok
}

// failLocked makes err the current batch's failure. A read outside a batch
// (not from an agent) only logs it: it must not fail the next batch.
func (tc *tableCore) failLocked(err error) {
	if tc.w == nil || tc.w.cur.Load() == nil {
		if tc.w != nil {
			tc.w.log.Warn("streams: table read outside a batch failed", "table", tc.name, "err", err)
		}
		return
	}
	if tc.err == nil {
		tc.err = err
	}
}

func (tc *tableCore) set(ctx context.Context, p int32, k, v []byte, del bool) error {
	ac, ok := ctx.Value(agentCtxKey{}).(*agentCtx)
	if !ok || !ac.batched {
		return fmt.Errorf("streams: table %s: writes must come from an agent reading a topic (pass the agent's ctx)", tc.name)
	}
	if ac.w.cur.Load() == nil {
		// Checked before the overlay changes: a refused write must leave
		// the table as it was.
		return fmt.Errorf("streams: table %s: a write from an agent outside of a batch", tc.name)
	}
	if tc.ttl > 0 && !del {
		v = tc.ttlWrap(k, p, v)
	}
	tc.mu.Lock()
	tp, err := tc.part(p)
	if err != nil {
		tc.mu.Unlock()
		return err
	}
	tp.overlay[string(k)] = kv{k: k, v: v, del: del}
	tc.mu.Unlock()
	r := newChangelogRecord(tc.changelog, p, k, v, del)
	return ac.w.produce(r)
}

func (tc *tableCore) items(p int32) iter.Seq2[[]byte, []byte] {
	if tc.ttl > 0 {
		return tc.ttlItems(tc.rawItems(p))
	}
	return tc.rawItems(p)
}

// rawItems is items with values as stored.
func (tc *tableCore) rawItems(p int32) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		tc.mu.Lock()
		tp, err := tc.part(p)
		if err != nil {
			tc.failLocked(err)
			tc.mu.Unlock()
			return
		}
		over := make([]kv, 0, len(tp.overlay))
		for _, w := range tp.overlay {
			over = append(over, w)
		}
		st := tp.st
		tc.mu.Unlock()
		slices.SortFunc(over, func(a, b kv) int { return compareBytes(a.k, b.k) })
		i := 0
		for k, v := range st.all() {
			for i < len(over) && compareBytes(over[i].k, k) < 0 {
				if !over[i].del && !yield(over[i].k, over[i].v) {
					return
				}
				i++
			}
			if i < len(over) && compareBytes(over[i].k, k) == 0 {
				if !over[i].del && !yield(over[i].k, over[i].v) {
					return
				}
				i++
				continue
			}
			if !yield(k, v) {
				return
			}
		}
		for ; i < len(over); i++ {
			if !over[i].del && !yield(over[i].k, over[i].v) {
				return
			}
		}
	}
}

// noteOffset records the changelog offset of an acknowledged write.
func (tc *tableCore) noteOffset(p int32, off int64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tp := tc.parts[p]; tp != nil && off > tp.last {
		tp.last = off
	}
}

// commit applies every partition's batch writes to its store.
func (tc *tableCore) commit() error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for p, tp := range tc.parts {
		if len(tp.overlay) == 0 && tp.last < 0 {
			continue
		}
		ws := make([]kv, 0, len(tp.overlay))
		for _, w := range tp.overlay {
			ws = append(ws, w)
		}
		ckpt, err := tp.st.checkpoint()
		if err != nil {
			return err
		}
		if tp.last >= 0 {
			ckpt = tp.last + 1
		}
		if err := tp.st.apply(ws, ckpt); err != nil {
			return fmt.Errorf("streams: table %s partition %d: %w", tc.name, p, err)
		}
		tp.overlay, tp.last = map[string]kv{}, -1
	}
	tc.err = nil
	return nil
}

// discard drops every partition's batch writes.
func (tc *tableCore) discard() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, tp := range tc.parts {
		tp.overlay, tp.last = map[string]kv{}, -1
	}
	tc.err = nil
	tc.gen.Add(1)
}

func (tc *tableCore) assign(ps []int32) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, p := range ps {
		if tc.parts[p] == nil {
			tc.pending[p] = true
		}
	}
}

func (tc *tableCore) revoke(ps []int32) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.gen.Add(1)
	for _, p := range ps {
		delete(tc.pending, p)
		if tp := tc.parts[p]; tp != nil {
			if err := tp.st.close(); err != nil {
				tc.w.log.Warn("streams: closing table store", "table", tc.name, "partition", p, "err", err)
			}
			delete(tc.parts, p)
		}
	}
}

// requeue closes every partition's store and marks it for restore before
// its next batch, as at assignment.
func (tc *tableCore) requeue() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.gen.Add(1)
	for p, tp := range tc.parts {
		if err := tp.st.close(); err != nil {
			tc.w.log.Warn("streams: closing table store", "table", tc.name, "partition", p, "err", err)
		}
		delete(tc.parts, p)
		tc.pending[p] = true
	}
}

func (tc *tableCore) closeAll() {
	tc.mu.Lock()
	ps := make([]int32, 0, len(tc.parts))
	for p := range tc.parts {
		ps = append(ps, p)
	}
	tc.mu.Unlock()
	tc.revoke(ps)
}

// restorePending restores the partitions assigned and not yet restored.
func (tc *tableCore) restorePending(ctx context.Context) error {
	tc.mu.Lock()
	var ps []int32
	for p := range tc.pending {
		ps = append(ps, p)
	}
	tc.mu.Unlock()
	slices.Sort(ps)
	for _, p := range ps {
		st, err := tc.openStore(p)
		if err != nil {
			return err
		}
		if err := tc.w.restore(ctx, tc, p, st); err != nil {
			st.close()
			return err
		}
		tc.mu.Lock()
		if tc.pending[p] { // still assigned
			delete(tc.pending, p)
			tc.parts[p] = &tablePart{st: st, overlay: map[string]kv{}, last: -1}
			tc.gen.Add(1)
			st = nil
		}
		tc.mu.Unlock()
		if st != nil {
			st.close()
		}
	}
	return nil
}

func (tc *tableCore) openStore(p int32) (store, error) {
	if tc.app.cfg.inMemory {
		return newMemStore(), nil
	}
	dir := filepath.Join(tc.app.cfg.stateDir, tc.app.id, tc.name, strconv.Itoa(int(p)))
	return openPebbleStore(dir)
}

func compareBytes(a, b []byte) int {
	return slices.Compare(a, b)
}
