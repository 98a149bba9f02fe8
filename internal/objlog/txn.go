package objlog

// Transactions on the object-stored log (DESIGN.md, "Cluster mode",
// "Transactions"): the partition side, with single-node mode's rules
// (internal/log txn.go) kept in the partition's log.ProducerState.
//
//   - Append takes transactional batches (producer id set, checked as
//     idempotent ones); the first of a producer with no open transaction
//     here opens one at its base offset.
//   - AppendMarker writes a commit or abort marker (a control batch,
//     log.ControlBatch) through the same queue and flush as Append; it is
//     acknowledged when the flush has committed, and the state the flush
//     commits to etcd (producers/<tp>) includes its effect: the
//     producer's transaction closed, an abort added to the aborted list.
//   - The last stable offset and the aborted list are read from the
//     committed state (the state after every batch below the hw), so
//     they never describe a record that is not durable; a new leader
//     loads that state at Acquire, so both survive a leader change.
//   - Aborted entries whose marker is below the log start are pruned
//     when the state is next committed.

import (
	"context"
	"fmt"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// AppendMarker appends a transaction marker of producer pid at epoch to
// the partition: a commit marker (commit) or an abort marker, written for
// the transaction coordinator of coordinatorEpoch (Kafka's
// WriteTxnMarkers). It ends the producer's open transaction here, if
// any; a marker for a producer without one is still written (as Kafka
// does) and changes nothing else. An epoch older than the producer's
// current one is log.ErrInvalidProducerEpoch; a newer one fences the
// producer (its next batch must start at sequence 0). Like Append, the
// returned Completion is done when the flush carrying the marker has
// committed or failed; errors returned here (ErrNotLeader, ErrBusy,
// ErrClosed, log.ErrInvalidProducerEpoch) mean nothing was appended.
func (p *Partition) AppendMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32) (*Completion, error) {
	if pid < 0 {
		return nil, fmt.Errorf("%w: marker for producer id %d", log.ErrInvalidRecord, pid)
	}
	cfg := p.cfg.Load()
	f := p.f
	now := f.cfg.Clock.Now()
	batch := log.ControlBatch(pid, epoch, commit, coordinatorEpoch, now.UnixMilli())
	h, err := log.ParseBatchHeader(batch)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: building a marker: %w", ErrStorage, p.tp, err)
	}
	marker := log.MarkerAbort
	if commit {
		marker = log.MarkerCommit
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
	if err := p.prod.CheckMarker(&h); err != nil {
		return nil, fmt.Errorf("%s: %w", p.tp, err)
	}
	appendTime := int64(-1)
	if cfg.TimestampType == log.LogAppendTime {
		appendTime = f.cfg.Clock.Now().UnixMilli()
	}
	pa := &pendingAppend{p: p, epoch: p.epoch, batch: batch, appendTime: appendTime, marker: marker, c: &Completion{done: make(chan struct{})}}
	if err := f.enqueue(pa, now, func() {
		log.AssignBatch(batch, &h, p.next, p.epoch, appendTime)
		pa.h = h
		p.next = h.LastOffset() + 1
		p.prod.UpdateMarker(&pa.h, marker)
	}); err != nil {
		return nil, err
	}
	return pa.c, nil
}

// committedView is what a read_committed read needs, consistently: the
// partition's committed end, log start, index and producer state (never
// modified in place, so used after unlocking).
func (p *Partition) committedView() (hw, logStart int64, index []cluster.IndexEntry, st *log.ProducerState, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == lost {
		return 0, 0, nil, nil, p.lostErr
	}
	return p.hw, p.logStart, p.index, p.committed, nil
}

// LastStableOffset is the partition's last stable offset: the first
// offset of the earliest transaction open in the committed state, or the
// high watermark when none is (never above it), and never below the log
// start offset (as Kafka's firstUnstableOffset once DeleteRecords or
// retention passed an open transaction's start).
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return lastStable(p.committed, p.hw, p.logStart)
}

// lastStable is the LSO of state st at hw and logStart (logStart <= hw).
func lastStable(st *log.ProducerState, hw, logStart int64) int64 {
	return max(st.LastStable(hw), logStart)
}

// AbortedTxns returns the committed aborted transactions that overlap
// [from, to]: those whose abort marker is at or after from and whose
// first offset is at or before to, by marker offset (as log.Log's
// AbortedTxns).
func (p *Partition) AbortedTxns(from, to int64) []log.AbortedTxn {
	p.mu.Lock()
	st := p.committed
	p.mu.Unlock()
	return st.Aborted(from, to)
}

// Producers returns the committed state of every producer of the
// partition, by id (DescribeProducers).
func (p *Partition) Producers() []log.ProducerInfo {
	p.mu.Lock()
	st := p.committed
	p.mu.Unlock()
	return st.Producers()
}

// CommittedRead is the outcome of ReadCommitted, all of one committed
// state.
type CommittedRead struct {
	// Batches are the stored batches read, all below LastStableOffset
	// (may share memory with the read cache: do not modify).
	Batches []byte
	// HighWatermark, LastStableOffset and LogStartOffset are the
	// partition's at the read.
	HighWatermark, LastStableOffset, LogStartOffset int64
	// Aborted are the aborted transactions overlapping the range read
	// (from the requested offset to the LSO), for the consumer to drop
	// their records; nil when nothing was read.
	Aborted []log.AbortedTxn
}

// ReadCommitted is Read at Kafka's read_committed isolation level: the
// batches from the one holding offset on, stopping before the last stable
// offset (an offset at or past it, up to the hw, reads nothing), up to
// maxBytes but at least one batch, with the aborted transactions among
// them. Offsets outside [log start, hw] are ErrOffsetOutOfRange.
func (p *Partition) ReadCommitted(ctx context.Context, offset int64, maxBytes int) (CommittedRead, error) {
	hw, logStart, index, st, err := p.committedView()
	if err != nil {
		return CommittedRead{}, err
	}
	res := CommittedRead{HighWatermark: hw, LastStableOffset: lastStable(st, hw, logStart), LogStartOffset: logStart}
	if offset < logStart || offset > hw {
		return res, fmt.Errorf("%w: %s: offset %d, log is [%d, %d]", ErrOffsetOutOfRange, p.tp, offset, logStart, hw)
	}
	b, err := p.readBelow(ctx, index, offset, res.LastStableOffset, maxBytes)
	if err != nil {
		return res, err
	}
	res.Batches = b
	if len(b) > 0 {
		// Every batch read is below the LSO: the aborted transactions
		// up to it cover them (as single-node mode's Fetch).
		res.Aborted = st.Aborted(offset, res.LastStableOffset-1)
	}
	return res, nil
}
