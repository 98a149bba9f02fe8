package group

// KIP-848 consumer groups (the "consumer" group type): ConsumerGroupHeartbeat
// and ConsumerGroupDescribe, with server-side assignors. The shape follows
// Kafka's GroupMetadataManager and CurrentAssignmentBuilder:
//
//   - The group has an epoch, bumped whenever membership, a subscription or
//     the metadata of a subscribed topic changes, and a target assignment
//     computed by the assignor for one group epoch (the assignment epoch).
//   - Each member has an epoch and converges towards its target one
//     heartbeat at a time. A partition the target moves away from a member
//     is first revoked (the member keeps its epoch, state
//     UNREVOKED_PARTITIONS, until a heartbeat no longer lists it as owned,
//     or it is fenced after its rebalance timeout); a partition the target
//     gives to a member is handed out only once no other member owns it
//     (UNRELEASED_PARTITIONS until then). So no partition is ever owned by
//     two members.
//   - Members are expired after group.consumer.session.timeout.ms without a
//     heartbeat. A static member (instance id) leaving with epoch -2 keeps
//     its partitions for its session timeout; a new member with the same
//     instance id takes them over with its epoch, without a rebalance.
//
// The group type shared with classic groups is in group.go, the
// assignors in assign.go.
//
// Consumer-group state (members, epochs, target assignments) is kept in
// memory only: the kmsg version in use has no ConsumerGroup*Key/Value
// schemas. Committed offsets are persisted as for classic groups, so after a
// restart a consumer group comes back as an empty group with its offsets and
// its members rejoin (their next heartbeat is GROUP_ID_NOT_FOUND or
// UNKNOWN_MEMBER_ID, which makes Kafka clients rejoin at epoch 0).

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memberState is a consumer-group member's reconciliation state.
type memberState int8

const (
	memberStable memberState = iota
	memberUnrevoked
	memberUnreleased
)

func (s memberState) String() string {
	return [...]string{"STABLE", "UNREVOKED_PARTITIONS", "UNRELEASED_PARTITIONS"}[s]
}

type cmember struct {
	id, instanceID, rackID string
	clientID, clientHost   string

	epoch, prevEpoch int32
	state            memberState
	left             bool       // static member gone with epoch -2, awaiting its replacement
	assigned         assignment // partitions the member owns and knows it owns
	revoking         assignment // partitions the member must release

	topics   []string // subscribed names, sorted
	regex    string
	re       *regexp.Regexp
	assignor string // ServerAssignor the member asked for ("" none)

	rebalanceTimeout time.Duration
	deadline         time.Time // session expiry
	revokeDeadline   time.Time // fenced if still revoking then; zero when not revoking
}

func (m *cmember) wireEpoch() int32 {
	if m.left {
		return -2
	}
	return m.epoch
}

// subscribes reports whether the member subscribes to topic.
func (m *cmember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(m.topics, topic); ok {
		return true
	}
	return m.re != nil && m.re.MatchString(topic)
}

// cgroup is the consumer-group part of a group (group.cg non-nil: the
// group's type is "consumer").
type cgroup struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of target
	assignor        string
	members         map[string]*cmember
	static          map[string]string     // instance id → member id
	target          map[string]assignment // member id → target assignment
	owner           map[tp]string         // partition → member owning it (assigned or revoking)
	metaSig         string                // the subscribed topics' metadata the group epoch is for
}

func newCGroup() *cgroup {
	return &cgroup{members: map[string]*cmember{}, static: map[string]string{}, target: map[string]assignment{}, owner: map[tp]string{}}
}

