package broker

// Wiring of the transaction coordinator (internal/txn) into the broker.
//
// The coordinator decides; the broker writes the commit and abort markers
// (log.AppendMarker) into every partition of a completing transaction and
// then tells the coordinator it is complete. Markers of a completion whose
// write failed are retried from the ticker; the transaction stays
// PrepareCommit/PrepareAbort (CONCURRENT_TRANSACTIONS) until they succeed.
//
// txnWiring.mu orders transactional appends against the end of their
// transaction: Produce holds it for reading from the check that the
// partition is in the ongoing transaction until the batch is appended;
// anything that moves a transaction out of Ongoing (EndTxn,
// InitProducerId, a timeout) holds it for writing while it does. So no
// transactional batch is ever appended after its transaction's marker.
//
// Lock order: txnWiring.mu before txn.Coordinator's mutex and before
// group.Coordinator's (TxnOffsetCommit) and a log's locks (Produce).
// Completions (marker writes) run with neither txnWiring.mu nor
// txn.Coordinator's mutex held.

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/sluice-io/sluice/internal/txn"
)

type txnWiring struct {
	coord *txn.Coordinator
	mu    sync.RWMutex

	pendingMu sync.Mutex
	pending   []*txn.Completion // completions whose markers must be retried
}

// openTxns creates the coordinator, replays __transaction_state into it
// when the topic exists (it is created with the first transactional id,
// as Kafka does), completes the transactions that were completing or
// ongoing (Coordinator.Loaded), and aborts transactions left open in
// partition logs that the transaction log does not account for.
func (b *Broker) openTxns() error {
	b.txns = &txnWiring{coord: txn.New(txn.Config{
		MaxTimeout:     b.brokerMs("transaction.max.timeout.ms"),
		IDExpiration:   b.brokerMs("transactional.id.expiration.ms"),
		NextProducerID: b.pids.next,
		Persist:        b.persistTxn,
	})}
	if t := b.topic(txn.TopicName); t != nil {
		replay := func(_ *partition, _ *log.BatchHeader, key, value []byte) error {
			return b.txns.coord.Replay(key, value)
		}
		if _, err := b.replayTopic(t, replay, nil); err != nil {
			return err
		}
	}
	for _, comp := range b.txns.coord.Loaded(b.cfg.Now()) {
		b.logger.Info("completing transaction after restart", "transactional_id", comp.TransactionalID, "commit", comp.Commit)
		b.completeTxn(comp)
	}
	open := b.txns.coord.OpenPartitions()
	for _, p := range b.allPartitions() {
		for pid := range p.log.OpenTxns() {
			if open[txn.TopicPartition{Topic: p.topic, Partition: p.index}][pid] {
				continue
			}
			epoch := p.log.ProducerEpoch(pid)
			b.logger.Warn("aborting a transaction the transaction log does not know", "topic", p.topic, "partition", p.index, "producer_id", pid)
			if _, err := p.log.AppendMarker(pid, epoch, false, 0); err != nil {
				return fmt.Errorf("aborting an orphaned transaction in %s-%d: %w", p.topic, p.index, err)
			}
			if p.topic == group.TopicName {
				b.groups.EndTxn(pid, p.index, false)
			}
		}
	}
	return nil
}

// persistTxn appends a transaction log record to its partition of
// __transaction_state, creating the topic (transaction.state.log.num.partitions
// partitions, compacted, internal) on first use.
func (b *Broker) persistTxn(id string, key, value []byte) error {
	t := b.topic(txn.TopicName)
	if t == nil {
		n := int32(b.brokerInt("transaction.state.log.num.partitions"))
		_, err := b.createTopic(meta.Topic{Name: txn.TopicName, Partitions: n, Internal: true,
			Configs: map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}})
		if err != nil && b.topic(txn.TopicName) == nil {
			return fmt.Errorf("creating %s: %w", txn.TopicName, err)
		}
		t = b.topic(txn.TopicName)
	}
	p := t.partitions[group.PartitionFor(id, int32(len(t.partitions)))]
	batch := group.EncodeBatch([]group.Record{{Key: key, Value: value}}, b.cfg.Now().UnixMilli())
	if _, err := p.log.Append(batch); err != nil {
		b.logger.Warn("writing the transaction log failed", "transactional_id", id, "err", err)
		return err
	}
	return nil
}

// offsetsPartition is the __consumer_offsets partition of group g, the
// partition a transaction committing g's offsets includes.
func (b *Broker) offsetsPartition(g string) txn.TopicPartition {
	return txn.TopicPartition{Topic: group.TopicName, Partition: group.PartitionFor(g, b.groups.Partitions())}
}

