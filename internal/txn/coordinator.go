// Package txn is the transaction coordinator as a state machine, following
// Kafka's TransactionCoordinator: no I/O, no goroutines, no clock of its
// own. The broker feeds it requests and Tick(now); when a transaction must
// be completed (EndTxn, an epoch bump over an ongoing transaction, a
// timeout) it answers with a Completion naming the partitions that need a
// commit or abort marker. The broker writes the markers and then calls
// Complete; until then the transaction is PrepareCommit/PrepareAbort and
// every request on it gets CONCURRENT_TRANSACTIONS.
//
// Every state change is a record of __transaction_state in Kafka's format
// (records.go) that must be in the log before the change takes effect:
// a request that changes state returns it as a Write, the pending
// transition of the id, and the broker appends it without holding the
// coordinator's mutex and reports the outcome with Applied, which makes
// the change or drops it, as Kafka's coordinator prepares a transition,
// appends, and completes it in the append callback. While an id has a
// write out, requests on it get CONCURRENT_TRANSACTIONS; other ids never
// wait for it. Timers are values too: Tick returns the next deadline (a
// transaction timeout or an id expiration), and an applied Write carries
// its id's next deadline (Write.Deadline), so the driver ticks when
// something is due instead of polling. Tick's output is sorted by
// transactional id. The log is
// replayed on start (Replay, Loaded). Producer ids come from blocks the
// driver persists and hands in (ProducerIDs); when they run low, a result
// asks for the next block (NeedProducerIDs), so the persist is an effect
// the driver carries out with no lock held.
//
// All methods are safe for concurrent use.
package txn

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State of a transactional id, as Kafka names them.
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
)

func (s State) String() string {
	return [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead"}[s]
}

// TopicPartition names one partition in a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Completion is a transaction to finish: the broker writes a marker
// (Commit or abort) with ProducerID/Epoch to every partition, then calls
// Complete. A transaction's partitions include the __consumer_offsets
// partition of every group whose offsets it commits (AddOffsetsToTxn, or
// implicitly TxnOffsetCommit v5+), so the broker learns from them which
// pending offsets to resolve.
type Completion struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	Commit          bool
	Partitions      []TopicPartition // sorted
}

// Config configures a Coordinator.
type Config struct {
	// MaxTimeout is transaction.max.timeout.ms: InitProducerId asking
	// for more gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms: an id with no
	// transaction in progress and no update for this long is forgotten
	// (a tombstone in the transaction log). Zero means Kafka's 7 days.
	IDExpiration time.Duration
}

// ProducerIDBlock is a range [Start, End) of producer ids the driver has
// persisted as handed out, so that no restart reuses them.
type ProducerIDBlock struct{ Start, End int64 }

type txnMeta struct {
	id         string
	pid        int64
	epoch      int16
	timeout    time.Duration
	state      State
	started    time.Time // when the transaction became Ongoing
	partitions map[TopicPartition]struct{}
	lastUpdate time.Time

	// Transaction version 2 (KIP-890): every end bumps the epoch. When
	// the bump exhausts the epoch, nextPid is the producer id the client
	// continues with once the markers (written with the old id) are
	// done; prevPid is the id before the last such switch, so a retried
	// EndTxn from it is recognised. tv2 records that the last end came
	// from a version-2 client (persisted as ClientTransactionVersion).
	// endBumped: the last epoch bump ended a transaction (a version-2
	// EndTxn or a timeout), not InitProducerId, so a version-2 EndTxn from
	// the epoch before is a retry of that end, as Kafka decides.
	prevPid, nextPid int64
	tv2, endBumped   bool

	// pending is the write out for this id: until it is Applied every
	// request on the id gets CONCURRENT_TRANSACTIONS, as in Kafka while
	// a transition is pending. fresh: the id exists only by that write
	// (a first InitProducerId); it is not listed until applied.
	pending *Write
	fresh   bool
}

// Write is a record of the transaction log the broker must append to
// partition coordkey.Partition(ID) of __transaction_state (a nil Value is a
// tombstone), without holding the coordinator's mutex, before the
// transition it records takes effect: then it calls Applied. Abort, set
// on a write of Tick, is a timed-out transaction to complete once the
// write is applied, like an EndTxn abort.
type Write struct {
	ID         string
	Key, Value []byte
	Abort      *Completion
	// Deadline, set by Applied, is when the id next needs a Tick (its
	// transaction's timeout, or its expiration), whether the write was
	// applied or dropped; zero when it needs none (completing, or
	// forgotten).
	Deadline time.Time

	m    *txnMeta
	next txnMeta // m's state once applied
	gone bool    // applied, the id is forgotten
}

