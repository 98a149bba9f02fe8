package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// agentCtxKey marks the context an agent function runs with, so sends and
// table writes made from it join the worker's current batch.
type agentCtxKey struct{}

type agentCtx struct {
	w       *worker
	batched bool // the agent reads a topic: its effects belong to batches
}

// batch is one poll's worth of records being processed: the worker waits
// for every event to be done, then for every effect to be acknowledged.
type batch struct {
	mu     sync.Mutex
	n      int           // events handed out and not yet done
	sealed bool          // every record dispatched
	idle   chan struct{} // closed when sealed and n is 0
	err    error         // the first failed effect
}

func newBatch() *batch { return &batch{idle: make(chan struct{})} }

func (b *batch) add() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
}

func (b *batch) done() {
	b.mu.Lock()
	b.n--
	if b.n == 0 && b.sealed {
		close(b.idle)
	}
	b.mu.Unlock()
}

// seal ends dispatching: idle closes once every event is done.
func (b *batch) seal() {
	b.mu.Lock()
	b.sealed = true
	if b.n == 0 {
		close(b.idle)
	}
	b.mu.Unlock()
}

func (b *batch) setErr(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *batch) firstErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// worker is one process's share of a running app: its clients, its
// running agents and tables, and the poll-process-commit cycle. It owns
// every goroutine it starts and waits for them in shutdown.
type worker struct {
	app    *App
	cfg    appConfig
	log    *slog.Logger
	ctx    context.Context // the agents' parent; cancelled at shutdown
	cancel context.CancelFunc

	tr     transport // the log: Kafka, or the Driver's memory
	timers timers    // run while this worker owns the leader partition
	// manualTimers: the Driver fires the timers itself (Advance).
	manualTimers bool

	byTopic    map[string][]agentRun
	agents     []agentRun
	tables     []*tableCore
	changelogs map[string]*tableCore

	agentWG  sync.WaitGroup
	stopOnce sync.Once
	failOnce sync.Once
	failErr  error
	failed   chan struct{}

	cur atomic.Pointer[batch] // the batch being processed, nil between batches

	sb *standbys // standby copies, with StandbyReplicas

	// wakeMu guards wake, which ends the running poll early: an
	// assignment's new table partitions are restored without waiting for
	// records (see restorePending).
	wakeMu sync.Mutex
	wake   context.CancelFunc

	// The acceptable recovery lag gate (recovery_lag.go): the table
	// partitions just revoked, restored up to their revocation, which
	// the next join reports as caught up; and the leader's probing
	// rebalance timer.
	lagMu   sync.Mutex
	revoked map[string]map[int32]bool
	groupCl *kgo.Client // the group member's client (nil: none yet)
	probe   *time.Timer
	stopped bool
}

func newWorker(ctx context.Context, a *App) (*worker, error) {
	w := &worker{
		app:        a,
		cfg:        a.cfg,
		log:        a.cfg.logger.With("app", a.id),
		byTopic:    map[string][]agentRun{},
		changelogs: map[string]*tableCore{},
		failed:     make(chan struct{}),
	}
	w.timers.w = w
	w.ctx, w.cancel = context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			w.cancel()
		}
	}()
	var err error
	if a.mem != nil {
		err = w.ensureTopicsWith(ctx, a.mem)
	} else {
		err = w.ensureTopics(ctx)
	}
	if err != nil {
		return nil, err
	}
	topics := w.sourceTopics()
	for _, t := range a.tables {
		tc := t.core
		tc.reset(w)
		w.tables = append(w.tables, tc)
		if !t.fromTopic {
			w.changelogs[t.changelog] = tc
		}
	}
	if a.mem != nil {
		w.tr = a.mem.transport(w, topics)
	} else {
		w.initStandbys()
		if err := w.startQueryServer(); err != nil {
			return nil, err
		}
		kt, err := newKafkaTransport(w, topics)
		if err != nil {
			w.stopQueryServer()
			return nil, err
		}
		w.tr = kt
		w.lagMu.Lock()
		w.groupCl = kt.cl // the group may already be rebalancing: see scheduleProbe
		w.lagMu.Unlock()
	}
	if err := w.openGlobals(ctx); err != nil {
		w.tr.close()
		w.stopQueryServer()
		return nil, err
	}
	w.startStandbys()
	ok = true
	return w, nil
}

