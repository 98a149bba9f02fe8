package share

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicInfo is one topic as the assignor sees it.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// GroupSettings are a group's own share.* group configs; zero values take
// the broker-wide ones of Config.
type GroupSettings struct {
	SessionTimeout, HeartbeatInterval, LockDuration time.Duration
}

// Config configures a Coordinator. Zero values take Kafka's defaults.
type Config struct {
	// Now is the clock, read when a request arrives; time otherwise
	// advances through Tick.
	Now func() time.Time
	// Topics lists the broker's topics (called under the mutex).
	Topics func() []TopicInfo
	// Group returns a group's own settings (called under the mutex; may be
	// nil).
	Group func(group string) GroupSettings
	// SessionTimeout is group.share.session.timeout.ms (45s);
	// HeartbeatInterval group.share.heartbeat.interval.ms (5s).
	SessionTimeout, HeartbeatInterval time.Duration
	// LockDuration is group.share.record.lock.duration.ms (30s).
	LockDuration time.Duration
	// DeliveryLimit is group.share.delivery.count.limit (5).
	DeliveryLimit int16
	// MaxRecordLocks is group.share.partition.max.record.locks (2000).
	MaxRecordLocks int
	// MaxGroupSize is group.share.max.size (200).
	MaxGroupSize int
	// Logger receives the coordinator's logs (default discard).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Topics == nil {
		c.Topics = func() []TopicInfo { return nil }
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.LockDuration <= 0 {
		c.LockDuration = 30 * time.Second
	}
	if c.DeliveryLimit <= 0 {
		c.DeliveryLimit = 5
	}
	if c.MaxRecordLocks <= 0 {
		c.MaxRecordLocks = 2000
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = 200
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// TP is a topic partition by topic id.
type TP struct {
	Topic     [16]byte
	Partition int32
}

// Key names a share-partition.
type Key struct {
	Group string
	TP
}

type member struct {
	id, clientID, clientHost string
	rack                     *string
	epoch                    int32
	topics                   []string // subscribed topic names, sorted
	assigned                 []TP     // sorted
	deadline                 time.Time
}

type group struct {
	id          string
	epoch       int32 // group epoch
	assignEpoch int32 // epoch of the target assignment
	members     map[string]*member
	target      map[string][]TP
	topicsHash  string // partition counts of the subscribed topics at the last assignment
	parts       map[TP]*partition
}

// Coordinator is the share-group coordinator of this broker. One mutex
// guards everything; it is safe for concurrent use.
type Coordinator struct {
	cfg Config

	mu      sync.Mutex
	groups  map[string]*group
	changed chan struct{} // closed when records become available again
	dirty   map[Key]struct{}
	next    time.Time // the earliest deadline (member session, record lock) known; zero: none
}

// noteDeadline keeps t if it is the earliest deadline known; c.mu held.
func (c *Coordinator) noteDeadline(t time.Time) {
	if c.next.IsZero() || t.Before(c.next) {
		c.next = t
	}
}

// NextDeadline is the earliest time Tick has work to do (a member's
// session or a record's acquisition lock ends); zero when none. Requests
// only make it earlier; Tick recomputes it.
func (c *Coordinator) NextDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

// New returns a coordinator with no groups; replay __share_group_state into
// it (Replay) before serving.
func New(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), groups: map[string]*group{}, changed: make(chan struct{}), dirty: map[Key]struct{}{}}
}

// Changed returns a channel closed the next time records become available
// again (released, lock expired, offsets altered) or acknowledgements move
// a start offset (making room under group.share.partition.max.record.locks):
// long-polling share fetches wait on it besides the partitions' appends.
func (c *Coordinator) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Coordinator) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Coordinator) getOrCreate(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = &group{id: id, members: map[string]*member{}, target: map[string][]TP{}, parts: map[TP]*partition{}}
		c.groups[id] = g
	}
	return g
}

func (c *Coordinator) settings(group string) GroupSettings {
	s := GroupSettings{}
	if c.cfg.Group != nil {
		s = c.cfg.Group(group)
	}
	if s.SessionTimeout <= 0 {
		s.SessionTimeout = c.cfg.SessionTimeout
	}
	if s.HeartbeatInterval <= 0 {
		s.HeartbeatInterval = c.cfg.HeartbeatInterval
	}
	if s.LockDuration <= 0 {
		s.LockDuration = c.cfg.LockDuration
	}
	return s
}

// LockDuration is the acquisition lock duration of a group (ShareFetch's
// AcquisitionLockTimeoutMillis).
func (c *Coordinator) LockDuration(group string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settings(group).LockDuration
}

// Exists reports whether a share group with that id is known (members or
// share-partition state).
func (c *Coordinator) Exists(group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[group] != nil
}

