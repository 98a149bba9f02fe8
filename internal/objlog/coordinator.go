package objlog

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/log"
)

// AppendCoordinator appends a transactional batch a coordinator writes
// on behalf of a producer (TxnOffsetCommit's offsets in
// __consumer_offsets), as log.Log.AppendCoordinator: validated like any
// batch and fenced by the producer's epoch (log.ErrInvalidProducerEpoch
// for an older one), but with no sequence check, since the coordinator
// numbers its batches from 0 every time (the producer's sequences belong
// to its own partitions). It opens the producer's transaction in this
// partition, which its marker ends. The Completion and errors are
// Append's.
func (p *Partition) AppendCoordinator(batch []byte) (*Completion, error) {
	cfg := p.cfg.Load()
	f := p.f
	now := f.cfg.Clock.Now()
	h, err := log.ValidateBatch(batch, cfg, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	if h.ProducerID < 0 || !h.Transactional() {
		return nil, fmt.Errorf("%w: a coordinator's batch must be transactional", log.ErrInvalidRecord)
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
	if err := p.prod.CheckMarker(&h); err != nil { // the epoch fence alone
		return nil, fmt.Errorf("%s: %w", p.tp, err)
	}
	appendTime := int64(-1)
	if cfg.TimestampType == log.LogAppendTime {
		appendTime = f.cfg.Clock.Now().UnixMilli()
	}
	pa := &pendingAppend{p: p, epoch: p.epoch, batch: batch, appendTime: appendTime, c: &Completion{done: make(chan struct{})}}
	if err := f.enqueue(pa, now, func() {
		log.AssignBatch(batch, &h, p.next, p.epoch, appendTime)
		pa.h = h
		p.next = h.LastOffset() + 1
		p.prod.Update(&pa.h)
	}); err != nil {
		return nil, err
	}
	return pa.c, nil
}
