package broker

// Wiring of the transaction coordinator (internal/txn) into the broker.
//
// The coordinator decides and does no I/O: a request that changes a
// transactional id's state comes back with a txn.Write, which the broker
// appends to __transaction_state (persistTxn) without holding the
// coordinator's mutex, then reports with Applied (applyTxn); only then
// does the change take effect and the request get its answer. The broker
// writes the commit and abort markers (log.AppendMarker) into every
// partition of a completing transaction and then completes it
// (Coordinator.Complete, another write). Markers of a completion whose
// write failed are retried from the ticker (tick.go) after
// txnRetryBackoff; the transaction stays PrepareCommit/PrepareAbort
// (CONCURRENT_TRANSACTIONS) until they succeed. The coordinator's
// deadlines (Tick's result, Write.Deadline) schedule the ticker. Producer
// ids come in blocks persisted outside every lock (producerids.go).
//
// txnWiring.locks has one read-write lock per transactional id in use. It
// orders transactional appends against the end of their transaction:
// Produce and TxnOffsetCommit hold the id's lock for reading from the
// check that the partition is in the ongoing transaction until the batch
// (or the offsets) are appended; a request that changes the id's state
// (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn) holds it
// for writing from the coordinator's decision until its write is
// applied, so requests on one id are applied one at a time, in order; a
// timeout (Tick) moves the transaction to PrepareAbort first, after which
// no append can pass the check, and then takes the lock once, to wait for
// the appends already past it. So no transactional batch is ever appended
// after its transaction's marker, and one transaction's appends and
// fsyncs never hold up another's.
//
// Lock order: see DESIGN.md, "Lock order" (the one list).

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coordkey"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/sluice-io/sluice/internal/txn"
)

// txnWiring is one transaction coordinator and what it needs from the
// broker: in single-node mode the broker's one (openTxns), in cluster
// mode one per led partition of __transaction_state (clustertxns.go). The
// hooks are the only difference between the two.
type txnWiring struct {
	coord  *txn.Coordinator
	locks  idLocks
	logger *slog.Logger
	now    func() time.Time
	// persist appends a transaction log record (txn.Write) durably.
	persist func(*txn.Write) error
	// markers writes a completion's markers into every partition of its
	// transaction and resolves the offsets it committed; an error leaves
	// the completion to be retried.
	markers func(*txn.Completion) error
	// reserve takes a block of producer ids for the coordinator.
	reserve func() (txn.ProducerIDBlock, error)
	// wake schedules the ticker at a deadline of this coordinator.
	wake func(time.Time)
	// groupPartitions is the partition count of __consumer_offsets.
	groupPartitions func() int32

	pendingMu sync.Mutex
	pending   []*txn.Completion // completions whose markers must be retried
}

// newTxnWiring makes a coordinator with the broker's transaction
// settings; the caller sets the hooks.
func (b *Broker) newTxnWiring() *txnWiring {
	return &txnWiring{
		coord: txn.New(txn.Config{
			MaxTimeout:   b.brokerMs("transaction.max.timeout.ms"),
			IDExpiration: b.brokerMs("transactional.id.expiration.ms"),
		}),
		logger: b.logger,
		now:    b.cfg.Now,
		wake:   func(d time.Time) { b.timer.at(txnTimers, d) },
	}
}

