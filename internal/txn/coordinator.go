// Package txn is the transaction coordinator as a state machine, following
// Kafka's TransactionCoordinator: no I/O, no goroutines, no clock of its
// own. The broker feeds it requests and Tick(now); when a transaction must
// be completed (EndTxn, an epoch bump over an ongoing transaction, a
// timeout) it answers with a Completion naming the partitions that need a
// commit or abort marker. The broker writes the markers and then calls
// Complete; until then the transaction is PrepareCommit/PrepareAbort and
// every request on it gets CONCURRENT_TRANSACTIONS.
//
// Every state change is persisted (Config.Persist) to __transaction_state
// in Kafka's format before it takes effect, and replayed on start
// (records.go). Producer ids come from the broker's allocator
// (Config.NextProducerID).
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
// Complete(TransactionalID, ProducerID, Epoch).
type Completion struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	Commit          bool
	Partitions      []TopicPartition // sorted
	Groups          []string         // consumer groups added with AddOffsetsToTxn
}

// Config configures a Coordinator.
type Config struct {
	// MaxTimeout is transaction.max.timeout.ms: InitProducerId asking
	// for more gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// NextProducerID allocates a new producer id.
	NextProducerID func() (int64, error)
	// Persist appends one record to the transaction log (records.go),
	// called under the coordinator's mutex; nil keeps state in memory.
	// On an error the change is not made and the request gets
	// COORDINATOR_NOT_AVAILABLE.
	Persist func(id string, key, value []byte) error
}

type txnMeta struct {
	id         string
	pid        int64
	epoch      int16
	timeout    time.Duration
	state      State
	started    time.Time // when the transaction became Ongoing
	partitions map[TopicPartition]struct{}
	groups     map[string]struct{}
	lastUpdate time.Time
}

// Coordinator holds every transactional id's metadata.
type Coordinator struct {
	cfg Config
	mu  sync.Mutex
	now time.Time // the last Tick or request time
	ids map[string]*txnMeta
}

// New returns an empty coordinator.
func New(cfg Config) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	return &Coordinator{cfg: cfg, ids: map[string]*txnMeta{}}
}

// InitResult is InitProducerId's answer; Abort, when set, must be
// completed (markers written, Complete called) before the client may use
// the new epoch, so the broker does that before answering.
type InitResult struct {
	ProducerID int64
	Epoch      int16
	Abort      *Completion
}

// InitProducerID gives transactional id id a producer id and epoch: a new
// id, or the same id with the epoch bumped (a new id when the epoch is
// exhausted). Older incarnations are fenced by the bump; an ongoing
// transaction of theirs is aborted. reqPID/reqEpoch are the KIP-360
// fields (-1 when absent): a producer re-initialising with a stale epoch
// gets PRODUCER_FENCED.
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, reqPID int64, reqEpoch int16, now time.Time) (InitResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return InitResult{}, kerr.InvalidTransactionTimeout
	}
	m := c.ids[id]
	if m == nil || m.state == Dead {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return InitResult{}, kerr.KafkaStorageError
		}
		m = &txnMeta{id: id, pid: pid, epoch: 0, timeout: timeout, state: Empty, lastUpdate: now}
		if err := c.save(m); err != nil {
			return InitResult{}, err
		}
		c.ids[id] = m
		return InitResult{ProducerID: pid, Epoch: 0}, nil
	}
	switch m.state {
	case PrepareCommit, PrepareAbort:
		return InitResult{}, kerr.ConcurrentTransactions
	}
	if reqPID >= 0 && (reqPID != m.pid || reqEpoch != m.epoch) {
		return InitResult{}, kerr.ProducerFenced
	}
	old := m.clone()
	m.timeout = timeout
	m.lastUpdate = now
	var res InitResult
	if m.epoch >= math.MaxInt16-1 {
		// Epoch exhausted: a new producer id. An ongoing transaction is
		// first aborted under the old id at the last epoch.
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return InitResult{}, kerr.KafkaStorageError
		}
		if m.state == Ongoing {
			m.epoch = math.MaxInt16
			res.Abort = c.prepareLocked(m, false)
		} else {
			m.state = Empty
		}
		m.pid, m.epoch = pid, 0
	} else {
		m.epoch++
		if m.state == Ongoing {
			res.Abort = c.prepareLocked(m, false)
		} else {
			m.state = Empty
		}
	}
	if err := c.save(m); err != nil {
		*m = old
		return InitResult{}, err
	}
	res.ProducerID, res.Epoch = m.pid, m.epoch
	return res, nil
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
	if m == nil || m.state == Dead {
		return nil, kerr.InvalidProducerIDMapping
	}
	if err := m.check(pid, epoch); err != nil {
		return nil, err
	}
	if m.state == PrepareCommit || m.state == PrepareAbort {
		return nil, kerr.ConcurrentTransactions
	}
	return m, nil
}

