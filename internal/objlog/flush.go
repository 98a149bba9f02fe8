package objlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// group is one partition's part of a flush: its appends, in offset order,
// and the cluster append (one index entry) that commits them.
type group struct {
	p       *Partition
	appends []*pendingAppend
	app     cluster.PartitionAppend
	// prod is the partition's producer state after this flush, committed
	// with it (app.Producers); nil when the flush carries no idempotent
	// batch of the partition.
	prod *log.ProducerState
}

// resyncTimeout bounds one read of a resyncing partition's hw.
const resyncTimeout = 5 * time.Second

// flush makes one flush: ONE object, ONE commit, then every append of it
// is acknowledged or failed.
func (f *Flusher) flush(ctx context.Context) {
	taken := f.take()
	defer func() {
		f.mu.Lock()
		f.inflight = 0
		f.mu.Unlock()
	}()
	if len(taken) == 0 {
		return
	}
	byPart := map[*Partition]*group{}
	var groups []*group
	for _, pa := range taken {
		g := byPart[pa.p]
		if g == nil {
			g = &group{p: pa.p}
			byPart[pa.p] = g
			groups = append(groups, g)
		}
		g.appends = append(g.appends, pa)
	}
	name := f.objectName()
	w := objstore.NewWriter()
	var data []byte
	for _, g := range groups {
		data = data[:0]
		maxTs, count := int64(-1), int64(0)
		for _, pa := range g.appends {
			data = append(data, pa.batch...)
			maxTs = max(maxTs, pa.h.MaxTimestamp)
			count += int64(pa.h.NumRecords)
		}
		first, last := g.appends[0].h.BaseOffset, g.appends[len(g.appends)-1].h.LastOffset()
		epoch := g.appends[0].epoch
		e, err := w.Add(objstore.Entry{TopicID: g.p.tp.TopicID, Partition: g.p.tp.Partition, BaseOffset: first, LastOffset: last,
			MaxTimestamp: maxTs, LeaderEpoch: epoch, RecordCount: int32(count)}, data)
		if err != nil {
			// Only an impossible entry gets here (offsets assigned by
			// this package); the whole flush fails, nothing applied.
			f.fail(groups, fmt.Errorf("%w: building object %s: %w", ErrStorage, name, err), false, nil)
			return
		}
		g.app = cluster.PartitionAppend{Partition: g.p.tp, LeaderEpoch: epoch, HW: last + 1, Entries: []cluster.IndexEntry{{
			BaseOffset: first, LastOffset: last, Object: name, Position: e.Position, Length: e.Length,
			MaxTimestamp: maxTs, LeaderEpoch: epoch, RecordCount: count, CRC: e.CRC,
		}}}
		g.prod = g.p.producersAfter(g.appends, f.cfg.Clock.Now())
		if g.prod != nil {
			g.app.Producers, _ = g.prod.MarshalBinary()
		}
	}
	f.persist(ctx, name, w.Finish(), groups)
}