// stage turns the change made to m (old is a clone of m before it) into a
// pending Write: m goes back to old until Applied. Called under mu.
func (c *Coordinator) stage(m *txnMeta, old txnMeta) *Write {
	next := *m // takes m's maps: old has its own
	next.pending = nil
	w := &Write{ID: m.id, Key: encodeKey(m.id), Value: m.encodeValue(), m: m, next: next}
	fresh := m.fresh
	*m = old
	m.fresh = fresh
	m.pending = w
	return w
}

// Applied reports the outcome of appending w (nil: it is in the
// transaction log). On success the transition takes effect; on an error
// it is dropped and the request that made it gets the returned
// COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Applied(w *Write, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := w.m
	if m.pending != w {
		return kerr.CoordinatorNotAvailable // not the write out: nothing to apply
	}
	m.pending = nil
	if err != nil {
		if m.fresh && c.ids[w.ID] == m {
			delete(c.ids, w.ID)
		} else {
			w.Deadline = c.deadline(m)
		}
		return kerr.CoordinatorNotAvailable
	}
	if w.gone {
		if c.ids[w.ID] == m {
			delete(c.ids, w.ID)
		}
		return nil
	}
	*m = w.next
	m.pending, m.fresh = nil, false
	w.Deadline = c.deadline(m)
	return nil
}

// deadline is when m next needs a Tick: the timeout of its ongoing
// transaction, or its expiration when it has none; zero while it is
// completing (the markers drive it) or has a write out (Applied reports
// the deadline after it).
func (c *Coordinator) deadline(m *txnMeta) time.Time {
	if m.pending != nil || m.fresh {
		return time.Time{}
	}
	switch m.state {
	case Ongoing:
		return m.started.Add(m.timeout)
	case Empty, CompleteCommit, CompleteAbort:
		return m.lastUpdate.Add(c.cfg.IDExpiration)
	}
	return time.Time{}
}

// Coordinator holds every transactional id's metadata.
type Coordinator struct {
	cfg Config
	mu  sync.Mutex
	now time.Time // the last Tick or request time
	ids map[string]*txnMeta

	// Producer ids: the blocks handed in (ProducerIDs) and not used up;
	// blockSize is the last block's size (a new block is asked for when
	// fewer than half of it remain); asked: a result asked for a block
	// and ProducerIDs has not answered yet.
	pids      []ProducerIDBlock
	blockSize int64
	asked     bool
}

// ProducerIDs hands the coordinator the block of producer ids a result
// asked for (NeedProducerIDs), or the error persisting it failed with (a
// later result asks again).
func (c *Coordinator) ProducerIDs(b ProducerIDBlock, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = false
	if err == nil && b.End > b.Start {
		c.pids = append(c.pids, b)
		c.blockSize = b.End - b.Start
	}
}

// nextPIDLocked takes a producer id from the blocks. With none left it is
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers while it waits for its
// next block; the result then asks for one.
func (c *Coordinator) nextPIDLocked() (int64, error) {
	for len(c.pids) > 0 && c.pids[0].Start >= c.pids[0].End {
		c.pids = c.pids[1:]
	}
	if len(c.pids) == 0 {
		return 0, kerr.CoordinatorLoadInProgress
	}
	id := c.pids[0].Start
	c.pids[0].Start++
	return id, nil
}

// needPIDsLocked reports whether the driver is to persist a new block of
// producer ids: fewer than half a block is left and none is asked for.
func (c *Coordinator) needPIDsLocked() bool {
	if c.asked {
		return false
	}
	var left int64
	for _, b := range c.pids {
		left += b.End - b.Start
	}
	if left > 0 && left*2 >= c.blockSize {
		return false
	}
	c.asked = true
	return true
}

// New returns an empty coordinator.
func New(cfg Config) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	return &Coordinator{cfg: cfg, ids: map[string]*txnMeta{}}
}