func (c *Coordinator) begin(m *txnMeta, now time.Time) {
	if m.state != Ongoing {
		m.state = Ongoing
		m.started = now
		m.partitions = map[TopicPartition]struct{}{}
		m.groups = map[string]struct{}{}
	}
	m.lastUpdate = now
}

// AddPartitions adds partitions to id's transaction, starting it if
// needed. The error applies to every partition.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	m, err := c.lookup(id, pid, epoch)
	if err != nil {
		return err
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
		if err := c.save(m); err != nil {
			*m = old
			return err
		}
	}
	return nil
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
	if m.state != Ongoing || epoch != m.epoch {
		return nil, kerr.InvalidTxnState
	}
	return m, nil
}

// AddOffsets adds consumer group group to id's transaction (its offsets
// partition is added by the broker with AddPartitions semantics: the
// caller passes the partition too).
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, group string, offsetsPartition TopicPartition, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	m, err := c.lookup(id, pid, epoch)
	if err != nil {
		return err
	}
	old := m.clone()
	c.begin(m, now)
	m.groups[group] = struct{}{}
	m.partitions[offsetsPartition] = struct{}{}
	if err := c.save(m); err != nil {
		*m = old
		return err
	}
	return nil
}

// VerifyGroup reports whether group was added to id's ongoing transaction
// (the check of TxnOffsetCommit).
func (c *Coordinator) VerifyGroup(id string, pid int64, epoch int16, group string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.ongoingLocked(id, pid, epoch, kerr.ProducerFenced)
	if err != nil {
		return err
	}
	if _, ok := m.groups[group]; !ok {
		return kerr.InvalidTxnState
	}
	return nil
}

// EndTxn starts committing or aborting id's transaction. A nil Completion
// with a nil error means nothing is left to do (an empty transaction, or
// a retry of an end that already completed).
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool, now time.Time) (*Completion, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	m := c.ids[id]
	if m == nil || m.state == Dead {
		return nil, kerr.InvalidProducerIDMapping
	}
	if err := m.check(pid, epoch); err != nil {
		return nil, err
	}
	switch m.state {
	case Ongoing:
		old := m.clone()
		m.lastUpdate = now
		comp := c.prepareLocked(m, commit)
		if err := c.save(m); err != nil {
			*m = old
			return nil, err
		}
		return comp, nil
	case PrepareCommit, PrepareAbort:
		return nil, kerr.ConcurrentTransactions
	case CompleteCommit:
		if commit {
			return nil, nil // retry
		}
		return nil, kerr.InvalidTxnState
	case CompleteAbort:
		if !commit {
			return nil, nil
		}
		return nil, kerr.InvalidTxnState
	default: // Empty
		if commit {
			return nil, kerr.InvalidTxnState
		}
		return nil, nil // aborting nothing is fine
	}
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
	for g := range m.groups {
		comp.Groups = append(comp.Groups, g)
	}
	sort.Strings(comp.Groups)
	return comp
}

// Complete records that the markers of a Completion were written. An
// error (the record could not be persisted) leaves the transaction
// completing; the caller retries.
func (c *Coordinator) Complete(comp *Completion) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ids[comp.TransactionalID]
	if m == nil || (m.state != PrepareCommit && m.state != PrepareAbort) {
		return nil
	}
	old := m.clone()
	m.state = CompleteAbort
	if comp.Commit {
		m.state = CompleteCommit
	}
	m.partitions, m.groups = nil, nil
	m.lastUpdate = c.now
	if err := c.save(m); err != nil {
		*m = old
		return err
	}
	return nil
}

// Tick advances the clock and returns the transactions that timed out:
// each is now PrepareAbort and must be completed like an EndTxn abort.
// As Kafka does, the epoch is bumped first so the timed-out producer is
// fenced (its next request gets PRODUCER_FENCED / INVALID_PRODUCER_EPOCH).
func (c *Coordinator) Tick(now time.Time) []*Completion {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	var out []*Completion
	for _, m := range c.ids {
		if m.state != Ongoing || now.Sub(m.started) < m.timeout {
			continue
		}
		old := m.clone()
		if m.epoch < math.MaxInt16 {
			m.epoch++
		}
		m.lastUpdate = now
		comp := c.prepareLocked(m, false)
		if err := c.save(m); err != nil {
			*m = old // tried again on the next tick
			continue
		}
		out = append(out, comp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}

// Describe returns the state, producer and partitions of id, for tests
// and admin APIs; ok is false for an unknown id.
func (c *Coordinator) Describe(id string) (state State, pid int64, epoch int16, parts []TopicPartition, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ids[id]
	if m == nil {
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
	if m == nil {
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
		out = append(out, m.info())
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
