package objlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// Flusher is one broker's flush buffer and the owner of the partitions it
// leads: appends of every partition wait in one FIFO queue; a flush takes
// a prefix of it, writes ONE object of those batches (the objstore
// format, one entry per partition) and makes ONE cluster Commit. Flushes
// run one at a time on the Flusher's goroutine, which keeps each
// partition's commits sequential, as cluster.Member.Commit requires.
type Flusher struct {
	cfg    Config
	member *cluster.Member
	client *cluster.Client
	store  objstore.Store
	reader objstore.RangeReader
	log    *slog.Logger
	// instance and seq make object names unique: node, lease, a random
	// instance id (a second Flusher of one member cannot overwrite the
	// first's objects), sequence number.
	instance uint32
	seq      atomic.Uint64
	// commit is member.Commit (tests wrap it to lose replies).
	commit func(context.Context, []cluster.PartitionAppend, cluster.ObjectMeta) error

	mu         sync.Mutex
	queue      []*pendingAppend
	queueBytes int64
	queueParts map[*Partition]int // queued appends per partition
	firstAt    time.Time          // when the queue's head was appended
	inflight   int64              // bytes of the flush being made
	parts      map[cluster.TopicPartition]*Partition
	resync     map[*Partition]time.Time // resyncing partitions: when to try next
	started    bool
	closing    bool
	kick       chan struct{}
	stop       context.CancelFunc
	done       chan struct{}
}

// NewFlusher makes the flusher of the broker registered as member: objects
// are written to store; reads go through reader (an objstore.Cache in
// front of store, or store itself). Start it before appending.
func NewFlusher(cfg Config, client *cluster.Client, member *cluster.Member, store objstore.Store, reader objstore.RangeReader) *Flusher {
	cfg.setDefaults(client.MaxPartitionsPerCommit())
	if reader == nil {
		reader = store
	}
	return &Flusher{
		cfg: cfg, member: member, client: client, store: store, reader: reader, commit: member.Commit, instance: rand.Uint32(),
		log:        cfg.Logger.With("component", "objlog", "node", member.Info().NodeID),
		queueParts: map[*Partition]int{},
		parts:      map[cluster.TopicPartition]*Partition{},
		resync:     map[*Partition]time.Time{},
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
}

// Start starts the flush goroutine; it runs until Close or ctx ends.
func (f *Flusher) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.closing {
		return
	}
	f.started = true
	ctx, f.stop = context.WithCancel(ctx)
	go f.run(ctx)
}

// Close stops taking appends, flushes what is waiting until ctx ends (an
// already ended ctx flushes nothing), fails what is left with ErrClosed
// and waits for the goroutine. The partitions end with ErrClosed; their
// leaderships stay in etcd until the member is closed or resigns.
func (f *Flusher) Close(ctx context.Context) {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		<-f.done
		return
	}
	f.closing = true
	started := f.started
	f.mu.Unlock()
	if started {
		if ctx.Err() == nil {
			f.wake()
			select {
			case <-f.done:
			case <-ctx.Done():
			}
		}
		f.stop()
		<-f.done
	} else {
		close(f.done)
	}
	f.mu.Lock()
	parts := make([]*Partition, 0, len(f.parts))
	for _, p := range f.parts {
		parts = append(parts, p)
	}
	f.mu.Unlock()
	for _, p := range parts {
		p.lose(fmt.Errorf("%w: %s", ErrClosed, p.tp))
	}
}

func (f *Flusher) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Acquire makes this broker the partition's leader (cluster.Member.Acquire)
// and loads its index from etcd; appends continue at the high watermark.
// cfg is the topic's configuration (its LeaderEpoch is ignored: the
// leadership's epoch is written into batches).
func (f *Flusher) Acquire(ctx context.Context, tp cluster.TopicPartition, cfg log.Config) (*Partition, error) {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	if p := f.parts[tp]; p != nil {
		f.mu.Unlock()
		return p, nil
	}
	f.mu.Unlock()
	l, err := f.member.Acquire(ctx, tp)
	if err != nil {
		return nil, mapClusterErr(err)
	}
	idx, err := f.client.LoadIndex(ctx, tp)
	if err != nil {
		return nil, mapClusterErr(err)
	}
	idx, err = checkIndex(tp, idx, l.LogStart, l.HW)
	if err != nil {
		return nil, err
	}
	prod, err := f.loadProducers(ctx, tp, &cfg, l.HW)
	if err != nil {
		return nil, err
	}
	p := &Partition{f: f, tp: tp, epoch: l.Epoch, next: l.HW, hw: l.HW, logStart: l.LogStart, index: idx, changed: make(chan struct{}),
		pending: map[int64]*pendingAppend{}}
	p.resetProducersLocked(prod)
	p.SetConfig(cfg)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil, ErrClosed
	}
	if q := f.parts[tp]; q != nil {
		return q, nil // a concurrent Acquire of the same partition won
	}
	f.parts[tp] = p
	f.log.Info("leading partition", "partition", tp.String(), "epoch", l.Epoch, "hw", l.HW, "log_start", l.LogStart, "index_entries", len(idx), "producers", prod.Len())
	return p, nil
}