// sourceTopics lists the topics the app's agents read, sorted, and makes
// them keys of byTopic.
func (w *worker) sourceTopics() []string {
	var topics []string
	for _, ag := range w.app.agents {
		for _, t := range ag.sources() {
			if _, ok := w.byTopic[t.name]; !ok {
				topics = append(topics, t.name)
				w.byTopic[t.name] = nil
			}
		}
	}
	if len(w.app.timers) > 0 {
		lt := leaderTopic(w.app.id)
		topics = append(topics, lt)
		w.byTopic[lt] = nil // records there (there should be none) are ignored
	}
	sort.Strings(topics)
	return topics
}

// start starts the agents.
func (w *worker) start() {
	for _, spec := range w.app.agents {
		ar := spec.start(w)
		w.agents = append(w.agents, ar)
		for _, t := range spec.sources() {
			w.byTopic[t.name] = append(w.byTopic[t.name], ar)
		}
	}
	w.log.Info("streams: worker started", "guarantee", w.cfg.guarantee.String(), "instance", w.cfg.instanceID)
}

// run starts the agents and runs batches until ctx is done or a failure.
func (w *worker) run(ctx context.Context) error {
	w.start()
	err := w.loop()
	w.shutdown()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (w *worker) loop() error {
	if len(w.byTopic) == 0 {
		// Only in-memory channels: run until cancelled or failed.
		select {
		case <-w.ctx.Done():
			return nil
		case <-w.failed:
			return w.err()
		}
	}
	for {
		if _, err := w.step(); err != nil || w.ctx.Err() != nil {
			return err
		}
	}
}

// step polls and processes one batch; n is its size (0: nothing polled).
func (w *worker) step() (n int, err error) {
	select {
	case <-w.failed:
		return 0, w.err()
	default:
	}
	if err := w.catchUpGlobals(w.ctx); err != nil {
		return 0, err
	}
	recs, err := w.poll()
	if w.ctx.Err() != nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := w.restorePending(w.ctx); err != nil {
		return 0, err
	}
	if len(recs) > 0 {
		if err := w.process(recs); err != nil {
			return 0, err
		}
	}
	w.tr.allowRebalance()
	return len(recs), nil
}

// poll polls the next batch; an assignment with table partitions to
// restore ends it early (onAssigned runs while a poll waits), so the
// restore does not wait for records.
func (w *worker) poll() ([]*kgo.Record, error) {
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	w.wakeMu.Lock()
	w.wake = cancel
	w.wakeMu.Unlock()
	defer func() {
		w.wakeMu.Lock()
		w.wake = nil
		w.wakeMu.Unlock()
	}()
	// Partitions assigned before w.wake was set: don't wait either.
	if w.restoreDue() {
		cancel()
	}
	return w.tr.poll(ctx, w.cfg.maxPollRecords)
}

// wakePoll ends the running poll, if any.
func (w *worker) wakePoll() {
	w.wakeMu.Lock()
	defer w.wakeMu.Unlock()
	if w.wake != nil {
		w.wake()
	}
}

// restoreDue reports whether a table partition waits for its restore.
func (w *worker) restoreDue() bool {
	for _, t := range w.tables {
		t.mu.Lock()
		n := len(t.pending)
		t.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// process runs one batch: dispatch, wait, make effects durable, commit.
func (w *worker) process(recs []*kgo.Record) error {
	b := newBatch()
	if w.tr.transactional() {
		if err := w.tr.begin(); err != nil {
			return fmt.Errorf("streams: begin transaction: %w", err)
		}
	}
	w.cur.Store(b)
	defer w.cur.Store(nil)

	var derr error
	for _, r := range recs {
		w.app.stats.events.Add(1)
		for _, ar := range w.byTopic[r.Topic] {
			if err := ar.deliver(w.ctx, r, b); err != nil {
				derr = err
				break
			}
		}
		if derr != nil {
			break
		}
	}
	if derr == nil {
		derr = w.endDispatch(b)
	}
	if derr == nil {
		b.seal()
		select {
		case <-b.idle:
			// An agent that failed finished its events after failing
			// the worker: a failure now belongs to this batch.
			select {
			case <-w.failed:
				derr = w.err()
			default:
			}
		case <-w.failed:
			derr = w.err()
		case <-w.ctx.Done():
			derr = w.ctx.Err()
		}
	}
	if derr == nil {
		derr = b.firstErr()
	}
	if derr == nil {
		derr = w.tableErr()
	}
	if derr == nil {
		derr = w.tablesBeforeCommit()
	}
	if derr != nil {
		// Other instances may still be sending: stop them before the
		// abort, so no record opens a transaction after it.
		w.stopAgents()
	}
	if w.tr.transactional() {
		return w.endTxn(derr)
	}
	if derr != nil {
		w.discardTables()
		return derr
	}
	if err := w.tr.flush(w.ctx); err != nil {
		w.discardTables()
		return fmt.Errorf("streams: flushing the batch's records: %w", err)
	}
	if err := b.firstErr(); err != nil {
		w.discardTables()
		return fmt.Errorf("streams: sending the batch's records: %w", err)
	}
	if err := w.commitTables(); err != nil {
		return err
	}
	if err := w.tr.commitOffsets(w.ctx); err != nil {
		if w.ctx.Err() != nil {
			return nil
		}
		// A commit lost to a rebalance replays the batch on the new owner:
		// at least once, as promised.
		w.log.Warn("streams: committing offsets failed; the batch may be processed again", "err", err)
		return nil
	}
	w.app.stats.batches.Add(1)
	w.app.metrics.incBatches()
	return nil
}

// endTxn commits the batch's transaction, or aborts it when the batch
// failed; tables see their writes only after a commit.
func (w *worker) endTxn(batchErr error) error {
	// Not w.ctx: a shutdown arriving during End must not leave the
	// transaction open (it would hold the last stable offset of every
	// partition it wrote until the transaction timeout).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	committed, err := w.tr.end(ctx, batchErr == nil)
	if committed && err == nil {
		if cerr := w.commitTables(); cerr != nil {
			return cerr
		}
		w.app.stats.batches.Add(1)
		w.app.metrics.incBatches()
		return batchErr
	}
	w.app.stats.aborted.Add(1)
	w.app.metrics.incAborted()
	w.discardTables()
	if batchErr != nil {
		return batchErr
	}
	if err != nil {
		if w.ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
			errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kgo.ErrClientClosed) {
			return fmt.Errorf("streams: ending transaction: %w", err)
		}
		// Anything else (a broker restarting, a coordinator moving): the
		// outcome may be unknown (an EndTxn whose answer was lost).
		// franz-go rewound to the offsets committed as far as it knows;
		// the tables restore again from their changelogs, read_committed,
		// so they hold exactly the writes of committed batches either way.
		w.requeueTables()
		w.log.Warn("streams: ending the transaction failed; tables restore again and uncommitted events are processed again", "err", err)
		return nil
	}
	w.log.Info("streams: transaction aborted (rebalance or fencing); the batch will be processed again")
	return nil
}

func (w *worker) fail(err error) {
	w.failOnce.Do(func() {
		w.failErr = err
		w.log.Error("streams: worker failing", "err", err)
		close(w.failed)
	})
}

func (w *worker) err() error {
	select {
	case <-w.failed:
		return w.failErr
	default:
		return nil
	}
}

// goAgent runs f as one of the worker's agent goroutines.
func (w *worker) goAgent(f func()) {
	w.agentWG.Add(1)
	go func() {
		defer w.agentWG.Done()
		f()
	}()
}

// stopAgents cancels the agents and waits until every one has returned.
func (w *worker) stopAgents() {
	w.stopOnce.Do(func() {
		w.cancel()
		for _, ar := range w.agents {
			ar.stop()
		}
		w.agentWG.Wait()
	})
}

// shutdown stops the agents, closes the tables and leaves the group.
func (w *worker) shutdown() {
	w.stopQueryServer()
	w.timers.stop()
	w.stopAgents()
	w.closeGlobals()
	w.stopStandbys()
	w.stopProbe()
	for _, t := range w.tables {
		t.closeAll()
	}
	w.tr.close()
	w.log.Info("streams: worker stopped")
}

// produce sends r as an effect of the current batch.
func (w *worker) produce(r *kgo.Record) error {
	b := w.cur.Load()
	if b == nil {
		return errors.New("streams: a send from an agent outside of a batch")
	}
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			b.setErr(fmt.Errorf("topic %s: %w", r.Topic, err))
			return
		}
		if tc := w.changelogs[r.Topic]; tc != nil {
			tc.noteOffset(r.Partition, r.Offset)
		}
	}
	w.tr.produce(w.ctx, r, promise)
	return nil
}

