package log

import (
	"fmt"
	"time"
)

// Idempotent producer state, following Kafka's ProducerStateManager: for
// each producer id seen in a batch header, its epoch, last sequence and the
// last maxCachedBatches batches, used to recognise retries.

const maxCachedBatches = 5

// batchMeta identifies an appended batch of a producer.
type batchMeta struct {
	firstSeq, lastSeq int32
	firstOffset       int64
	lastOffsetDelta   int32
}

type producerEntry struct {
	epoch         int16
	lastSeq       int32
	lastTimestamp int64 // maxTimestamp of its last batch, kept for expiry
	n             int   // cached batches, oldest first
	batches       [maxCachedBatches]batchMeta
}

type producerState map[int64]*producerEntry

// check applies the idempotence rules to a batch about to be appended. It
// returns the original batch and true for a retry of a cached batch.
func (p producerState) check(h *BatchHeader) (batchMeta, bool, error) {
	if h.ProducerID < 0 {
		return batchMeta{}, false, nil
	}
	e := p[h.ProducerID]
	if e == nil {
		return batchMeta{}, false, nil // unknown producer: any sequence
	}
	first, last := h.BaseSequence, h.LastSequence()
	switch {
	case h.ProducerEpoch < e.epoch:
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d, current %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if first != 0 {
			return batchMeta{}, false, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, first)
		}
		return batchMeta{}, false, nil
	}
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == first && b.lastSeq == last {
			return b, true, nil
		}
	}
	if want := addSequence(e.lastSeq, 1); first != want {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d sequence %d, expected %d",
			ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, first, want)
	}
	return batchMeta{}, false, nil
}

// update records an appended batch (its BaseOffset set).
func (p producerState) update(h *BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	e := p[h.ProducerID]
	if e == nil {
		e = &producerEntry{}
		p[h.ProducerID] = e
	} else if e.epoch != h.ProducerEpoch {
		e.n = 0
	}
	e.epoch = h.ProducerEpoch
	e.lastSeq = h.LastSequence()
	// The max: a batch the cleaner emptied has maxTimestamp -1.
	e.lastTimestamp = max(e.lastTimestamp, h.MaxTimestamp)
	if e.n == maxCachedBatches {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = batchMeta{
		firstSeq:        h.BaseSequence,
		lastSeq:         e.lastSeq,
		firstOffset:     h.BaseOffset,
		lastOffsetDelta: h.LastOffsetDelta,
	}
	e.n++
}

// producerExpiryCheckInterval is Kafka's
// producer.id.expiration.check.interval.ms default.
const producerExpiryCheckInterval = 10 * time.Minute

// ExpireProducers forgets the producers whose last batch is older than
// Config.ProducerIDExpirationMs at now and that have no open transaction
// in this log, as Kafka expires producer ids: a retry from such a producer
// is no longer recognised as a duplicate. It returns how many it removed.
func (l *Log) ExpireProducers(now time.Time) int {
	if !l.enterLoaded() {
		return 0
	}
	defer l.leaveLoaded()
	limit := l.cfg.Load().ProducerIDExpirationMs
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, e := range l.prod {
		if _, open := l.txns.open[id]; open || now.UnixMilli()-e.lastTimestamp < limit {
			continue
		}
		delete(l.prod, id)
		n++
	}
	return n
}
