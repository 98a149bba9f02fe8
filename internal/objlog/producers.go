package objlog

// Idempotent producers on the object-stored log (DESIGN.md, "Cluster
// mode", "Idempotent producers"). A Partition keeps two producer states
// (internal/log's ProducerState, the rules of single-node mode, with the
// partition's transactions, txn.go):
// committed, the state after every batch below the hw, equal to etcd's
// producers/<tp>; and prod, committed plus the batches appended since,
// which Append checks. A flush carrying idempotent batches of a partition
// commits the state after them in the same etcd txn as their offsets
// (cluster.PartitionAppend.Producers), so state and data are durable
// together; a new leader loads it at Acquire. A flush that fails resets
// prod to committed (its batches and those after it are dropped); one of
// unknown outcome leaves it to the resync, which adopts the flush's state
// if the flush applied and reloads it from etcd when etcd moved otherwise.

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// duplicateLocked answers a retry of a batch already appended (called
// with mu held): committed, its offsets at once; else the original's
// completion.
func (p *Partition) duplicateLocked(d log.Duplicate) (*Completion, error) {
	if d.BaseOffset < p.hw {
		c := &Completion{done: make(chan struct{})}
		c.finish(AppendResult{BaseOffset: d.BaseOffset, LastOffset: d.LastOffset, LogAppendTime: -1, LogStartOffset: p.logStart}, nil)
		return c, nil
	}
	if pa := p.pending[d.BaseOffset]; pa != nil {
		return pa.c, nil
	}
	// Cannot happen: prod holds only committed and pending batches.
	return nil, fmt.Errorf("%w: %s: the batch a retry repeats (offset %d) is neither committed nor pending", ErrBusy, p.tp, d.BaseOffset)
}

// resetProducersLocked makes st the committed producer state and resets
// the working state to it (called with mu held; nothing of the partition
// is waiting or in flight).
func (p *Partition) resetProducersLocked(st *log.ProducerState) {
	p.committed = st
	p.prod = st.Clone()
	clear(p.pending)
	p.stateBytes.Store(int64(st.MarshalSize()))
}

// loadProducers reads a partition's committed producer state from etcd
// and forgets the producers expired by now (producer.id.expiration.ms).
// hw is where the caller's view of the partition ends: a state read at
// another hw (a commit applied between the caller's reads) is an
// ErrTimeout, to be retried.
func (f *Flusher) loadProducers(ctx context.Context, tp cluster.TopicPartition, cfg *log.Config, hw int64) (*log.ProducerState, error) {
	b, at, err := f.client.Producers(ctx, tp)
	if err != nil {
		return nil, mapClusterErr(err)
	}
	if at != hw {
		return nil, fmt.Errorf("%w: %s: the hw moved from %d to %d while loading", ErrTimeout, tp, hw, at)
	}
	if b == nil {
		return log.NewProducerState(), nil
	}
	st, err := log.UnmarshalProducerState(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: producer state in etcd: %w", ErrStorage, tp, err)
	}
	st.Expire(f.cfg.Clock.Now().UnixMilli(), expirationMs(cfg))
	return st, nil
}

// expirationMs is the topic's producer.id.expiration.ms, Kafka's default
// (one day) when unset.
func expirationMs(cfg *log.Config) int64 {
	if cfg.ProducerIDExpirationMs <= 0 {
		return 86400000
	}
	return cfg.ProducerIDExpirationMs
}

// producersAfter is the partition's committed producer state after the
// flush's appends (data batches and markers), expired at now and with the
// aborted transactions below the log start pruned; nil if none of them
// has a producer id (the state in etcd stays as it is).
func (p *Partition) producersAfter(pas []*pendingAppend, now time.Time) *log.ProducerState {
	var st *log.ProducerState
	var logStart int64
	for _, pa := range pas {
		if pa.h.ProducerID < 0 {
			continue
		}
		if st == nil {
			p.mu.Lock()
			st, logStart = p.committed.Clone(), p.logStart
			p.mu.Unlock()
		}
		if pa.h.Control() {
			st.UpdateMarker(&pa.h, pa.marker)
		} else {
			st.Update(&pa.h)
		}
	}
	if st != nil {
		st.Expire(now.UnixMilli(), expirationMs(p.cfg.Load()))
		st.Prune(logStart)
	}
	return st
}

// committedLocked records a committed flush's producer state (called
// with mu held): its batches leave pending; the producers it expired
// leave the working state too.
func (p *Partition) committedLocked(g *group) {
	if g.prod == nil {
		return
	}
	p.committed = g.prod
	p.stateBytes.Store(int64(len(g.app.Producers)))
	for _, pa := range g.appends {
		if p.pending[pa.h.BaseOffset] == pa {
			delete(p.pending, pa.h.BaseOffset)
		}
	}
	p.prod.Expire(p.f.cfg.Clock.Now().UnixMilli(), expirationMs(p.cfg.Load()))
	p.prod.Prune(p.logStart)
}