// Heartbeat handles a ShareGroupHeartbeat already validated by the broker
// (group and member id set, epoch >= -1, topics on a join).
func (c *Coordinator) Heartbeat(req *kmsg.ShareGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ShareGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	set := c.settings(req.GroupID)
	resp.HeartbeatIntervalMillis = int32(set.HeartbeatInterval.Milliseconds())
	fail := func(err *kerr.Error) *kmsg.ShareGroupHeartbeatResponse {
		resp.ErrorCode = err.Code
		msg := err.Message
		resp.ErrorMessage = &msg
		return resp
	}
	g := c.groups[req.GroupID]
	if req.MemberEpoch == -1 {
		if g == nil || g.members[req.MemberID] == nil {
			return fail(kerr.UnknownMemberID)
		}
		c.removeMember(g, req.MemberID, now)
		resp.MemberID = &req.MemberID
		resp.MemberEpoch = -1
		return resp
	}
	var m *member
	if g != nil {
		m = g.members[req.MemberID]
	}
	full := req.MemberEpoch == 0 || req.SubscribedTopicNames != nil
	switch {
	case req.MemberEpoch == 0:
		if g == nil {
			g = c.getOrCreate(req.GroupID)
		}
		if m == nil {
			if len(g.members) >= c.cfg.MaxGroupSize {
				return fail(kerr.GroupMaxSizeReached)
			}
			m = &member{id: req.MemberID}
			g.members[m.id] = m // its subscription (required on a join) bumps the epoch
			c.cfg.Logger.Info("share group member joined", "group", g.id, "member", m.id, "epoch", g.epoch)
		}
	case m == nil:
		return fail(kerr.UnknownMemberID)
	case req.MemberEpoch != m.epoch:
		return fail(kerr.FencedMemberEpoch)
	}
	m.clientID, m.clientHost, m.deadline = clientID, clientHost, now.Add(set.SessionTimeout)
	c.noteDeadline(m.deadline)
	if req.RackID != nil {
		m.rack = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		ts := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(ts)
		ts = slices.Compact(ts)
		if !slices.Equal(ts, m.topics) {
			m.topics = ts
			g.epoch++
		}
	}
	c.maybeAssign(g)
	changed := m.epoch != g.epoch
	if changed {
		m.epoch = g.epoch
		m.assigned = g.target[m.id]
	}
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = m.epoch
	if changed || full {
		a := &kmsg.ShareGroupHeartbeatResponseAssignment{}
		for _, tp := range m.assigned {
			if n := len(a.TopicPartitions); n > 0 && a.TopicPartitions[n-1].TopicID == tp.Topic {
				a.TopicPartitions[n-1].Partitions = append(a.TopicPartitions[n-1].Partitions, tp.Partition)
				continue
			}
			a.TopicPartitions = append(a.TopicPartitions, kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{TopicID: tp.Topic, Partitions: []int32{tp.Partition}})
		}
		resp.Assignment = a
	}
	return resp
}

// maybeAssign recomputes the target assignment when the group epoch moved
// past it or a subscribed topic's partitions changed. Under mu.
func (c *Coordinator) maybeAssign(g *group) {
	topics := c.cfg.Topics()
	h := subscribedHash(g, topics)
	if h != g.topicsHash {
		g.topicsHash = h
		if g.assignEpoch == g.epoch { // not already due for a new assignment
			g.epoch++
		}
	}
	if g.assignEpoch == g.epoch {
		return
	}
	g.target = assign(g, topics)
	g.assignEpoch = g.epoch
}

// removeMember drops a member, releases its acquired records and bumps
// the group epoch. Under mu.
func (c *Coordinator) removeMember(g *group, id string, now time.Time) {
	delete(g.members, id)
	delete(g.target, id)
	g.epoch++
	c.releaseMemberLocked(g, id, now)
}

// ReleaseMember makes every record the member acquired in the group
// available again (share session closed).
func (c *Coordinator) ReleaseMember(groupID, memberID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[groupID]; g != nil {
		c.releaseMemberLocked(g, memberID, c.cfg.Now())
	}
}

func (c *Coordinator) releaseMemberLocked(g *group, id string, _ time.Time) {
	released := false
	for _, tp := range sortedTPs(g.parts) {
		p := g.parts[tp]
		if n := p.releaseMember(id, c.cfg.DeliveryLimit); n > 0 {
			released = true
			c.changedPart(Key{g.id, tp}, p)
		}
	}
	if released {
		c.signal()
	}
}

// changedPart notes a change of p's durable state. Under mu.
func (c *Coordinator) changedPart(k Key, p *partition) {
	p.advance()
	p.seq++
	c.dirty[k] = struct{}{}
}

// TakeDirty returns (and forgets) the share-partitions whose durable state
// changed since the last call, in order: the broker persists them.
func (c *Coordinator) TakeDirty() []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 {
		return nil
	}
	ks := make([]Key, 0, len(c.dirty))
	for k := range c.dirty {
		ks = append(ks, k)
	}
	clear(c.dirty)
	return dedupKeys(ks)
}

// Tick advances time: expires members past their session timeout and
// acquisition locks past their duration (see TakeDirty for what to
// persist).
func (c *Coordinator) Tick(now time.Time) (next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.next = next }()
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	released := false
	for _, id := range ids {
		g := c.groups[id]
		var expired []string
		for mid, m := range g.members {
			if !now.Before(m.deadline) {
				expired = append(expired, mid)
			}
		}
		slices.Sort(expired)
		for _, mid := range expired {
			c.cfg.Logger.Info("share group member expired", "group", g.id, "member", mid)
			c.removeMember(g, mid, now)
		}
		for _, m := range g.members {
			earliest(m.deadline)
		}
		for _, tp := range sortedTPs(g.parts) {
			p := g.parts[tp]
			n, pnext := p.expire(now, c.cfg.DeliveryLimit)
			if n > 0 {
				released = true
				c.changedPart(Key{g.id, tp}, p)
			}
			earliest(pnext)
		}
	}
	if released {
		c.signal()
	}
	return next
}

func dedupKeys(ks []Key) []Key {
	slices.SortFunc(ks, cmpKey)
	return slices.CompactFunc(ks, func(a, b Key) bool { return a == b })
}

func cmpKey(a, b Key) int {
	if a.Group != b.Group {
		if a.Group < b.Group {
			return -1
		}
		return 1
	}
	return cmpTP(a.TP, b.TP)
}

func cmpTP(a, b TP) int {
	for i := range a.Topic {
		if a.Topic[i] != b.Topic[i] {
			return int(a.Topic[i]) - int(b.Topic[i])
		}
	}
	return int(a.Partition - b.Partition)
}

func sortedTPs[V any](m map[TP]V) []TP {
	out := make([]TP, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, cmpTP)
	return out
}
