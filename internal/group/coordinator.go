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
	// Write receives the coordinator's records to append to
	// __consumer_offsets (see Write); it is called after the
	// coordinator's mutex is released, and the broker reports the
	// outcome with Applied. Nil keeps the records in memory only: every
	// write succeeds at once (tests).
	Write func(*Write)
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
	// Timer receives a deadline earlier than the one the coordinator last
	// handed out (Tick's result or an earlier Timer call), made by a
	// request or an applied write: the driver calls Tick at that time. It
	// is called after the mutex is released, as Write is. Nil: the driver
	// ticks on its own schedule (tests).
	Timer func(at time.Time)
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

	mu     sync.Mutex
	groups map[string]*group
	// nextDue is the deadline last handed to the driver (Tick's result
	// or Config.Timer): no timer is due before it. Zero before the first
	// Tick, when the driver ticks anyway.
	nextDue   time.Time
	lastCheck time.Time // last offset-expiry pass
	closed    bool
	out       []func()  // callbacks to run after unlocking
	timer     time.Time // an earlier deadline for Config.Timer, handed out at unlock
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
	out, timer := c.out, c.timer
	c.out, c.timer = nil, time.Time{}
	c.mu.Unlock()
	if !timer.IsZero() && c.cfg.Timer != nil {
		c.cfg.Timer(timer)
	}
	for _, f := range out {
		f()
	}
}

func (c *Coordinator) later(f func()) { c.out = append(c.out, f) }

// schedule notes that a timer is due at t: when that is before the
// deadline the driver knows, it is handed out (Config.Timer) at unlock.
func (c *Coordinator) schedule(t time.Time) {
	if !c.nextDue.IsZero() && t.Before(c.nextDue) {
		c.nextDue = t
		c.timer = t
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
	if g.cg == nil && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.protocolType == "" && g.generation == 0 && len(g.writes) == 0 &&
		len(c.pendingPartitionsLocked(g.id)) == 0 {
		g.state = Dead
		delete(c.groups, g.id)
	}
}

// Write is a batch of records the coordinator asks the broker to append
// to partition Partition of __consumer_offsets, in producer ProducerID's
// transaction (at ProducerEpoch, a transactional batch) when ProducerID >= 0,
// as a plain batch otherwise. The broker appends it without holding the
// coordinator's mutex and reports the outcome with Applied, which applies
// the change (or drops it on an error) and answers the request that made
// it. A group has at most one write out at a time: its later writes queue
// behind it, so a group's records reach the log in the order the
// coordinator made them and are applied in that order, while different
// groups never wait for each other's appends.
type Write struct {
	Group         string
	Partition     int32
	Records       []Record
	ProducerID    int64
	ProducerEpoch int16

	g    *group
	done func(err error) // under mu, once appended (err nil) or not
}

// write queues recs for group g (a transactional write when pid >= 0);
// done runs under mu with the append's outcome. Called under mu.
func (c *Coordinator) write(g *group, recs []Record, pid int64, epoch int16, done func(err error)) {
	if c.cfg.Write == nil || len(recs) == 0 {
		done(nil)
		return
	}
	w := &Write{Group: g.id, Partition: PartitionFor(g.id, c.cfg.Partitions), Records: recs, ProducerID: pid, ProducerEpoch: epoch, g: g, done: done}
	g.writes = append(g.writes, w)
	if len(g.writes) == 1 {
		c.later(func() { c.cfg.Write(w) })
	}
}

// Applied reports the outcome of appending w (nil: the records are in the
// log). The change w carries is applied or dropped, the requests waiting
// for it are answered, and the group's next queued write, if any, is
// handed to Config.Write, all after the mutex is released.
func (c *Coordinator) Applied(w *Write, err error) {
	c.mu.Lock()
	defer c.unlock()
	g := w.g
	if len(g.writes) == 0 || g.writes[0] != w {
		c.cfg.Logger.Error("write applied out of order", "group", w.Group)
		return
	}
	g.writes[0] = nil
	g.writes = g.writes[1:]
	if err != nil {
		c.cfg.Logger.Warn("writing to "+TopicName+" failed", "group", g.id, "err", err)
	}
	w.done(err)
	if len(g.writes) > 0 {
		next := g.writes[0]
		c.later(func() { c.cfg.Write(next) })
	} else if c.groups[g.id] == g {
		c.maybeForget(g)
	}
}

// storeError is the error Kafka reports when the group's records could not
// be appended.
func storeError(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return kerr.InvalidCommitOffsetSize
		case kerr.NotLeaderForPartition, kerr.NotCoordinator:
			return kerr.NotCoordinator
		}
	}
	return kerr.CoordinatorNotAvailable
}

// Tick advances time: session expiry, rebalance and sync timeouts, pending
// member expiry, the initial rebalance delay and offset retention. It
// returns the next deadline: the driver calls Tick again then, or earlier
// when Config.Timer hands out an earlier one. It is cheap when nothing is
// due. Groups are visited in id order, so the effects come out in a
// deterministic order.
func (c *Coordinator) Tick(now time.Time) time.Time {
	c.mu.Lock()
	defer c.unlock()
	if c.closed {
		return time.Time{}
	}
	retention := c.lastCheck.Add(c.cfg.RetentionCheckInterval)
	if !c.nextDue.IsZero() && now.Before(c.nextDue) && now.Before(retention) {
		return earliest(c.nextDue, retention)
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
	if !now.Before(retention) {
		c.lastCheck = now
		c.expireOffsets(now)
		retention = now.Add(c.cfg.RetentionCheckInterval)
	}
	c.nextDue = next
	c.timer = time.Time{} // the result supersedes a Timer made while ticking
	return earliest(next, retention)
}

// earliest is the earlier of two deadlines.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
