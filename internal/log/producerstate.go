package log

import "fmt"

// ProducerState is the idempotent producer state of one partition kept
// outside a Log: cluster mode's object-stored partitions (internal/objlog)
// check and update it exactly as a Log checks its own (producer.go: epoch
// fencing, sequence checks, the last 5 batches of each producer for
// retries) and persist it with MarshalBinary. It holds no transaction
// state. It is not safe for concurrent use.
type ProducerState struct{ m producerState }

// NewProducerState returns an empty state.
func NewProducerState() *ProducerState { return &ProducerState{m: producerState{}} }

// Duplicate is the batch a retry repeats: its offsets as first appended.
type Duplicate struct {
	BaseOffset, LastOffset int64
}

// Check applies the idempotence rules to a batch about to be appended (h
// as ValidateBatch returned it). A retry of one of the producer's last 5
// batches returns that batch's offsets and true (nothing is to be
// appended); a batch to append returns false; a refused one
// ErrInvalidProducerEpoch or ErrOutOfOrderSequence. A producer the state
// does not know may start at any sequence, as in Kafka since KIP-360.
// Batches without a producer id always pass.
func (s *ProducerState) Check(h *BatchHeader) (Duplicate, bool, error) {
	b, dup, err := s.m.check(h)
	if !dup || err != nil {
		return Duplicate{}, false, err
	}
	return Duplicate{BaseOffset: b.firstOffset, LastOffset: b.firstOffset + int64(b.lastOffsetDelta)}, true, nil
}

// Update records an appended batch (its offsets assigned, AssignBatch).
func (s *ProducerState) Update(h *BatchHeader) { s.m.update(h) }

// Len is the number of producers the state knows.
func (s *ProducerState) Len() int { return len(s.m) }

// Clone returns a deep copy.
func (s *ProducerState) Clone() *ProducerState {
	c := make(producerState, len(s.m))
	for id, e := range s.m {
		cp := *e
		c[id] = &cp
	}
	return &ProducerState{m: c}
}

// Expire forgets the producers whose last batch's max timestamp is
// limitMs or more before nowMs (producer.id.expiration.ms, as
// Log.ExpireProducers) and returns how many.
func (s *ProducerState) Expire(nowMs, limitMs int64) int {
	n := 0
	for id, e := range s.m {
		if nowMs-e.lastTimestamp >= limitMs {
			delete(s.m, id)
			n++
		}
	}
	return n
}

// MarshalBinary encodes the state as a producer state snapshot
// (snapshot.go, version 2, with no transactions): 23 bytes per producer
// and 20 per cached batch, plus 18.
func (s *ProducerState) MarshalBinary() ([]byte, error) {
	return encodeSnapshot(s.m, &txnState{}), nil
}

// MarshalSize is len of MarshalBinary's result, without encoding.
func (s *ProducerState) MarshalSize() int {
	n := snapshotHeaderLen + 8
	for _, e := range s.m {
		n += snapshotEntryLen + e.n*snapshotBatchLen
	}
	return n
}

// UnmarshalProducerState decodes MarshalBinary's encoding (a snapshot of
// version 1 or 2; one holding transactions is refused, ErrCorrupt).
func UnmarshalProducerState(b []byte) (*ProducerState, error) {
	p, t, err := decodeSnapshot(b)
	if err != nil {
		return nil, err
	}
	if len(t.open) > 0 || len(t.aborted) > 0 {
		return nil, fmt.Errorf("%w: producer state with transactions", ErrCorrupt)
	}
	return &ProducerState{m: p}, nil
}
