package streams

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"sync"
	"time"
)

// TTL expires the keys of a table that have not been written for d: such a
// key reads as missing at once (Get, Lookup, Items), and the end of the
// next batch of its worker deletes it from the local store and writes its
// tombstone to the changelog, in the batch (in its transaction under
// ExactlyOnce), so compaction removes it and no restore brings it back.
// d <= 0 is no TTL.
//
// Kafka Streams and Faust have no TTL for non-windowed state. The clock is
// processing time: the app's Clock (time.Now unless set; the Driver's fake
// clock under a Driver), read when a key is written and when expiry runs.
// Event time is not available to a plain table (Set takes no timestamp),
// and processing time expires keys of partitions that no longer receive
// records; Flink's state TTL makes the same choice. Each stored value
// carries its last write time (8 bytes before the value, in the store and
// in the changelog), so the age survives restarts and restores. A worker
// expires keys only at the end of a batch it processes.
func TTL[V any](d time.Duration) TableOption[V] {
	return func(o *tableOpts[V]) { o.ttl = d }
}

// ttlWrap prefixes v with the write time and notes the key for expiry.
func (tc *tableCore) ttlWrap(k []byte, p int32, v []byte) []byte {
	now := tc.app.cfg.now().UnixMilli()
	out := make([]byte, 8+len(v))
	binary.BigEndian.PutUint64(out, uint64(now))
	copy(out[8:], v)
	if ix, ok := tc.ext.(*ttlIndex); ok {
		ix.touch(p, k, now)
	}
	return out
}

// ttlUnwrap strips the write time; an expired (or malformed) value reads
// as missing.
func (tc *tableCore) ttlUnwrap(v []byte) ([]byte, bool) {
	at, rest, ok := splitTTL(v)
	if !ok || tc.expired(at) {
		return nil, false
	}
	return rest, true
}

func (tc *tableCore) expired(at int64) bool {
	return at+tc.ttl.Milliseconds() <= tc.app.cfg.now().UnixMilli()
}

func splitTTL(v []byte) (int64, []byte, bool) {
	if len(v) < 8 {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(v)), v[8:], true
}

func (tc *tableCore) ttlItems(seq iter.Seq2[[]byte, []byte]) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for k, v := range seq {
			if v, ok := tc.ttlUnwrap(v); ok && !yield(k, v) {
				return
			}
		}
	}
}

// rawGet returns a key's stored value, TTL prefix included; ok is false
// when it is missing or the partition is not owned.
func (tc *tableCore) rawGet(p int32, k []byte) ([]byte, bool, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tp := tc.parts[p]
	if tp == nil {
		return nil, false, nil
	}
	if w, ok := tp.overlay[string(k)]; ok {
		return w.v, !w.del, nil
	}
	return tp.st.get(k)
}

// ownedParts lists the partitions restored on this worker.
func (tc *tableCore) ownedParts() []int32 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	ps := make([]int32, 0, len(tc.parts))
	for p := range tc.parts {
		ps = append(ps, p)
	}
	return ps
}

// tableExt is the end-of-batch work of a table that has some (windowed
// tables, TTL), run by the worker once the batch's agents are idle and
// before it commits; ctx is a batch context (writes and sends join it).
type tableExt interface {
	beforeCommit(ctx context.Context) error
}

// ttlIndex knows every key of the owned partitions once, ordered by the
// time it may expire at (its last write plus the TTL, as last seen): the
// end of a batch pops what is due, and deletes it when the stored write
// time confirms it, or pushes it again at its new time.
type ttlIndex struct {
	tc *tableCore

	mu    sync.Mutex
	gen   int64 // tc.gen the index was built at
	built bool
	known map[int32]map[string]bool
	due   expiryHeap
}

func newTTLIndex(tc *tableCore) *ttlIndex { return &ttlIndex{tc: tc} }

func (ix *ttlIndex) touch(p int32, k []byte, now int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.built {
		return // the next rebuild scans the key
	}
	m := ix.known[p]
	if m == nil {
		m = map[string]bool{}
		ix.known[p] = m
	}
	if !m[string(k)] {
		m[string(k)] = true
		heap.Push(&ix.due, expiry{at: now + ix.tc.ttl.Milliseconds(), p: p, k: string(k)})
	}
}

// rebuildLocked scans the owned partitions (after a restore, a revoke or
// an aborted batch: the index may have gone stale).
func (ix *ttlIndex) rebuildLocked() {
	tc := ix.tc
	ix.gen = tc.gen.Load()
	ix.known, ix.due = map[int32]map[string]bool{}, nil
	for _, p := range tc.ownedParts() {
		m := map[string]bool{}
		for k, v := range tc.rawItems(p) {
			at, _, ok := splitTTL(v)
			if !ok {
				at = 0 // malformed: due at once, deleted
			}
			m[string(k)] = true
			ix.due = append(ix.due, expiry{at: at + tc.ttl.Milliseconds(), p: p, k: string(k)})
		}
		ix.known[p] = m
	}
	heap.Init(&ix.due)
	ix.built = true
}

func (ix *ttlIndex) beforeCommit(ctx context.Context) error {
	tc := ix.tc
	ix.mu.Lock()
	if !ix.built || ix.gen != tc.gen.Load() {
		ix.rebuildLocked()
	}
	now := tc.app.cfg.now().UnixMilli()
	var dels []expiry
	for len(ix.due) > 0 && ix.due[0].at <= now {
		e := heap.Pop(&ix.due).(expiry)
		v, ok, err := tc.rawGet(e.p, []byte(e.k))
		if err != nil {
			ix.mu.Unlock()
			return fmt.Errorf("streams: table %s partition %d: %w", tc.name, e.p, err)
		}
		if !ok {
			delete(ix.known[e.p], e.k)
			continue
		}
		at, _, wellFormed := splitTTL(v)
		if wellFormed && at+tc.ttl.Milliseconds() > now {
			e.at = at + tc.ttl.Milliseconds()
			heap.Push(&ix.due, e)
			continue
		}
		delete(ix.known[e.p], e.k)
		dels = append(dels, e)
	}
	ix.mu.Unlock()
	for _, e := range dels {
		if err := tc.set(ctx, e.p, []byte(e.k), nil, true); err != nil {
			return err
		}
	}
	if len(dels) > 0 {
		tc.w.log.Debug("streams: table keys expired (TTL)", "table", tc.name, "keys", len(dels))
	}
	return nil
}

// expiry is a key due at a time (Unix ms).
type expiry struct {
	at int64
	p  int32
	k  string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