// InitResult is InitProducerId's answer; Abort, when set, must be
// completed (markers written, Complete called) before the client may use
// the new epoch, so the broker does that before answering.
// NeedProducerIDs (set with an error too): the coordinator's producer ids
// run low; the driver persists a new block and hands it in with
// ProducerIDs, with no lock held.
type InitResult struct {
	ProducerID      int64
	Epoch           int16
	Abort           *Completion
	NeedProducerIDs bool
}

// InitProducerID gives transactional id id a producer id and epoch: a new
// id, or the same id with the epoch bumped (a new id when the epoch is
// exhausted). Older incarnations are fenced by the bump; an ongoing
// transaction of theirs is aborted. reqPID/reqEpoch are the KIP-360
// fields (-1 when absent): a producer re-initialising with a stale epoch
// gets PRODUCER_FENCED. The result holds once w is Applied.
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, reqPID int64, reqEpoch int16, now time.Time) (InitResult, *Write, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	res, w, err := c.initLocked(id, timeout, reqPID, reqEpoch, now)
	res.NeedProducerIDs = c.needPIDsLocked()
	return res, w, err
}

func (c *Coordinator) initLocked(id string, timeout time.Duration, reqPID int64, reqEpoch int16, now time.Time) (InitResult, *Write, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return InitResult{}, nil, kerr.InvalidTransactionTimeout
	}
	m := c.ids[id]
	if m != nil && m.pending != nil {
		return InitResult{}, nil, kerr.ConcurrentTransactions
	}
	if m == nil || m.state == Dead {
		pid, err := c.nextPIDLocked()
		if err != nil {
			return InitResult{}, nil, err
		}
		m = &txnMeta{id: id, pid: pid, epoch: 0, timeout: timeout, state: Empty, lastUpdate: now, prevPid: -1, nextPid: -1, fresh: true}
		c.ids[id] = m
		w := c.stage(m, m.clone())
		return InitResult{ProducerID: pid, Epoch: 0}, w, nil
	}
	switch m.state {
	case PrepareCommit, PrepareAbort:
		return InitResult{}, nil, kerr.ConcurrentTransactions
	}
	if reqPID >= 0 && (reqPID != m.pid || reqEpoch != m.epoch) {
		return InitResult{}, nil, kerr.ProducerFenced
	}
	old := m.clone()
	m.timeout = timeout
	m.lastUpdate = now
	m.endBumped = false // the bump below fences; it ends nothing to retry
	var res InitResult
	if m.epoch >= math.MaxInt16-1 {
		// Epoch exhausted: a new producer id. An ongoing transaction is
		// first aborted under the old id at the last epoch.
		pid, err := c.nextPIDLocked()
		if err != nil {
			*m = old
			return InitResult{}, nil, err
		}
		if m.state == Ongoing {
			m.epoch = math.MaxInt16
			res.Abort = c.prepareLocked(m, false)
		} else {
			m.state = Empty
		}
		m.prevPid, m.pid, m.epoch = m.pid, pid, 0
	} else {
		m.epoch++
		if m.state == Ongoing {
			res.Abort = c.prepareLocked(m, false)
		} else {
			m.state = Empty
		}
	}
	res.ProducerID, res.Epoch = m.pid, m.epoch
	return res, c.stage(m, old), nil
}

// check validates the producer of a request against the current one.
func (m *txnMeta) check(pid int64, epoch int16) error {
	if m.pid != pid {
		return kerr.InvalidProducerIDMapping
	}
	if epoch < m.epoch {
		return kerr.ProducerFenced
	}
	if epoch > m.epoch {
		return kerr.InvalidProducerEpoch
	}
	return nil
}

// lookup finds id's metadata and checks the producer.
func (c *Coordinator) lookup(id string, pid int64, epoch int16) (*txnMeta, error) {
	m := c.ids[id]
	if m == nil || m.state == Dead || m.fresh {
		return nil, kerr.InvalidProducerIDMapping
	}
	if err := m.check(pid, epoch); err != nil {
		return nil, err
	}
	if m.state == PrepareCommit || m.state == PrepareAbort || m.pending != nil {
		return nil, kerr.ConcurrentTransactions
	}
	return m, nil
}

func (c *Coordinator) begin(m *txnMeta, now time.Time) {
	if m.state != Ongoing {
		m.state = Ongoing
		m.started = now
		m.partitions = map[TopicPartition]struct{}{}
	}
	m.lastUpdate = now
}