// send routes a record: from an agent reading a topic, into the batch;
// from anywhere else, through the app's plain producer, synchronously.
func (a *App) send(ctx context.Context, r *kgo.Record) error {
	if ac, ok := ctx.Value(agentCtxKey{}).(*agentCtx); ok && ac.batched {
		return ac.w.produce(r)
	}
	if a.mem != nil {
		return a.mem.produceSync(r)
	}
	cl, err := a.outsideProducer()
	if err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("streams: producing to %s: %w", r.Topic, err)
	}
	return nil
}

func (w *worker) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	w.forgetRevoked()
	for _, t := range w.tables {
		if ps, ok := m[t.source.name]; ok {
			t.assign(ps)
		}
	}
	w.releaseStandbys(m)
	if ps, ok := m[leaderTopic(w.app.id)]; ok && len(ps) > 0 && !w.manualTimers {
		w.timers.start()
	}
	w.log.Info("streams: partitions assigned", "partitions", m)
	if w.restoreDue() {
		w.wakePoll()
	}
}

func (w *worker) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	if ps, ok := m[leaderTopic(w.app.id)]; ok && len(ps) > 0 {
		w.timers.stop()
	}
	w.noteRevoked(m)
	for _, t := range w.tables {
		if ps, ok := m[t.source.name]; ok {
			t.revoke(ps)
		}
	}
	w.log.Info("streams: partitions revoked", "partitions", m)
}

