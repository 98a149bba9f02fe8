package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a Coordinator. Zero durations take Kafka's defaults.
type Config struct {
	// Now is the clock; it is read only when a request arrives (time
	// otherwise advances through Tick).
	Now func() time.Time
	// Persister stores records in __consumer_offsets; nil keeps them in
	// memory only (tests).
	Persister Persister
	// Partitions is offsets.topic.num.partitions (default 50).
	Partitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms (default
	// 3s; negative means 0).
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout are
	// group.{min,max}.session.timeout.ms (defaults 6s and 30m).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// OffsetsRetention is offsets.retention.minutes (default 7 days);
	// RetentionCheckInterval is offsets.retention.check.interval.ms
	// (default 10m).
	OffsetsRetention, RetentionCheckInterval time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes (default 4096).
	MaxMetadataBytes int
	// Topics lists the broker's topics for the KIP-848 server-side
	// assignors; nil means none. It is called under the coordinator's
	// mutex.
	Topics func() []TopicInfo
	// ConsumerSessionTimeout is group.consumer.session.timeout.ms (default
	// 45s); ConsumerHeartbeatInterval is
	// group.consumer.heartbeat.interval.ms (default 5s).
	ConsumerSessionTimeout, ConsumerHeartbeatInterval time.Duration
	// GroupTimeouts, when set, gives a consumer group's own
	// consumer.session.timeout.ms and consumer.heartbeat.interval.ms (KIP-848
	// group configs); a zero duration means the broker-wide value above. It
	// is called under the coordinator's mutex and must not call back.
	GroupTimeouts func(groupID string) (session, heartbeat time.Duration)
	// ConsumerAssignors is group.consumer.assignors, the first being the
	// default (default uniform, range; only those two exist).
	ConsumerAssignors []string
	// NewID returns a random suffix for member ids (default a UUID).
	NewID func() string
	// Logger receives the coordinator's logs (default discard).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Partitions <= 0 {
		c.Partitions = 50
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = 10 * time.Minute
	}
	if c.MaxMetadataBytes == 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.ConsumerSessionTimeout <= 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval <= 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = []string{"uniform", "range"}
	}
	if c.NewID == nil {
		c.NewID = randomUUID
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// State is a classic group's state, named as Kafka names it on the wire.
type State int8

// Kafka's classic group states.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// Coordinator is the group coordinator of every group of this broker. It is
// safe for concurrent use: one mutex guards everything, and callbacks run
// after it is released.
type Coordinator struct {
	cfg Config

	mu        sync.Mutex
	groups    map[string]*group
	nextDue   time.Time // no timer is due before this; zero: unknown
	lastCheck time.Time // last offset-expiry pass
	closed    bool
	out       []func() // callbacks to run after unlocking
	// txnOffsets: offsets committed in ongoing transactions, by producer
	// id and group, until EndTxn (txn.go).
	txnOffsets map[int64]map[string]map[tp]offset
	// writes counts the offset records written or replayed, in log
	// order within each partition (offset.written).
	writes uint64
}

// New returns a coordinator with no groups; replay __consumer_offsets into
// it (Replay, Loaded) before serving requests.
func New(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{cfg: cfg, groups: map[string]*group{}, lastCheck: cfg.Now()}
}

// Partitions is the partition count of __consumer_offsets the coordinator
// writes to.
func (c *Coordinator) Partitions() int32 { return c.cfg.Partitions }

// unlock releases the mutex and then runs the queued callbacks.
func (c *Coordinator) unlock() {
	out := c.out
	c.out = nil
	c.mu.Unlock()
	for _, f := range out {
		f()
	}
}

func (c *Coordinator) later(f func()) { c.out = append(c.out, f) }

// schedule notes that a timer is due at t.
func (c *Coordinator) schedule(t time.Time) {
	if !c.nextDue.IsZero() && t.Before(c.nextDue) {
		c.nextDue = t
	}
}

// Close answers every pending JoinGroup and SyncGroup with
// NOT_COORDINATOR; later requests get the same.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.unlock()
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			c.failJoin(g, m, kerr.NotCoordinator)
			c.failSync(m, kerr.NotCoordinator)
		}
	}
}

func (c *Coordinator) getOrCreate(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = &group{id: id, state: Empty, stateSince: c.cfg.Now(), members: map[string]*member{},
			static: map[string]string{}, pending: map[string]time.Time{}, offsets: map[tp]offset{}}
		c.groups[id] = g
	}
	return g
}

// maybeForget drops an empty group that has nothing left worth keeping.
func (c *Coordinator) maybeForget(g *group) {
	if g.cg == nil && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.protocolType == "" && g.generation == 0 &&
		len(c.pendingPartitionsLocked(g.id)) == 0 {
		g.state = Dead
		delete(c.groups, g.id)
	}
}

func (c *Coordinator) persist(g *group, recs []Record) error {
	if c.cfg.Persister == nil || len(recs) == 0 {
		return nil
	}
	err := c.cfg.Persister.Append(PartitionFor(g.id, c.cfg.Partitions), recs)
	if err != nil {
		c.cfg.Logger.Warn("writing to "+TopicName+" failed", "group", g.id, "err", err)
	}
	return err
}

// storeError is the error Kafka reports when the group's records could not
// be appended.
func storeError(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return kerr.InvalidCommitOffsetSize
		case kerr.NotLeaderForPartition:
			return kerr.NotCoordinator
		}
	}
	return kerr.CoordinatorNotAvailable
}

// Tick advances time: session expiry, rebalance and sync timeouts, pending
// member expiry, the initial rebalance delay and offset retention. It is
// cheap when nothing is due.
func (c *Coordinator) Tick(now time.Time) {
	c.mu.Lock()
	defer c.unlock()
	if c.closed {
		return
	}
	if !c.nextDue.IsZero() && now.Before(c.nextDue) && now.Sub(c.lastCheck) < c.cfg.RetentionCheckInterval {
		return
	}
	next := now.Add(time.Hour)
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids) // deterministic order of effects
	for _, id := range ids {
		g := c.groups[id]
		c.tickGroup(g, now)
		if t := g.nextDeadline(); !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	c.nextDue = next
	if now.Sub(c.lastCheck) >= c.cfg.RetentionCheckInterval {
		c.lastCheck = now
		c.expireOffsets(now)
	}
}