// AddPartitions adds partitions to id's transaction, starting it if
// needed: AddPartitionsToTxn, AddOffsetsToTxn (the group's offsets
// partition) and, under transaction version 2, the implicit addition of
// a partition by Produce v12+ or of an offsets partition by
// TxnOffsetCommit v5+. The error applies to every partition. The
// partitions are in the transaction once w (nil when they already were)
// is Applied.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) (*Write, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	m, err := c.lookup(id, pid, epoch)
	if err != nil {
		return nil, err
	}
	old := m.clone()
	c.begin(m, now)
	added := old.state != Ongoing
	for _, tp := range parts {
		if _, ok := m.partitions[tp]; !ok {
			m.partitions[tp] = struct{}{}
			added = true
		}
	}
	if added {
		return c.stage(m, old), nil
	}
	return nil, nil
}

// Verify reports whether tp is in id's ongoing transaction with this
// producer (the check before a transactional batch is appended).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.ongoingLocked(id, pid, epoch, kerr.InvalidProducerEpoch)
	if err != nil {
		return err
	}
	if _, ok := m.partitions[tp]; !ok {
		return kerr.InvalidTxnState
	}
	return nil
}

// ongoingLocked finds id's ongoing transaction of producer pid at epoch;
// an older epoch gets fenced, as the calling API reports fencing.
func (c *Coordinator) ongoingLocked(id string, pid int64, epoch int16, fenced error) (*txnMeta, error) {
	m := c.ids[id]
	if m == nil || m.pid != pid {
		return nil, kerr.InvalidProducerIDMapping
	}
	if epoch < m.epoch {
		return nil, fenced
	}
	if m.state != Ongoing || epoch != m.epoch || m.fresh {
		return nil, kerr.InvalidTxnState
	}
	if m.pending != nil && m.pending.next.state != Ongoing {
		return nil, kerr.InvalidTxnState // ending: no more appends to it
	}
	return m, nil
}

// VerifyOffsets reports whether the offsets partition tp of a group is in
// id's ongoing transaction (the check of TxnOffsetCommit; as in Kafka it
// is made at partition granularity).
func (c *Coordinator) VerifyOffsets(id string, pid int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.ongoingLocked(id, pid, epoch, kerr.ProducerFenced)
	if err != nil {
		return err
	}
	if _, ok := m.partitions[tp]; !ok {
		return kerr.InvalidTxnState
	}
	return nil
}

// EndResult is EndTxn's answer: a Completion to carry out (nil when
// nothing is left to do: an empty transaction, or a retry of an end that
// already completed) and the producer id and epoch the client continues
// with (bumped under transaction version 2). NeedProducerIDs is
// InitResult's.
type EndResult struct {
	Completion      *Completion
	ProducerID      int64
	Epoch           int16
	NeedProducerIDs bool
}

// EndTxn starts committing or aborting id's transaction. v2 is true for a
// transaction version 2 client (EndTxn v5+ with the feature finalized):
// the epoch is bumped by every end, before the markers are written, so
// they fence the old epoch in every partition; a retry from the previous
// epoch of an end that completed succeeds, and aborting with no
// transaction bumps the epoch too. The result holds once w (nil when
// nothing changes) is Applied.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit, v2 bool, now time.Time) (EndResult, *Write, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	res, w, err := c.endLocked(id, pid, epoch, commit, v2, now)
	if v2 { // only a version-2 end takes producer ids
		res.NeedProducerIDs = c.needPIDsLocked()
	}
	return res, w, err
}

