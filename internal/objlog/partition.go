package objlog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// The states of a Partition.
type partState int8

const (
	// leading: appends are taken.
	leading partState = iota
	// resyncing: a flush of the partition failed with an unknown outcome
	// (or etcd's hw was not where this leader expected it); appends get
	// ErrBusy until the flusher has read the hw from etcd (resync).
	resyncing
	// lost: leadership lost, resigned or closed; appends get ErrNotLeader
	// (or ErrClosed). Final.
	lost
)

// Partition is the leader side of one partition's object-stored log,
// made by Flusher.Acquire. It keeps in memory the partition's committed
// index (every etcd index entry from the one holding the log start
// offset up to the high watermark), its hw, log start and the next offset
// to assign. Appends get offsets at once and become readable and
// acknowledged only when the flush carrying them has committed.
type Partition struct {
	f  *Flusher
	tp cluster.TopicPartition
	// cfg is the topic's configuration (validation, timestamps, retention).
	cfg atomic.Pointer[log.Config]

	// deleteMu makes DeleteRecords, Merge and Compact calls one at a
	// time (concurrent ones would contend on etcd's index keys).
	deleteMu sync.Mutex
	// compact is the leader's compaction state (compact.go), under
	// deleteMu.
	compact compactState

	mu    sync.Mutex
	state partState
	// lostErr is ErrNotLeader or ErrClosed, wrapped with the cause.
	lostErr error
	epoch   int32
	// next is the offset the next append gets: hw plus what is waiting or
	// in flight.
	next int64
	// hw is the committed end (etcd's hw/): records below it are durable
	// and readable.
	hw       int64
	logStart int64
	// index holds the committed entries in offset order, contiguous, the
	// last ending at hw-1; entries are never modified in place (readers
	// keep a snapshot of the slice).
	index []cluster.IndexEntry
	// unknown is the append of a flush whose commit outcome is unknown,
	// set while resyncing: if etcd's hw is its end, it was applied.
	unknown *cluster.PartitionAppend
	// unknownProd is the producer state that flush committed, if it
	// carried one (applied: it becomes committed).
	unknownProd *log.ProducerState
	// committed is the producer and transaction state after every batch
	// below hw, as in etcd's producers/ key; replaced (never modified in
	// place: readers use it after unlocking) by the flush goroutine.
	committed *log.ProducerState
	// prod is committed plus every batch appended since (waiting or in
	// flight): Append checks batches against it. A failed flush resets
	// it to committed (its appends, and those after, are dropped).
	prod *log.ProducerState
	// pending holds the idempotent appends not yet committed by base
	// offset: a retry of one waits for its completion.
	pending map[int64]*pendingAppend
	// changed is closed and replaced at each change of state or hw.
	changed chan struct{}
	// stateBytes is the size of committed's encoding (the flusher bounds
	// the producer state one commit carries by it).
	stateBytes atomic.Int64
}

// Changed returns a channel closed at the partition's next change: its
// high watermark moved, or it stopped or resumed taking appends. A fetch
// waiting for data (fetch.min.bytes, max wait) selects on it.
func (p *Partition) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// changedLocked signals a change of state (called with mu held).
func (p *Partition) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// AppendResult is where an acknowledged append went.
type AppendResult struct {
	BaseOffset int64
	LastOffset int64
	// LogAppendTime is the broker's timestamp of a LogAppendTime topic's
	// batch, -1 for CreateTime (as in Kafka's ProduceResponse).
	LogAppendTime int64
	// LogStartOffset is the partition's log start offset at the ack.
	LogStartOffset int64
}

// Completion is the outcome of one Append: Done closes when the flush
// carrying the batch has committed (Result then returns the offsets) or
// failed (Result returns the error; nothing was acknowledged).
type Completion struct {
	done chan struct{}
	res  AppendResult
	err  error
}

// Done closes when the append has an outcome.
func (c *Completion) Done() <-chan struct{} { return c.done }

// Result is the append's outcome; call it after Done closed.
func (c *Completion) Result() (AppendResult, error) {
	<-c.done
	return c.res, c.err
}

// Wait waits for the outcome or the context's end (then the append goes
// on and its outcome is dropped).
func (c *Completion) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}

func (c *Completion) finish(res AppendResult, err error) {
	c.res, c.err = res, err
	close(c.done)
}

// pendingAppend is one appended batch waiting for, or in, a flush.
type pendingAppend struct {
	p     *Partition
	epoch int32
	batch []byte
	h     log.BatchHeader
	// appendTime is the LogAppendTime stamp, -1 for CreateTime.
	appendTime int64
	// marker is the control type (log.MarkerCommit, MarkerAbort) of a
	// control batch (h.Control(), AppendMarker); unused for data.
	marker int16
	c      *Completion
	at     time.Time // when appended
}

