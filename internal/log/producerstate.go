package log

import "fmt"

// ProducerState is the producer and transaction state of one partition
// kept outside a Log: cluster mode's object-stored partitions
// (internal/objlog) check and update it exactly as a Log checks its own
// (producer.go: epoch fencing, sequence checks, the last 5 batches of each
// producer for retries; txn.go: open transactions, aborted transactions,
// the last stable offset) and persist it with MarshalBinary. It is not
// safe for concurrent use; its read-only methods (Check, LastStable,
// Aborted, Open, Producers, MarshalBinary) may run concurrently with each
// other.
type ProducerState struct {
	m producerState
	t txnState
}

// NewProducerState returns an empty state.
func NewProducerState() *ProducerState { return &ProducerState{m: producerState{}} }

// Duplicate is the batch a retry repeats: its offsets as first appended.
type Duplicate struct {
	BaseOffset, LastOffset int64
}

// Check applies the idempotence rules to a batch about to be appended (h
// as ValidateBatch returned it; transactional or not). A retry of one of
// the producer's last 5 batches returns that batch's offsets and true
// (nothing is to be appended); a batch to append returns false; a
// refused one ErrInvalidProducerEpoch or ErrOutOfOrderSequence. A
// producer the state does not know may start at any sequence, as in
// Kafka since KIP-360. Batches without a producer id always pass.
func (s *ProducerState) Check(h *BatchHeader) (Duplicate, bool, error) {
	b, dup, err := s.m.check(h)
	if !dup || err != nil {
		return Duplicate{}, false, err
	}
	return Duplicate{BaseOffset: b.firstOffset, LastOffset: b.firstOffset + int64(b.lastOffsetDelta)}, true, nil
}

// CheckMarker applies the rule of Log.AppendMarker to the control batch
// h about to be appended: an epoch older than the producer's current one
// is ErrInvalidProducerEpoch; a newer one (it fences the producer) or an
// unknown producer passes.
func (s *ProducerState) CheckMarker(h *BatchHeader) error {
	if e := s.m[h.ProducerID]; e != nil && h.ProducerEpoch < e.epoch {
		return fmt.Errorf("%w: marker of producer %d at epoch %d, current %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	return nil
}

// Update records an appended data batch (its offsets assigned,
// AssignBatch): the producer's sequence and cached batches and, for a
// transactional batch of a producer with no open transaction here, a
// transaction opened at its base offset.
func (s *ProducerState) Update(h *BatchHeader) {
	s.m.update(h)
	s.t.apply(h, -1)
}

// UpdateMarker records an appended control batch h (offsets assigned)
// holding marker (MarkerCommit, MarkerAbort), as Log.AppendMarker: a
// newer epoch starts the producer over at sequence 0; the producer's open
// transaction, if any, ends (an abort is added to the aborted list); a
// marker with no open transaction changes nothing else.
func (s *ProducerState) UpdateMarker(h *BatchHeader, marker int16) {
	s.m.applyMarker(h)
	s.t.apply(h, marker)
}

// Len is the number of producers the state knows.
func (s *ProducerState) Len() int { return len(s.m) }

// Clone returns a deep copy.
func (s *ProducerState) Clone() *ProducerState {
	c := make(producerState, len(s.m))
	for id, e := range s.m {
		cp := *e
		c[id] = &cp
	}
	return &ProducerState{m: c, t: s.t.clone()}
}

// Expire forgets the producers whose last batch's max timestamp is
// limitMs or more before nowMs (producer.id.expiration.ms) and that have
// no open transaction here, as Log.ExpireProducers, and returns how many.
func (s *ProducerState) Expire(nowMs, limitMs int64) int {
	n := 0
	for id, e := range s.m {
		if _, open := s.t.open[id]; open || nowMs-e.lastTimestamp < limitMs {
			continue
		}
		delete(s.m, id)
		n++
	}
	return n
}

// LastStable is the last stable offset given the log end next (the high
// watermark): the first offset of the earliest open transaction, or next
// when none is open or all start at or past it.
func (s *ProducerState) LastStable(next int64) int64 { return s.t.stable(next) }

// Aborted returns the aborted transactions that overlap [from, to]: those
// whose marker is at or after from and whose first offset is at or before
// to, by marker offset (as Log.AbortedTxns).
func (s *ProducerState) Aborted(from, to int64) []AbortedTxn { return s.t.abortedIn(from, to) }

// Open returns the producers with an open transaction and the first
// offset of each (a copy).
func (s *ProducerState) Open() map[int64]int64 {
	out := make(map[int64]int64, len(s.t.open))
	for k, v := range s.t.open {
		out[k] = v
	}
	return out
}

// Producers returns the state of every producer, by id (as Log.Producers).
func (s *ProducerState) Producers() []ProducerInfo { return producerInfos(s.m, &s.t) }

// Prune forgets the aborted transactions whose marker is below logStart:
// no fetch can reach them.
func (s *ProducerState) Prune(logStart int64) { s.t.prune(logStart) }

// MarshalBinary encodes the state as a producer state snapshot
// (snapshot.go, version 2): 23 bytes per producer, 20 per cached batch,
// 16 per open and 24 per aborted transaction, plus 18.
func (s *ProducerState) MarshalBinary() ([]byte, error) {
	return encodeSnapshot(s.m, &s.t), nil
}

// MarshalSize is len of MarshalBinary's result, without encoding.
func (s *ProducerState) MarshalSize() int {
	n := snapshotHeaderLen + 8 + 16*len(s.t.open) + 24*len(s.t.aborted)
	for _, e := range s.m {
		n += snapshotEntryLen + e.n*snapshotBatchLen
	}
	return n
}

// UnmarshalProducerState decodes MarshalBinary's encoding (a snapshot of
// version 1 or 2; states written before transactions were kept decode
// with none).
func UnmarshalProducerState(b []byte) (*ProducerState, error) {
	p, t, err := decodeSnapshot(b)
	if err != nil {
		return nil, err
	}
	return &ProducerState{m: p, t: t}, nil
}