// Partition returns the partition this flusher leads, or nil.
func (f *Flusher) Partition(tp cluster.TopicPartition) *Partition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[tp]
}

// checkIndex checks that a loaded index is contiguous, ends at hw and
// covers the log start (its first entry holds it, or it is empty and the
// log start is the hw), and drops the entries wholly below the log start.
func checkIndex(tp cluster.TopicPartition, idx []cluster.IndexEntry, logStart, hw int64) ([]cluster.IndexEntry, error) {
	if logStart > hw {
		return nil, fmt.Errorf("%w: %s: log start %d is past hw %d", ErrStorage, tp, logStart, hw)
	}
	for i, e := range idx {
		if i > 0 && e.BaseOffset != idx[i-1].LastOffset+1 {
			return nil, fmt.Errorf("%w: %s: index entry at %d follows one ending at %d", ErrStorage, tp, e.BaseOffset, idx[i-1].LastOffset)
		}
	}
	end := logStart
	if len(idx) > 0 {
		end = idx[len(idx)-1].LastOffset + 1
	}
	if end != hw {
		return nil, fmt.Errorf("%w: %s: index ends at %d, hw is %d", ErrStorage, tp, end, hw)
	}
	for len(idx) > 0 && idx[0].LastOffset < logStart {
		idx = idx[1:]
	}
	if len(idx) > 0 && idx[0].BaseOffset > logStart {
		return nil, fmt.Errorf("%w: %s: index starts at %d, log start is %d", ErrStorage, tp, idx[0].BaseOffset, logStart)
	}
	return idx, nil
}

// mapClusterErr turns a cluster error into this package's classes.
func mapClusterErr(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrLeaderExists), errors.Is(err, cluster.ErrLeaseLost):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case cluster.Retriable(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// enqueue queues pa (called with pa.p.mu held) if the buffer has room;
// assign gives it its offsets under the queue's lock, so that the queue
// is in offset order per partition.
func (f *Flusher) enqueue(pa *pendingAppend, now time.Time, assign func()) error {
	size := int64(len(pa.batch))
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closing || !f.started:
		return fmt.Errorf("%w: %s", ErrClosed, pa.p.tp)
	case f.queueBytes+f.inflight+size > f.cfg.MaxPendingBytes && f.queueBytes+f.inflight > 0:
		return fmt.Errorf("%w: %d bytes waiting to be flushed (limit %d)", ErrBusy, f.queueBytes+f.inflight, f.cfg.MaxPendingBytes)
	}
	assign()
	wasEmpty, wasFull := len(f.queue) == 0, f.fullLocked()
	pa.at = now
	if wasEmpty {
		f.firstAt = now
	}
	f.queue = append(f.queue, pa)
	f.queueBytes += size
	f.queueParts[pa.p]++
	if wasEmpty || (!wasFull && f.fullLocked()) {
		f.wake()
	}
	return nil
}

// fullLocked: a flush is due now, whatever the interval.
func (f *Flusher) fullLocked() bool {
	return f.queueBytes >= int64(f.cfg.FlushMaxBytes) || len(f.queueParts) >= f.cfg.MaxPartitionsPerFlush
}

// dropQueued removes p's appends from the queue (called with p.mu held)
// and returns them.
func (f *Flusher) dropQueued(p *Partition) []*pendingAppend {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queueParts[p] == 0 {
		return nil
	}
	var out []*pendingAppend
	f.queue = slices.DeleteFunc(f.queue, func(pa *pendingAppend) bool {
		if pa.p == p {
			out = append(out, pa)
			f.queueBytes -= int64(len(pa.batch))
			return true
		}
		return false
	})
	delete(f.queueParts, p)
	return out
}

// forget removes a lost partition from the flusher.
func (f *Flusher) forget(p *Partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parts[p.tp] == p {
		delete(f.parts, p.tp)
	}
	delete(f.resync, p)
}