// restorePending restores every table partition assigned and not yet
// restored, before the batch just polled is processed: at assignment, as
// Kafka Streams and Faust restore every assigned task's stores before
// processing, whether or not its source partitions get records (a
// partition that gets none must still answer interactive queries).
//
// Under ExactlyOnce this is safe before franz-go has fetched the source
// partition's stable committed offset (KIP-447): the restore reads the
// changelog read_committed up to the high watermark it has when the
// restore starts, waiting for a transaction still open below it. The
// previous owner flushes a batch's changelog records before it adds the
// batch's offsets to its transaction, so a transaction whose offsets
// still block the committed offset has all its changelog records below
// that watermark and the restore waits for its outcome; a transaction
// that has not added its offsets yet cannot commit them any more (the
// group's generation changed with the assignment: ILLEGAL_GENERATION) and
// aborts. The cost: a previous owner that died with a transaction open on
// the changelog holds this restore, and so the worker's next batch, until
// the broker aborts that transaction (its transaction timeout), where
// Kafka Streams holds only that task (it restores once the committed
// offset is stable).
func (w *worker) restorePending(ctx context.Context) error {
	for _, t := range w.tables {
		if err := t.restorePending(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) tableErr() error {
	for _, t := range w.tables {
		if err := t.stickyErr(); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) commitTables() error {
	for _, t := range w.tables {
		if err := t.commit(); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) requeueTables() {
	for _, t := range w.tables {
		t.requeue()
	}
}

func (w *worker) discardTables() {
	for _, t := range w.tables {
		t.discard()
	}
}

// tablesBeforeCommit runs the tables' end-of-batch work (windows closing,
// stream time, TTL expiry: see tableExt) inside the batch, once its agents
// are idle, so what it writes and sends commits with the batch.
func (w *worker) tablesBeforeCommit() error {
	ctx := context.WithValue(w.ctx, agentCtxKey{}, &agentCtx{w: w, batched: true})
	for _, t := range w.tables {
		if t.ext == nil {
			continue
		}
		if err := t.ext.beforeCommit(ctx); err != nil {
			return err
		}
		if err := t.stickyErr(); err != nil {
			return err
		}
	}
	return nil
}