// prepare runs fn, which may move transactions out of Ongoing, excluding
// transactional appends.
func (w *txnWiring) prepare(fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn()
}

// completeTxn writes comp's markers and completes it. On a failed marker
// write it queues comp for the ticker and returns the error.
func (b *Broker) completeTxn(comp *txn.Completion) error {
	for _, tp := range comp.Partitions {
		p := b.partition(tp.Topic, tp.Partition)
		if p == nil {
			continue // deleted since it was added
		}
		if _, err := p.log.AppendMarker(comp.ProducerID, comp.Epoch, comp.Commit, 0); err != nil {
			b.logger.Warn("writing a transaction marker failed; will retry",
				"transactional_id", comp.TransactionalID, "topic", tp.Topic, "partition", tp.Partition, "err", err)
			b.txns.pendingMu.Lock()
			b.txns.pending = append(b.txns.pending, comp)
			b.txns.pendingMu.Unlock()
			return err
		}
		p.notify()
	}
	for _, tp := range comp.Partitions {
		if tp.Topic == group.TopicName {
			b.groups.EndTxn(comp.ProducerID, tp.Partition, comp.Commit)
		}
	}
	if err := b.txns.coord.Complete(comp); err != nil {
		b.txns.pendingMu.Lock()
		b.txns.pending = append(b.txns.pending, comp)
		b.txns.pendingMu.Unlock()
		return err
	}
	return nil
}

// tickTxns aborts timed-out transactions and retries failed completions.
func (b *Broker) tickTxns(now time.Time) {
	var comps []*txn.Completion
	b.txns.pendingMu.Lock()
	comps, b.txns.pending = b.txns.pending, nil
	b.txns.pendingMu.Unlock()
	b.txns.prepare(func() { comps = append(comps, b.txns.coord.Tick(now)...) })
	for _, c := range comps {
		if c.Commit {
			b.logger.Debug("retrying transaction commit markers", "transactional_id", c.TransactionalID)
		} else {
			b.logger.Info("aborting transaction", "transactional_id", c.TransactionalID, "producer_id", c.ProducerID)
		}
		b.completeTxn(c)
	}
}

// fencedErr maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request
// versions before it existed (KIP-588), as Kafka does.
func fencedErr(err error, version, since int16) error {
	if err == kerr.ProducerFenced && version < since {
		return kerr.InvalidProducerEpoch
	}
	return err
}

// replayTopic feeds every batch of an internal topic, partition by
// partition in offset order: each record of a data batch to rec, with its
// partition and batch header (whose producer a transactional record
// belongs to), and each control batch to marker (when not nil). A record
// rec cannot read is logged and skipped. It returns the number of
// records.
func (b *Broker) replayTopic(t *topic, rec func(p *partition, h *log.BatchHeader, key, value []byte) error,
	marker func(p *partition, h *log.BatchHeader, commit bool)) (int, error) {
	n := 0
	var buf []byte
	for _, p := range t.partitions {
		off := p.log.LogStartOffset()
		for off < p.log.HighWatermark() {
			res, err := p.log.Read(off, 1<<20, true)
			if err != nil {
				return n, fmt.Errorf("reading %s-%d at %d: %w", p.topic, p.index, off, err)
			}
			if res.Size() == 0 {
				break
			}
			if buf, err = res.AppendTo(buf[:0]); err != nil {
				return n, fmt.Errorf("reading %s-%d at %d: %w", p.topic, p.index, off, err)
			}
			for rest := buf; len(rest) > 0; {
				h, err := log.ParseBatchHeader(rest)
				if err != nil || h.Size() > len(rest) {
					return n, fmt.Errorf("reading %s-%d at %d: bad batch header: %v", p.topic, p.index, off, err)
				}
				batch := rest[:h.Size()]
				switch {
				case h.Control():
					if typ := log.MarkerType(batch); marker != nil && typ >= 0 {
						marker(p, &h, typ == log.MarkerCommit)
					}
				default:
					recs, err := log.DecodeRecords(batch)
					if err != nil {
						return n, fmt.Errorf("decoding %s-%d at %d: %w", p.topic, p.index, h.BaseOffset, err)
					}
					for _, r := range recs {
						if err := rec(p, &h, r.Key, r.Value); err != nil {
							b.logger.Warn("skipping unreadable record in "+p.topic, "partition", p.index, "offset", r.Offset, "err", err)
						}
						n++
					}
				}
				off = h.LastOffset() + 1
				rest = rest[h.Size():]
			}
		}
	}
	return n, nil
}