// Consumer-group states, as Kafka names them on the wire.
func (cg *cgroup) stateName() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.assignmentEpoch < cg.epoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *cgroup) sortedMembers() []*cmember {
	ms := make([]*cmember, 0, len(cg.members))
	for _, m := range cg.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// setOwned replaces m's assigned and revoking partitions, keeping the
// partition owner index in step.
func (cg *cgroup) setOwned(m *cmember, assigned, revoking assignment) {
	for _, a := range []assignment{m.assigned, m.revoking} {
		for t, ps := range a {
			for _, p := range ps {
				if cg.owner[tp{t, p}] == m.id {
					delete(cg.owner, tp{t, p})
				}
			}
		}
	}
	m.assigned, m.revoking = assigned, revoking
	for _, a := range []assignment{assigned, revoking} {
		for t, ps := range a {
			for _, p := range ps {
				cg.owner[tp{t, p}] = m.id
			}
		}
	}
}

// topicSnapshot is the broker's topics at one instant.
type topicSnapshot struct {
	byName map[string]TopicInfo
	byID   map[[16]byte]string
	names  []string // sorted
}

func (c *Coordinator) topicSnapshot() topicSnapshot {
	s := topicSnapshot{byName: map[string]TopicInfo{}, byID: map[[16]byte]string{}}
	if c.cfg.Topics == nil {
		return s
	}
	for _, t := range c.cfg.Topics() {
		s.byName[t.Name] = t
		s.byID[t.ID] = t.Name
		s.names = append(s.names, t.Name)
	}
	sort.Strings(s.names)
	return s
}

// subscribed are the existing topics some member subscribes to, sorted.
func (cg *cgroup) subscribed(ts topicSnapshot) []string {
	var out []string
	for _, name := range ts.names {
		for _, m := range cg.members {
			if m.subscribes(name) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// signature describes the subscribed topics' metadata; a change bumps the
// group epoch (a topic created, deleted or given more partitions).
func (cg *cgroup) signature(ts topicSnapshot) string {
	var b strings.Builder
	for _, name := range cg.subscribed(ts) {
		t := ts.byName[name]
		fmt.Fprintf(&b, "%s/%x/%d;", name, t.ID, t.Partitions)
	}
	return b.String()
}

// groupTimeouts is a consumer group's session timeout and heartbeat
// interval: its group configs where set, else the broker's.
func (c *Coordinator) groupTimeouts(groupID string) (session, heartbeat time.Duration) {
	session, heartbeat = c.cfg.ConsumerSessionTimeout, c.cfg.ConsumerHeartbeatInterval
	if c.cfg.GroupTimeouts != nil {
		s, h := c.cfg.GroupTimeouts(groupID)
		if s > 0 {
			session = s
		}
		if h > 0 {
			heartbeat = h
		}
	}
	return session, heartbeat
}

func (c *Coordinator) heartbeatInterval(groupID string) int32 {
	_, h := c.groupTimeouts(groupID)
	return int32(h / time.Millisecond)
}

func (c *Coordinator) sessionTimeout(groupID string) time.Duration {
	s, _ := c.groupTimeouts(groupID)
	return s
}

func (c *Coordinator) supportedAssignor(name string) bool {
	return slices.Contains(c.cfg.ConsumerAssignors, name)
}

func cgError(resp *kmsg.ConsumerGroupHeartbeatResponse, err *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp.ErrorCode = err.Code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	return resp
}

// validateHeartbeat is Kafka's request validation of ConsumerGroupHeartbeat.
func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidRequest, "GroupId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return kerr.InvalidRequest, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return kerr.InvalidRequest, "RackId can't be empty."
	case req.Version >= 1 && req.MemberID == "":
		return kerr.InvalidRequest, "MemberId can't be empty."
	case req.MemberEpoch != 0 && req.MemberID == "":
		return kerr.InvalidRequest, "MemberId can't be empty."
	case req.MemberEpoch < -2:
		return kerr.InvalidRequest, "MemberEpoch is invalid."
	case req.MemberEpoch == -2 && req.InstanceID == nil:
		return kerr.InvalidRequest, "InstanceId can't be null."
	}
	if req.MemberEpoch == 0 {
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."
		case req.Topics == nil || len(req.Topics) > 0:
			return kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return kerr.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	}
	if req.ServerAssignor != nil && !c.supportedAssignor(*req.ServerAssignor) {
		return kerr.UnsupportedAssignor, "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: " + strings.Join(c.cfg.ConsumerAssignors, ", ") + "."
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := compileSubscription(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression, "SubscribedTopicRegex " + *req.SubscribedTopicRegex + " is not a valid regular expression: " + err.Error()
		}
	}
	return nil, ""
}

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat request (versions
// 0-1). clientHost is Kafka's "/ip" form.
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	c.mu.Lock()
	defer c.unlock()
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = c.heartbeatInterval(req.Group)
	if c.closed {
		return cgError(resp, kerr.NotCoordinator, "")
	}
	if err, msg := c.validateHeartbeat(req); err != nil {
		return cgError(resp, err, msg)
	}
	now := c.cfg.Now()
	g := c.groups[req.Group]
	switch {
	case g == nil && req.MemberEpoch != 0:
		return cgError(resp, kerr.GroupIDNotFound, "Group "+req.Group+" not found.")
	case g == nil:
		g = c.getOrCreate(req.Group)
	case g.state == Dead:
		return cgError(resp, kerr.CoordinatorNotAvailable, "")
	}
	if g.cg == nil {
		if !g.classicEmpty() || req.MemberEpoch != 0 {
			return cgError(resp, kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
		}
		if err := c.convertToConsumer(g, now); err != nil {
			return cgError(resp, err, "")
		}
	}
	cg := g.cg
	ts := c.topicSnapshot()
	switch req.MemberEpoch {
	case -1, -2:
		m := cg.members[req.MemberID]
		if m == nil {
			return cgError(resp, kerr.UnknownMemberID, "")
		}
		if m.instanceID != "" && req.InstanceID != nil && *req.InstanceID != m.instanceID {
			return cgError(resp, kerr.FencedInstanceID, "")
		}
		resp.MemberID = &req.MemberID
		resp.MemberEpoch = req.MemberEpoch
		if req.MemberEpoch == -2 && m.instanceID != "" {
			c.staticLeave(g, m, now)
			return resp
		}
		c.removeConsumer(g, m, now, "left the group")
		return resp
	}

	var m *cmember
	joined := false
	if req.MemberEpoch == 0 {
		var err *kerr.Error
		m, joined, err = c.consumerJoin(g, req, clientID, clientHost, now)
		if err != nil {
			return cgError(resp, err, "")
		}
	} else {
		m = cg.members[req.MemberID]
		if m == nil {
			if req.InstanceID != nil {
				if cur, ok := cg.static[*req.InstanceID]; ok && cur != req.MemberID {
					return cgError(resp, kerr.FencedInstanceID, "")
				}
			}
			return cgError(resp, kerr.UnknownMemberID, "")
		}
		if m.left || (m.instanceID != "" && req.InstanceID != nil && *req.InstanceID != m.instanceID) {
			return cgError(resp, kerr.FencedInstanceID, "")
		}
		if err := cg.checkEpoch(m, req, ts); err != nil {
			return cgError(resp, err, "")
		}
	}
	m.clientID, m.clientHost = clientID, clientHost
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	changed := joined
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, changed = *req.SubscribedTopicRegex, true
		m.re = nil
		if m.regex != "" {
			m.re, _ = compileSubscription(m.regex) // validated above
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if sig := cg.signature(ts); sig != cg.metaSig {
		cg.metaSig, changed = sig, true
	}
	if changed {
		cg.epoch++
	}
	m.deadline = now.Add(c.sessionTimeout(g.id))
	c.schedule(m.deadline)

	if cg.assignmentEpoch < cg.epoch {
		c.computeTarget(g, ts)
	}
	before := m.assigned
	var owned assignment
	if req.Topics != nil {
		owned = assignment{}
		for _, t := range req.Topics {
			name, ok := ts.byID[t.TopicID]
			if !ok {
				continue
			}
			for _, p := range t.Partitions {
				if p >= 0 && p < ts.byName[name].Partitions { // bounds the work a request can cause
					owned.add(name, p)
				}
			}
		}
	}
	c.reconcile(g, m, owned, now)

	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	if req.MemberEpoch == 0 || full || !before.equal(m.assigned) {
		resp.Assignment = wireAssignment(m.assigned, ts)
	}
	return resp
}

// compileSubscription compiles a SubscribedTopicRegex (Go's RE2 syntax,
// close to the RE2/J Kafka uses) to match whole topic names, as Kafka's
// Pattern.matches does. The pattern is checked on its own and anchored, so
// that a pattern that only compiles once wrapped (an unterminated \Q) is
// refused too.
func compileSubscription(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile("^(?:" + pattern + ")$")
}

// convertToConsumer turns an empty classic group into a consumer group,
// deleting its classic metadata (the offsets stay, as in Kafka).
func (c *Coordinator) convertToConsumer(g *group, now time.Time) *kerr.Error {
	if g.generation > 0 || g.protocolType != "" {
		// The classic metadata's tombstone; the conversion does not wait
		// for it (a failure is logged, and a restart would find the
		// empty classic group, which converts again).
		c.write(g, []Record{{Key: groupKey(g.id)}}, -1, -1, func(err error) {
			if err != nil {
				c.cfg.Logger.Warn("could not delete the classic metadata of a group turned consumer group", "group", g.id, "err", err)
			}
		})
	}
	g.resetMembers()
	g.protocolType, g.protocol, g.generation = "consumer", "", 0
	g.transition(Empty, now)
	g.cg = newCGroup()
	return nil
}

// consumerJoin handles a heartbeat with epoch 0: a new member, a member
// re-joining after losing a response (same id: it keeps its assignment),
// or a static member taking over its instance's partitions.
func (c *Coordinator) consumerJoin(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string, now time.Time) (m *cmember, joined bool, err *kerr.Error) {
	cg := g.cg
	id := req.MemberID
	if id == "" { // v0: the coordinator names the member
		id = c.cfg.NewID()
	}
	instance := deref(req.InstanceID)
	if instance != "" {
		if cur, ok := cg.static[instance]; ok && cur != id {
			old := cg.members[cur]
			if old != nil && !old.left {
				return nil, false, kerr.UnreleasedInstanceID
			}
			if old != nil {
				// Take over the departed instance's member: same
				// epoch and partitions, no rebalance unless the
				// subscription changes (compared by the caller).
				delete(cg.members, cur)
				for t, o := range cg.owner {
					if o == cur {
						cg.owner[t] = id
					}
				}
				if tgt, ok := cg.target[cur]; ok {
					delete(cg.target, cur)
					cg.target[id] = tgt
				}
				old.id, old.left = id, false
				cg.members[id] = old
				cg.static[instance] = id
				c.cfg.Logger.Debug("static member replaced", "group", g.id, "instance", instance, "old", cur, "new", id)
				return old, false, nil
			}
		}
	}
	if m = cg.members[id]; m != nil {
		if m.left {
			m.left = false
		}
		return m, false, nil
	}
	m = &cmember{id: id, instanceID: instance, assigned: assignment{}, revoking: assignment{},
		rebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond}
	if m.rebalanceTimeout <= 0 {
		m.rebalanceTimeout = c.sessionTimeout(g.id)
	}
	cg.members[id] = m
	if instance != "" {
		cg.static[instance] = id
	}
	if len(cg.members) == 1 {
		g.transition(Empty, now) // stateSince: the consumer group's state changed
	}
	c.cfg.Logger.Debug("consumer group member joined", "group", g.id, "member", id)
	return m, true, nil
}

// checkEpoch is Kafka's member epoch check: a larger epoch is fenced; a
// smaller one only when it is the previous epoch and the member owns a
// subset of what it was given (the response with the new epoch was lost).
func (cg *cgroup) checkEpoch(m *cmember, req *kmsg.ConsumerGroupHeartbeatRequest, ts topicSnapshot) *kerr.Error {
	if req.MemberEpoch == m.epoch {
		return nil
	}
	if req.MemberEpoch > m.epoch || req.MemberEpoch != m.prevEpoch || req.Topics == nil {
		return kerr.FencedMemberEpoch
	}
	for _, t := range req.Topics {
		name := ts.byID[t.TopicID]
		for _, p := range t.Partitions {
			if !m.assigned.has(name, p) {
				return kerr.FencedMemberEpoch
			}
		}
	}
	return nil
}

// reconcile moves m one step towards its target assignment (Kafka's
// CurrentAssignmentBuilder). owned is what the member reported owning, nil
// when the heartbeat did not say.
func (c *Coordinator) reconcile(g *group, m *cmember, owned assignment, now time.Time) {
	cg := g.cg
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		if owned == nil {
			return
		}
		for t, ps := range m.revoking {
			for _, p := range ps {
				if owned.has(t, p) {
					return // not released yet
				}
			}
		}
		cg.setOwned(m, m.assigned, assignment{})
	case memberUnreleased:
	}
	target := cg.target[m.id]
	kept, revoke, grant := assignment{}, assignment{}, assignment{}
	unreleased := false
	for t, ps := range m.assigned {
		for _, p := range ps {
			if target.has(t, p) {
				kept.add(t, p)
			} else {
				revoke.add(t, p)
			}
		}
	}
	for t, ps := range target {
		for _, p := range ps {
			if m.assigned.has(t, p) {
				continue
			}
			if o, ok := cg.owner[tp{t, p}]; ok && o != m.id {
				unreleased = true
				continue
			}
			grant.add(t, p)
		}
	}
	if revoke.count() > 0 {
		cg.setOwned(m, kept, revoke)
		if m.state != memberUnrevoked {
			m.revokeDeadline = now.Add(m.rebalanceTimeout)
			c.schedule(m.revokeDeadline)
		}
		m.state = memberUnrevoked
		return
	}
	for t, ps := range grant {
		for _, p := range ps {
			kept.add(t, p)
		}
	}
	cg.setOwned(m, kept, assignment{})
	m.revokeDeadline = time.Time{}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

// staticLeave is a static member leaving with epoch -2: it keeps its
// partitions, unusable by others, until its session timeout or until a
// member with the same instance id replaces it.
func (c *Coordinator) staticLeave(g *group, m *cmember, now time.Time) {
	cg := g.cg
	cg.setOwned(m, m.assigned, assignment{})
	m.left = true
	m.revokeDeadline = time.Time{}
	if m.state == memberUnrevoked {
		m.state = memberStable
	}
	m.deadline = now.Add(c.sessionTimeout(g.id))
	c.schedule(m.deadline)
	c.cfg.Logger.Debug("static member left temporarily", "group", g.id, "member", m.id, "instance", m.instanceID)
}

// removeConsumer fences m: its partitions are free, the group epoch bumps.
func (c *Coordinator) removeConsumer(g *group, m *cmember, now time.Time, reason string) {
	cg := g.cg
	cg.setOwned(m, nil, nil)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	cg.epoch++
	if len(cg.members) == 0 {
		g.transition(Empty, now)
	}
	c.cfg.Logger.Debug("consumer group member removed", "group", g.id, "member", m.id, "reason", reason)
}

// tickConsumers expires members past their session or revocation
// deadline.
func (c *Coordinator) tickConsumers(g *group, now time.Time) {
	for _, m := range g.cg.sortedMembers() {
		switch {
		case !m.deadline.IsZero() && !now.Before(m.deadline):
			c.removeConsumer(g, m, now, "session timed out")
		case !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline):
			c.removeConsumer(g, m, now, "did not revoke its partitions within the rebalance timeout")
		}
	}
}

func (cg *cgroup) nextDeadline(min func(time.Time)) {
	for _, m := range cg.members {
		min(m.deadline)
		min(m.revokeDeadline)
	}
}

// computeTarget runs the assignor for the current group epoch.
func (c *Coordinator) computeTarget(g *group, ts topicSnapshot) {
	cg := g.cg
	cg.assignor = c.preferredAssignor(cg)
	members := cg.sortedMembers()
	topics := cg.subscribed(ts)
	parts := make(map[string]int32, len(topics))
	for _, t := range topics {
		parts[t] = ts.byName[t].Partitions
	}
	switch cg.assignor {
	case "range":
		cg.target = assignRange(members, topics, parts)
	default:
		cg.target = assignUniform(members, topics, parts, cg.target)
	}
	cg.assignmentEpoch = cg.epoch
	c.cfg.Logger.Debug("consumer group target assignment", "group", g.id, "epoch", cg.epoch, "assignor", cg.assignor, "members", len(members))
}

func wireAssignment(a assignment, ts topicSnapshot) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	w := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	out := &w
	out.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, name := range sortedTopics(a) {
		t, ok := ts.byName[name]
		if !ok {
			continue
		}
		at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		at.TopicID, at.Partitions = t.ID, slices.Clone(a[name])
		out.Topics = append(out.Topics, at)
	}
	return out
}

func describeAssignment(a assignment, ts topicSnapshot) kmsg.Assignment {
	out := kmsg.NewAssignment()
	out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, name := range sortedTopics(a) {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Topic, at.Partitions = ts.byName[name].ID, name, slices.Clone(a[name])
		out.TopicPartitions = append(out.TopicPartitions, at)
	}
	return out
}

// DescribeConsumerGroup describes a consumer group as ConsumerGroupDescribe
// does: GROUP_ID_NOT_FOUND for an unknown group or a classic one.
func (c *Coordinator) DescribeConsumerGroup(id string) kmsg.ConsumerGroupDescribeResponseGroup {
	c.mu.Lock()
	defer c.unlock()
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = id
	g := c.groups[id]
	fail := func(err *kerr.Error, msg string) kmsg.ConsumerGroupDescribeResponseGroup {
		d.ErrorCode, d.ErrorMessage = err.Code, &msg
		return d
	}
	switch {
	case c.closed:
		return fail(kerr.NotCoordinator, "")
	case g == nil || g.state == Dead:
		return fail(kerr.GroupIDNotFound, "Group "+id+" not found.")
	case g.cg == nil:
		return fail(kerr.GroupIDNotFound, "Group "+id+" is not a consumer group.")
	}
	cg := g.cg
	ts := c.topicSnapshot()
	d.State = cg.stateName()
	d.Epoch, d.AssignmentEpoch = cg.epoch, cg.assignmentEpoch
	d.AssignorName = cg.assignor
	if d.AssignorName == "" {
		d.AssignorName = c.preferredAssignor(cg)
	}
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.wireEpoch(), m.clientID, m.clientHost
		if m.instanceID != "" {
			inst := m.instanceID
			dm.InstanceID = &inst
		}
		if m.rackID != "" {
			rack := m.rackID
			dm.RackID = &rack
		}
		dm.SubscribedTopics = slices.Clone(m.topics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex != "" {
			re := m.regex
			dm.SubscribedTopicRegex = &re
		}
		dm.Assignment = describeAssignment(m.assigned, ts)
		dm.TargetAssignment = describeAssignment(cg.target[m.id], ts)
		dm.MemberType = 1 // consumer protocol
		d.Members = append(d.Members, dm)
	}
	return d
}

// validateConsumerCommit is Kafka's ConsumerGroup.validateOffsetCommit: a
// commit without member epoch goes to an empty group only; otherwise the
// member must exist, commit with OffsetCommit v9+, at its current epoch.
func (cg *cgroup) validateCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if req.Generation < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case req.Version < 9:
		return kerr.UnsupportedVersion
	case req.Generation != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// ValidateOffsetFetch is Kafka's check of an OffsetFetch v9+ carrying a
// member id and epoch: only consumer groups check them (UNKNOWN_MEMBER_ID,
// STALE_MEMBER_EPOCH); without member id and with epoch -1 anyone may
// fetch.
func (c *Coordinator) ValidateOffsetFetch(groupID string, memberID *string, epoch int32) *kerr.Error {
	c.mu.Lock()
	defer c.unlock()
	g := c.groups[groupID]
	if g == nil || g.cg == nil || (memberID == nil && epoch < 0) {
		return nil
	}
	m := g.cg.members[deref(memberID)]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}