// persist writes the object and commits it, retrying retriable errors
// until Config.RetryTimeout, and resolves every group. See the package
// documentation ("Commit outcomes") for the reasoning.
func (f *Flusher) persist(ctx context.Context, name string, obj []byte, groups []*group) {
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RetryTimeout)
	defer cancel()
	backoff := f.cfg.RetryBackoff
	pause := func() bool {
		select {
		case <-f.cfg.Clock.After(backoff):
			backoff = min(2*backoff, maxRetryBackoff)
			return true
		case <-rctx.Done():
			return false
		}
	}
	for {
		err := f.store.Put(rctx, name, obj)
		if err == nil {
			break
		}
		if !errors.Is(err, objstore.ErrRetriable) {
			f.fail(groups, fmt.Errorf("%w: writing object %s: %w", ErrStorage, name, err), false, nil)
			return
		}
		if rctx.Err() != nil || !pause() {
			f.fail(groups, fmt.Errorf("%w: writing object %s: %w", ErrTimeout, name, err), false, nil)
			return
		}
		f.log.Warn("object write failed, retrying", "object", name, "err", err)
	}
	meta := cluster.ObjectMeta{Name: name, Size: int64(len(obj)), Created: f.cfg.Clock.Now()}
	// unknown: an attempt failed with an unknown outcome; it may have
	// been applied, even long after this flush gave up (a txn queued in
	// etcd). Commit proves an applied attempt by the object's record.
	unknown := false
	live := groups
	for {
		apps := make([]cluster.PartitionAppend, len(live))
		for i, g := range live {
			apps[i] = g.app
		}
		err := f.commit(rctx, apps, meta)
		var notLeader *cluster.NotLeaderError
		var moved *cluster.HWMismatchError
		switch {
		case err == nil:
			// This attempt, or an earlier one of this commit (Commit
			// found the object's record), was applied: all of it.
			f.succeed(live)
			return
		case errors.As(err, &notLeader):
			// Nothing applied by this attempt. Those partitions are
			// another broker's now; commit the rest at once.
			var kept []*group
			for _, g := range live {
				if slices.Contains(notLeader.Partitions, g.p.tp) {
					lerr := fmt.Errorf("%w: %s: %w", ErrNotLeader, g.p.tp, err)
					g.p.lose(lerr)
					finishAll(g.appends, lerr)
					continue
				}
				kept = append(kept, g)
			}
			if live = kept; len(live) == 0 {
				if !unknown {
					f.deleteGarbage(ctx, name)
				}
				return
			}
		case errors.As(err, &moved):
			// No attempt of this commit was applied (Commit found no
			// record of the object) but etcd's hw is not where this
			// leader was: an earlier flush of unknown outcome was applied
			// late (or etcd was edited). That partition reloads from
			// etcd. An attempt of this commit still queued in etcd can
			// apply only while the hw is its base; the hw only grows, so
			// past it never.
			pending := unknown && moved.Actual < moved.Expected
			f.log.Warn("commit refused: partition hw moved under its leader", "object", name, "err", err)
			f.fail(live, fmt.Errorf("%w: committing object %s: %w", ErrTimeout, name, err), pending, &moved.Partition)
			if !pending {
				f.deleteGarbage(ctx, name)
			}
			return
		case cluster.Retriable(err), rctx.Err() != nil:
			// Past this flush's deadline any error is a timeout: the
			// outcome is unknown, and the client may retry.
			unknown = true
			if rctx.Err() != nil || !pause() {
				f.fail(live, fmt.Errorf("%w: committing object %s: %w", ErrTimeout, name, err), true, nil)
				return
			}
			f.log.Warn("commit failed, retrying", "object", name, "err", err)
		default:
			// Only a refusal before the txn was sent (too large, invalid)
			// proves nothing was applied; any other error may come after
			// etcd applied it: the outcome is unknown.
			refused := errors.Is(err, cluster.ErrTxnTooLarge) || errors.Is(err, cluster.ErrInvalid)
			f.log.Error("commit failed", "object", name, "refused", refused, "err", err)
			f.fail(live, fmt.Errorf("%w: committing object %s: %w", ErrStorage, name, err), unknown || !refused, nil)
			if refused && !unknown {
				f.deleteGarbage(ctx, name)
			}
			return
		}
	}
}

func finishAll(pas []*pendingAppend, err error) {
	for _, pa := range pas {
		pa.c.finish(AppendResult{}, err)
	}
}

// succeed publishes committed groups (index, hw) and acknowledges them.
func (f *Flusher) succeed(groups []*group) {
	for _, g := range groups {
		p := g.p
		p.mu.Lock()
		if p.hw == g.app.Entries[0].BaseOffset {
			p.index = append(p.index, g.app.Entries...)
			p.hw = g.app.HW
			p.committedLocked(g)
			p.changedLocked()
		} else if p.state != lost {
			// Cannot happen: commits of a partition are sequential and
			// fenced on its hw.
			f.log.Error("committed flush does not continue the partition", "partition", p.tp.String(), "hw", p.hw, "base", g.app.Entries[0].BaseOffset)
		}
		logStart := p.logStart
		p.mu.Unlock()
		for _, pa := range g.appends {
			pa.c.finish(AppendResult{BaseOffset: pa.h.BaseOffset, LastOffset: pa.h.LastOffset(), LogAppendTime: pa.appendTime, LogStartOffset: logStart}, nil)
		}
	}
}

// fail fails a flush's groups with err. The appends queued after them
// (offsets assigned past the failed ones) fail too. With unknown (the
// commit may have been applied) or for the partition resync names, the
// partition waits for etcd's hw (resyncing); otherwise nothing was
// applied and it continues at its hw at once.
func (f *Flusher) fail(groups []*group, err error, unknown bool, resync *cluster.TopicPartition) {
	for _, g := range groups {
		p := g.p
		var dropped []*pendingAppend
		p.mu.Lock()
		switch {
		case p.state == lost:
		case unknown || (resync != nil && *resync == p.tp):
			p.state = resyncing
			p.unknown, p.unknownProd = nil, nil
			if unknown {
				app := g.app
				p.unknown, p.unknownProd = &app, g.prod
			}
			dropped = f.dropQueued(p)
			f.mu.Lock()
			f.resync[p] = time.Time{} // due now
			f.mu.Unlock()
			p.changedLocked()
		default:
			p.next = p.hw
			dropped = f.dropQueued(p)
			p.resetProducersLocked(p.committed)
		}
		p.mu.Unlock()
		finishAll(g.appends, err)
		finishAll(dropped, fmt.Errorf("%w (a flush before this batch failed)", err))
	}
}