func (c *Coordinator) endLocked(id string, pid int64, epoch int16, commit, v2 bool, now time.Time) (EndResult, *Write, error) {
	m := c.ids[id]
	if m == nil || m.state == Dead || m.fresh {
		return EndResult{}, nil, kerr.InvalidProducerIDMapping
	}
	if m.pending != nil {
		return EndResult{}, nil, kerr.ConcurrentTransactions
	}
	if v2 && m.isRetryV2(pid, epoch) {
		switch {
		case m.state == PrepareCommit || m.state == PrepareAbort:
			return EndResult{}, nil, kerr.ConcurrentTransactions
		case m.state == CompleteCommit && commit, m.state == CompleteAbort && !commit:
			return m.endResult(nil), nil, nil
		case m.state == CompleteCommit, m.state == CompleteAbort:
			return EndResult{}, nil, kerr.InvalidTxnState // a retry with the other outcome
		default:
			return EndResult{}, nil, kerr.ProducerFenced // a new transaction began since
		}
	}
	if err := m.check(pid, epoch); err != nil {
		return EndResult{}, nil, err
	}
	switch m.state {
	case Ongoing:
		old := m.clone()
		m.lastUpdate = now
		m.tv2, m.endBumped = v2, v2
		if v2 {
			if err := c.bumpLocked(m); err != nil {
				*m = old
				return EndResult{}, nil, err
			}
		}
		comp := c.prepareLocked(m, commit)
		res := m.endResult(comp)
		return res, c.stage(m, old), nil
	case PrepareCommit, PrepareAbort:
		return EndResult{}, nil, kerr.ConcurrentTransactions
	}
	if v2 {
		// Empty, CompleteCommit or CompleteAbort at the current epoch:
		// nothing to commit; an abort bumps the epoch (KIP-890).
		if commit {
			return EndResult{}, nil, kerr.InvalidTxnState
		}
		old := m.clone()
		m.lastUpdate, m.tv2, m.endBumped = now, true, true
		if err := c.bumpLocked(m); err != nil {
			*m = old
			return EndResult{}, nil, err
		}
		m.state, m.partitions = CompleteAbort, nil
		m.switchPid()
		res := m.endResult(nil)
		return res, c.stage(m, old), nil
	}
	switch m.state {
	case CompleteCommit:
		if commit {
			return m.endResult(nil), nil, nil // retry
		}
		return EndResult{}, nil, kerr.InvalidTxnState
	case CompleteAbort:
		if !commit {
			return m.endResult(nil), nil, nil
		}
		return EndResult{}, nil, kerr.InvalidTxnState
	default: // Empty
		if commit {
			return EndResult{}, nil, kerr.InvalidTxnState
		}
		return m.endResult(nil), nil, nil // aborting nothing is fine
	}
}

// isRetryV2 reports whether pid/epoch is the producer as it was before
// the last version-2 end bumped it.
func (m *txnMeta) isRetryV2(pid int64, epoch int16) bool {
	if !m.endBumped {
		return false
	}
	if pid == m.pid && epoch == m.epoch-1 {
		return true // markers written, or being written, at m.epoch
	}
	return m.prevPid >= 0 && pid == m.prevPid && epoch == math.MaxInt16-1 && m.epoch == 0
}

// bumpLocked raises m's epoch for a version-2 end; the markers carry the
// bumped epoch. When that reaches the last epoch a new producer id is
// allocated for after the end (nextPid).
func (c *Coordinator) bumpLocked(m *txnMeta) error {
	if m.epoch >= math.MaxInt16-1 {
		pid, err := c.nextPIDLocked()
		if err != nil {
			return err
		}
		m.nextPid = pid
	}
	if m.epoch < math.MaxInt16 {
		m.epoch++
	}
	return nil
}

// switchPid moves m to its next producer id, when the last end allocated
// one, once that end is complete.
func (m *txnMeta) switchPid() {
	if m.nextPid >= 0 {
		m.prevPid, m.pid, m.epoch, m.nextPid = m.pid, m.nextPid, 0, -1
	}
}

// endResult is the producer the client continues with after an end.
func (m *txnMeta) endResult(comp *Completion) EndResult {
	if m.nextPid >= 0 {
		return EndResult{Completion: comp, ProducerID: m.nextPid, Epoch: 0}
	}
	return EndResult{Completion: comp, ProducerID: m.pid, Epoch: m.epoch}
}

// prepareLocked moves m to PrepareCommit or PrepareAbort (not persisted:
// the caller saves) and returns its completion.
func (c *Coordinator) prepareLocked(m *txnMeta, commit bool) *Completion {
	m.state = PrepareAbort
	if commit {
		m.state = PrepareCommit
	}
	return c.completion(m, commit)
}