// run is the flush goroutine.
func (f *Flusher) run(ctx context.Context) {
	defer close(f.done)
	defer func() {
		// Ended by Close or by Start's context: take nothing more.
		f.mu.Lock()
		f.closing = true
		f.mu.Unlock()
		f.failQueued(ErrClosed)
	}()
	memberDone := f.member.Done()
	for {
		select {
		case <-memberDone:
			// The lease ended: nothing can commit any more.
			f.loseAll(fmt.Errorf("%w: %w", ErrNotLeader, f.member.Err()))
			memberDone = nil
		case <-ctx.Done():
			return
		default:
		}
		if due, ok := f.nextResync(); ok && !due.After(f.cfg.Clock.Now()) {
			f.resyncAll(ctx)
		}
		f.mu.Lock()
		n, full, first, closing := len(f.queue), f.fullLocked(), f.firstAt, f.closing
		f.mu.Unlock()
		if n == 0 {
			if closing {
				return
			}
			var retry <-chan time.Time
			if due, ok := f.nextResync(); ok {
				retry = f.cfg.Clock.After(max(due.Sub(f.cfg.Clock.Now()), 0))
			}
			select {
			case <-f.kick:
			case <-retry:
			case <-memberDone:
			case <-ctx.Done():
				return
			}
			continue
		}
		if !full && !closing {
			if wait := first.Add(f.cfg.FlushInterval).Sub(f.cfg.Clock.Now()); wait > 0 {
				select {
				case <-f.cfg.Clock.After(wait):
				case <-f.kick:
					continue
				case <-memberDone:
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		f.flush(ctx)
	}
}

// failQueued fails every queued append (the goroutine is ending).
func (f *Flusher) failQueued(cause error) {
	f.mu.Lock()
	q := f.queue
	f.queue, f.queueBytes, f.queueParts = nil, 0, map[*Partition]int{}
	f.mu.Unlock()
	for _, pa := range q {
		pa.c.finish(AppendResult{}, fmt.Errorf("%w: %s: not flushed", cause, pa.p.tp))
	}
}

// loseAll ends every partition (the membership ended).
func (f *Flusher) loseAll(err error) {
	f.mu.Lock()
	parts := make([]*Partition, 0, len(f.parts))
	for _, p := range f.parts {
		parts = append(parts, p)
	}
	f.mu.Unlock()
	for _, p := range parts {
		p.lose(err)
	}
}

// maxCommitStateBytes bounds the producer state one commit carries (the
// partitions' producers/ values), below etcd's default request limit of
// 1.5 MiB with room for the rest of the txn. A flush always takes its
// first append, so one partition's state alone may pass it.
const maxCommitStateBytes = 1 << 20

// stateCost is what a partition's producer state adds to a commit: its
// encoding in base64 (JSON), the key and room for the producers a flush
// adds.
func stateCost(encoded int64) int64 { return encoded*4/3 + 512 }

// take removes the next flush's appends from the queue's head: at least
// one, up to FlushMaxBytes, MaxPartitionsPerFlush partitions and
// maxCommitStateBytes of producer state.
func (f *Flusher) take() []*pendingAppend {
	f.mu.Lock()
	defer f.mu.Unlock()
	var bytes, state int64
	parts := map[*Partition]bool{}
	withState := map[*Partition]bool{}
	n := 0
	for _, pa := range f.queue {
		size := int64(len(pa.batch))
		var more int64 // producer state this append adds to the commit
		if pa.h.ProducerID >= 0 && !withState[pa.p] {
			more = stateCost(pa.p.stateBytes.Load())
		}
		if n > 0 && (bytes+size > int64(f.cfg.FlushMaxBytes) || (!parts[pa.p] && len(parts) >= f.cfg.MaxPartitionsPerFlush) ||
			(more > 0 && state+more > maxCommitStateBytes)) {
			break
		}
		parts[pa.p] = true
		if more > 0 {
			withState[pa.p] = true
			state += more
		}
		bytes += size
		n++
	}
	out := slices.Clone(f.queue[:n])
	f.queue = slices.Delete(f.queue, 0, n)
	f.queueBytes -= bytes
	f.inflight = bytes
	for _, pa := range out {
		if f.queueParts[pa.p]--; f.queueParts[pa.p] == 0 {
			delete(f.queueParts, pa.p)
		}
	}
	if len(f.queue) > 0 {
		f.firstAt = f.queue[0].at
	}
	return out
}

// objectName is a new object's unique name: node, lease, this flusher's
// instance and a sequence number, under Config.ObjectPrefix.
func (f *Flusher) objectName() string {
	info := f.member.Info()
	return fmt.Sprintf("%s%d-%016x-%08x-%010d", f.cfg.ObjectPrefix, info.NodeID, uint64(info.Lease), f.instance, f.seq.Add(1))
}