// deleteGarbage deletes an object no commit references (best effort; an
// object left behind has no objects/ record).
func (f *Flusher) deleteGarbage(ctx context.Context, name string) {
	dctx, cancel := context.WithTimeout(ctx, resyncTimeout)
	defer cancel()
	if err := f.store.Delete(dctx, name); err != nil {
		f.log.Warn("could not delete an uncommitted object", "object", name, "err", err)
	}
}

// resyncAll asks etcd where each resyncing partition due for it stands
// and lets it take appends again; a partition etcd does not answer for
// stays resyncing and is tried again after maxRetryBackoff (the others go
// on meanwhile).
func (f *Flusher) resyncAll(ctx context.Context) {
	now := f.cfg.Clock.Now()
	f.mu.Lock()
	ps := make([]*Partition, 0, len(f.resync))
	for p, due := range f.resync {
		if !due.After(now) {
			ps = append(ps, p)
		}
	}
	f.mu.Unlock()
	for _, p := range ps {
		if ctx.Err() != nil {
			return
		}
		err := f.resyncOne(ctx, p)
		f.mu.Lock()
		if _, ok := f.resync[p]; ok {
			if err != nil {
				f.resync[p] = f.cfg.Clock.Now().Add(maxRetryBackoff)
			} else {
				delete(f.resync, p)
			}
		}
		f.mu.Unlock()
		if err != nil {
			f.log.Warn("partition resync failed, retrying", "partition", p.tp.String(), "retry_in", maxRetryBackoff, "err", err)
		}
	}
}

// nextResync is when the earliest resync is due, ok false if none waits.
func (f *Flusher) nextResync() (due time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.resync {
		if !ok || d.Before(due) {
			due, ok = d, true
		}
	}
	return due, ok
}

func (f *Flusher) resyncOne(ctx context.Context, p *Partition) error {
	rctx, cancel := context.WithTimeout(ctx, resyncTimeout)
	defer cancel()
	hw, err := f.client.HW(rctx, p.tp)
	if err != nil {
		return err
	}
	p.mu.Lock()
	local, unknown, unknownProd := p.hw, p.unknown, p.unknownProd
	p.mu.Unlock()
	applied := false
	if hw != local && unknown != nil && hw == unknown.HW {
		// etcd's hw is where the failed flush would have taken it, but
		// another flush of the same offsets (an earlier one of unknown
		// outcome, applied late) may end there too: the index entry's
		// object says whose it is (object names are unique per flush).
		e, ok, err := f.client.IndexEntryAt(rctx, p.tp, unknown.Entries[0].BaseOffset)
		if err != nil {
			return err
		}
		applied = ok && e.Object == unknown.Entries[0].Object && e.LastOffset == unknown.Entries[0].LastOffset
	}
	var idx []cluster.IndexEntry
	var logStart int64
	var prod *log.ProducerState
	reload := hw != local && !applied
	if reload {
		// Not a state this leader knows: read it all from etcd.
		if idx, err = f.client.LoadIndex(rctx, p.tp); err != nil {
			return err
		}
		if logStart, err = f.client.LogStartOffset(rctx, p.tp); err != nil {
			return err
		}
		if hw, err = f.client.HW(rctx, p.tp); err != nil {
			return err
		}
		if idx, err = checkIndex(p.tp, idx, logStart, hw); err != nil {
			return err
		}
		if prod, err = f.loadProducers(rctx, p.tp, p.cfg.Load(), hw); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != resyncing {
		return nil
	}
	switch {
	case reload:
		p.index, p.logStart, p.hw = idx, logStart, hw
		p.resetProducersLocked(prod)
	case applied:
		// The failed flush was applied after all.
		p.index = append(p.index, unknown.Entries...)
		p.hw = hw
		if unknownProd != nil {
			p.resetProducersLocked(unknownProd)
		} else {
			p.resetProducersLocked(p.committed)
		}
	default:
		p.resetProducersLocked(p.committed)
	}
	p.next, p.state, p.unknown, p.unknownProd = p.hw, leading, nil, nil
	p.changedLocked()
	f.log.Info("partition resynced from etcd", "partition", p.tp.String(), "hw", p.hw, "failed_flush_applied", applied, "reloaded", reload)
	return nil
}