func (c *Coordinator) completion(m *txnMeta, commit bool) *Completion {
	comp := &Completion{TransactionalID: m.id, ProducerID: m.pid, Epoch: m.epoch, Commit: commit}
	for tp := range m.partitions {
		comp.Partitions = append(comp.Partitions, tp)
	}
	sort.Slice(comp.Partitions, func(i, j int) bool {
		a, b := comp.Partitions[i], comp.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return comp
}

// Complete records that the markers of a Completion were written: the
// transaction is CompleteCommit/CompleteAbort once w is Applied (w is nil
// when it is not completing any more). A failed write leaves it
// completing; the caller retries.
func (c *Coordinator) Complete(comp *Completion) (*Write, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ids[comp.TransactionalID]
	if m == nil || (m.state != PrepareCommit && m.state != PrepareAbort) {
		return nil, nil
	}
	if m.pending != nil {
		return nil, kerr.ConcurrentTransactions
	}
	old := m.clone()
	m.state = CompleteAbort
	if comp.Commit {
		m.state = CompleteCommit
	}
	m.partitions = nil
	m.switchPid()
	m.lastUpdate = c.now
	return c.stage(m, old), nil
}

// Tick advances the clock and returns the writes it makes, in
// transactional id order: for a transaction that timed out, its move to
// PrepareAbort (Write.Abort is then to be completed like an EndTxn abort);
// for an id idle for IDExpiration, its tombstone, as Kafka expires them.
// As Kafka does, the epoch is bumped first so the timed-out producer is
// fenced (its next request gets PRODUCER_FENCED / INVALID_PRODUCER_EPOCH).
// An id with a write out is left to it: Applied reports its deadline
// (Write.Deadline). next is the earliest deadline of the other ids (zero:
// none), when the driver is to call Tick again.
func (c *Coordinator) Tick(now time.Time) (out []*Write, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	ids := make([]string, 0, len(c.ids))
	for id := range c.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic order of the writes
	for _, id := range ids {
		m := c.ids[id]
		d := c.deadline(m)
		if d.IsZero() {
			continue
		}
		if now.Before(d) {
			if next.IsZero() || d.Before(next) {
				next = d
			}
			continue
		}
		if m.state != Ongoing {
			w := &Write{ID: id, Key: encodeKey(id), m: m, gone: true}
			m.pending = w
			out = append(out, w)
			continue
		}
		old := m.clone()
		if m.epoch < math.MaxInt16 {
			m.epoch++
		}
		m.lastUpdate, m.endBumped = now, true
		comp := c.prepareLocked(m, false)
		w := c.stage(m, old)
		w.Abort = comp
		out = append(out, w)
	}
	return out, next
}

// Describe returns the state, producer and partitions of id, for tests
// and admin APIs; ok is false for an unknown id.
func (c *Coordinator) Describe(id string) (state State, pid int64, epoch int16, parts []TopicPartition, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ids[id]
	if m == nil || m.fresh {
		return 0, -1, -1, nil, false
	}
	for tp := range m.partitions {
		parts = append(parts, tp)
	}
	sort.Slice(parts, func(i, j int) bool {
		return parts[i].Topic < parts[j].Topic || parts[i].Topic == parts[j].Topic && parts[i].Partition < parts[j].Partition
	})
	return m.state, m.pid, m.epoch, parts, true
}

// Info describes a transactional id (DescribeTransactions,
// ListTransactions).
type Info struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	State           State
	Timeout         time.Duration
	Started         time.Time // zero when no transaction ran
	Partitions      []TopicPartition
}

func (m *txnMeta) info() Info {
	in := Info{TransactionalID: m.id, ProducerID: m.pid, Epoch: m.epoch, State: m.state, Timeout: m.timeout}
	if m.state != Empty {
		in.Started = m.started
	}
	for tp := range m.partitions {
		in.Partitions = append(in.Partitions, tp)
	}
	sort.Slice(in.Partitions, func(i, j int) bool {
		a, b := in.Partitions[i], in.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return in
}

// Get returns id's Info; ok is false for an unknown id.
func (c *Coordinator) Get(id string) (Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ids[id]
	if m == nil || m.fresh {
		return Info{}, false
	}
	return m.info(), true
}

// All returns every transactional id's Info, by id.
func (c *Coordinator) All() []Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Info, 0, len(c.ids))
	for _, m := range c.ids {
		if !m.fresh {
			out = append(out, m.info())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}

// ParseState returns the state with Kafka's name s.
func ParseState(s string) (State, bool) {
	for st := Empty; st <= Dead; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}