// openTxns creates the coordinator, replays __transaction_state into it
// when the topic exists (it is created with the first transactional id,
// as Kafka does), completes the transactions that were completing or
// ongoing (Coordinator.Loaded), and aborts transactions left open in
// partition logs that the transaction log does not account for.
func (b *Broker) openTxns() error {
	tw := b.newTxnWiring()
	tw.persist = b.persistTxn
	tw.markers = b.writeLocalMarkers
	tw.reserve = b.pids.reserve
	tw.groupPartitions = b.groups.Partitions
	b.txns = tw
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
		tw.complete(comp)
	}
	open := b.txns.coord.OpenPartitions()
	for _, p := range b.allPartitions() {
		if p.log.Dormant() {
			continue // closed cleanly with no open transaction (log/lazy.go)
		}
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

// allTxns is every transactional id of this broker's coordinators: the
// one of a single node, in cluster mode those of every loaded
// __transaction_state partition it leads.
func (b *Broker) allTxns() []txn.Info {
	if b.cl == nil {
		return b.txns.coord.All()
	}
	var out []txn.Info
	for _, tw := range b.cl.loadedTxnCoordinators() {
		out = append(out, tw.coord.All()...)
	}
	return out
}

// txnFor is the coordinator of transactional id id: in single-node mode
// the broker's one; in cluster mode the one of the __transaction_state
// partition this broker leads (clustertxns.go), or the error to answer.
func (b *Broker) txnFor(id string) (*txnWiring, *kerr.Error) {
	if b.cl == nil {
		return b.txns, nil
	}
	return b.cl.txnCoordinator(id)
}

// persistTxn appends a transaction log record to its partition of
// __transaction_state, creating the topic (transaction.state.log.num.partitions
// partitions, compacted, internal) on first use.
func (b *Broker) persistTxn(w *txn.Write) error {
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
	p := t.partitions[coordkey.Partition(w.ID, int32(len(t.partitions)))]
	batch := log.EncodeBatch([]log.KV{{Key: w.Key, Value: w.Value}}, b.cfg.Now().UnixMilli(), -1, -1, false)
	if _, err := p.log.Append(batch); err != nil {
		b.logger.Warn("writing the transaction log failed", "transactional_id", w.ID, "err", err)
		return err
	}
	return nil
}

// writeLocalMarkers writes a completion's markers into the local logs and
// resolves the offsets it committed in the group coordinator.
func (b *Broker) writeLocalMarkers(comp *txn.Completion) error {
	for _, tp := range comp.Partitions {
		p := b.partition(tp.Topic, tp.Partition)
		if p == nil {
			continue // deleted since it was added
		}
		if _, err := p.log.AppendMarker(comp.ProducerID, comp.Epoch, comp.Commit, 0); err != nil {
			b.logger.Warn("writing a transaction marker failed; will retry",
				"transactional_id", comp.TransactionalID, "topic", tp.Topic, "partition", tp.Partition, "err", err)
			return err
		}
		p.notify()
	}
	for _, tp := range comp.Partitions {
		if tp.Topic == group.TopicName {
			b.groups.EndTxn(comp.ProducerID, tp.Partition, comp.Commit)
		}
	}
	return nil
}

// apply appends w (when the coordinator made one: err nil, w not nil)
// and reports it; the error is the request's. The id's deadline that
// comes back goes to the ticker (tick.go); after a failed append not
// sooner than txnRetryBackoff.
func (tw *txnWiring) apply(w *txn.Write, err error) error {
	if err != nil || w == nil {
		return err
	}
	perr := tw.persist(w)
	err = tw.coord.Applied(w, perr)
	d := w.Deadline
	if perr != nil && !d.IsZero() {
		d = later(d, tw.now().Add(txnRetryBackoff))
	}
	tw.wake(d)
	return err
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// retry queues comp, whose markers or completion write failed, for the
// ticker.
func (tw *txnWiring) retry(comp *txn.Completion) {
	tw.pendingMu.Lock()
	tw.pending = append(tw.pending, comp)
	tw.pendingMu.Unlock()
	tw.wake(tw.now().Add(txnRetryBackoff))
}

// refill carries out the coordinator's request for producer ids: it takes
// a block (with no lock held) and hands it in.
func (tw *txnWiring) refill() error {
	blk, err := tw.reserve()
	if err != nil {
		tw.logger.Error("allocating a producer id block failed", "err", err)
	}
	tw.coord.ProducerIDs(blk, err)
	return err
}

// offsetsPartition is the __consumer_offsets partition of group g, the
// partition a transaction committing g's offsets includes.
func (tw *txnWiring) offsetsPartition(g string) txn.TopicPartition {
	return txn.TopicPartition{Topic: group.TopicName, Partition: group.PartitionFor(g, tw.groupPartitions())}
}

// idLocks is a read-write lock per transactional id, kept while in use.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	sync.RWMutex
	refs int
}

func (l *idLocks) get(id string) *idLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	x := l.m[id]
	if x == nil {
		x = &idLock{}
		l.m[id] = x
	}
	x.refs++
	return x
}

func (l *idLocks) put(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if x := l.m[id]; x != nil {
		if x.refs--; x.refs == 0 {
			delete(l.m, id)
		}
	}
}

// lock locks id for writing; the returned func unlocks it.
func (l *idLocks) lock(id string) func() {
	x := l.get(id)
	x.Lock()
	return func() { x.Unlock(); l.put(id) }
}

// rlock locks id for reading; the returned func unlocks it.
func (l *idLocks) rlock(id string) func() {
	x := l.get(id)
	x.RLock()
	return func() { x.RUnlock(); l.put(id) }
}

// complete writes comp's markers and completes it. On a failed marker
// write it queues comp for the ticker and returns the error.
func (tw *txnWiring) complete(comp *txn.Completion) error {
	if err := tw.markers(comp); err != nil {
		tw.retry(comp)
		return err
	}
	if err := tw.apply(tw.coord.Complete(comp)); err != nil {
		tw.retry(comp)
		return err
	}
	return nil
}

// tick aborts timed-out transactions, forgets expired ids and retries
// failed completions. It returns the coordinator's next deadline (the
// retries of what fails now are scheduled as they fail).
func (tw *txnWiring) tick(now time.Time) time.Time {
	var comps []*txn.Completion
	tw.pendingMu.Lock()
	comps, tw.pending = tw.pending, nil
	tw.pendingMu.Unlock()
	for _, c := range comps {
		tw.logger.Debug("retrying transaction completion", "transactional_id", c.TransactionalID, "commit", c.Commit)
		tw.complete(c)
	}
	ws, next := tw.coord.Tick(now)
	for _, w := range ws {
		if err := tw.apply(w, nil); err != nil || w.Abort == nil {
			continue // not written: its deadline comes back, retried then
		}
		// The transaction is PrepareAbort: no append passes the check
		// any more; wait for those past it before the markers.
		tw.locks.lock(w.ID)()
		tw.logger.Info("aborting transaction", "transactional_id", w.ID, "producer_id", w.Abort.ProducerID)
		tw.complete(w.Abort)
	}
	return next
}

// tickTxns ticks the transaction coordinator, and in cluster mode every
// loaded one of the __transaction_state partitions this broker leads; it
// returns the earliest next deadline (zero: none).
func (b *Broker) tickTxns(now time.Time) time.Time {
	next := b.txns.tick(now)
	if b.cl == nil {
		return next
	}
	for _, tw := range b.cl.loadedTxnCoordinators() {
		if t := tw.tick(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
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