// TopicPartition is the partition's id.
func (p *Partition) TopicPartition() cluster.TopicPartition { return p.tp }

// Epoch is the leader epoch this broker leads the partition at.
func (p *Partition) Epoch() int32 { return p.epoch }

// SetConfig replaces the topic configuration used by later appends.
func (p *Partition) SetConfig(cfg log.Config) { p.cfg.Store(&cfg) }

// Append validates batch (one v2 record batch of a ProduceRequest, as
// log.ValidateBatch), assigns it the next offsets and this leadership's
// epoch in place (log.AssignBatch; LogAppendTime topics get the clock's
// time) and queues it for the next flush. The batch must not be changed
// or reused until the completion is done. Errors returned here (batch
// validation errors of internal/log, ErrNotLeader, ErrBusy, ErrClosed)
// mean the batch was not taken.
//
// A batch with a producer id is checked against the partition's
// idempotent producer state as a Log checks it (log.ProducerState):
// log.ErrInvalidProducerEpoch and log.ErrOutOfOrderSequence refuse it; a
// retry of one of the producer's last 5 batches is not appended again:
// its completion is the original's (already done if that one committed).
// A transactional batch is checked the same way and opens its producer's
// transaction in the partition if none is open (txn.go); control batches
// are refused (log.ErrInvalidRecord): only AppendMarker writes them.
func (p *Partition) Append(batch []byte) (*Completion, error) {
	cfg := p.cfg.Load()
	f := p.f
	now := f.cfg.Clock.Now()
	h, err := log.ValidateBatch(batch, cfg, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	select {
	case <-f.member.Done():
		p.lose(fmt.Errorf("%w: %w", ErrNotLeader, f.member.Err()))
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case lost:
		return nil, p.lostErr
	case resyncing:
		return nil, fmt.Errorf("%w: %s: waiting for etcd to say whether a failed flush was applied", ErrBusy, p.tp)
	}
	if h.ProducerID >= 0 {
		d, dup, err := p.prod.Check(&h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.tp, err)
		}
		if dup {
			return p.duplicateLocked(d)
		}
	}
	appendTime := int64(-1)
	if cfg.TimestampType == log.LogAppendTime {
		// Stamped under the lock so that append times follow offsets.
		appendTime = f.cfg.Clock.Now().UnixMilli()
	}
	pa := &pendingAppend{p: p, epoch: p.epoch, batch: batch, appendTime: appendTime, c: &Completion{done: make(chan struct{})}}
	// Assign only once the flusher took it: enqueue checks the buffer.
	if err := f.enqueue(pa, now, func() {
		log.AssignBatch(batch, &h, p.next, p.epoch, appendTime)
		pa.h = h
		p.next = h.LastOffset() + 1
		if h.ProducerID >= 0 {
			p.prod.Update(&pa.h)
			p.pending[h.BaseOffset] = pa
		}
	}); err != nil {
		return nil, err
	}
	return pa.c, nil
}

// HighWatermark is the committed end: every offset below it is durable
// and readable, nothing at or above it is.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// LogStartOffset is the partition's log start offset.
func (p *Partition) LogStartOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart
}

// Err is nil while the partition is led; then why not (ErrNotLeader,
// ErrClosed).
func (p *Partition) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == lost {
		return p.lostErr
	}
	return nil
}

// snapshot returns what a read needs, consistently.
func (p *Partition) snapshot() (hw, logStart int64, index []cluster.IndexEntry, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == lost {
		return 0, 0, nil, p.lostErr
	}
	return p.hw, p.logStart, p.index, nil
}

// lose ends the partition's leadership here: its waiting appends fail with
// err (ErrNotLeader or ErrClosed); appends in the flush being made are
// failed by the flush.
func (p *Partition) lose(err error) {
	p.mu.Lock()
	if p.state == lost {
		p.mu.Unlock()
		return
	}
	p.state, p.lostErr, p.unknown = lost, err, nil
	p.changedLocked()
	dropped := p.f.dropQueued(p)
	p.mu.Unlock()
	p.f.forget(p)
	for _, pa := range dropped {
		pa.c.finish(AppendResult{}, err)
	}
}

// Resign gives the leadership up (cluster.Member.Resign): waiting appends
// fail with ErrNotLeader; appends of a flush in progress are acknowledged
// only if that flush committed before the resignation reached etcd.
func (p *Partition) Resign(ctx context.Context) error {
	p.lose(fmt.Errorf("%w: %s resigned", ErrNotLeader, p.tp))
	return p.f.member.Resign(ctx, p.tp)
}
