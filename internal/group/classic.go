package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type member struct {
	id, instanceID       string // instanceID "" for dynamic members
	clientID, clientHost string
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	protocolType         string
	protocols            []protocol
	assignment           []byte

	joinCB   func(*kmsg.JoinGroupResponse) // set while awaiting the join's end
	syncCB   func(*kmsg.SyncGroupResponse) // set while awaiting the assignment
	deadline time.Time                     // session expiry
}

func (g *group) add(m *member) {
	if len(g.members) == 0 && m.protocolType != "" {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

func (g *group) remove(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	delete(g.members, id)
	for i, o := range g.order {
		if o == id {
			g.order = append(g.order[:i:i], g.order[i+1:]...)
			break
		}
	}
	if m.instanceID != "" && g.static[m.instanceID] == id {
		delete(g.static, m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = ""
		// Prefer a member that is already rejoining, as Kafka does.
		for _, o := range g.order {
			if g.members[o].joinCB != nil {
				g.leader = o
				break
			}
		}
		if g.leader == "" && len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

func (g *group) resetMembers() {
	g.members = map[string]*member{}
	g.order = nil
	g.static = map[string]string{}
	g.leader = ""
	g.pendingSync = nil
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinCB == nil {
			return false
		}
	}
	return true
}

func (c *Coordinator) touch(m *member, now time.Time) {
	m.deadline = now.Add(m.sessionTimeout)
	c.schedule(m.deadline)
}

func (c *Coordinator) failJoin(g *group, m *member, err *kerr.Error) {
	if m.joinCB == nil {
		return
	}
	cb := m.joinCB
	m.joinCB = nil
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode = err.Code
	resp.MemberID = m.id
	c.later(func() { cb(resp) })
}

func (c *Coordinator) failSync(m *member, err *kerr.Error) {
	if m.syncCB == nil {
		return
	}
	cb := m.syncCB
	m.syncCB = nil
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = err.Code
	resp.MemberAssignment = []byte{}
	c.later(func() { cb(resp) })
}

// joinResponse is the answer for m in the current generation; the leader
// gets every member's metadata for the selected protocol.
func (g *group) joinResponse(m *member, withMembers bool) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if withMembers && g.leader == m.id {
		for _, id := range g.order {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			if o.instanceID != "" {
				inst := o.instanceID
				jm.InstanceID = &inst
			}
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

func joinError(memberID string, err *kerr.Error) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode = err.Code
	resp.MemberID = memberID
	return resp
}

// JoinGroup handles a JoinGroup request (any version 0-9); respond is
// called once, possibly much later when the rebalance completes, and never
// under the coordinator's lock. clientHost is Kafka's "/ip" form.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, clientID, clientHost string, respond func(*kmsg.JoinGroupResponse)) {
	c.mu.Lock()
	defer c.unlock()
	if resp := c.join(req, clientID, clientHost, respond); resp != nil {
		c.later(func() { respond(resp) })
	}
}

// join returns an immediate answer, or nil when respond was kept for later.
func (c *Coordinator) join(req *kmsg.JoinGroupRequest, clientID, clientHost string, respond func(*kmsg.JoinGroupResponse)) *kmsg.JoinGroupResponse {
	now := c.cfg.Now()
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		rebalance = session
	}
	instance := deref(req.InstanceID)
	switch {
	case c.closed:
		return joinError(req.MemberID, kerr.NotCoordinator)
	case req.Group == "":
		return joinError(req.MemberID, kerr.InvalidGroupID)
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		return joinError(req.MemberID, kerr.InvalidSessionTimeout)
	}
	g := c.groups[req.Group]
	if g != nil && g.state == Dead {
		// Being deleted (its tombstones are being written): Kafka's
		// answer for a dead group, which the client retries.
		return joinError(req.MemberID, kerr.CoordinatorNotAvailable)
	}
	if g != nil && g.cg != nil {
		// A consumer (KIP-848) group: an empty one becomes classic, as
		// in Kafka; one with members refuses classic members (the
		// "disabled" group.consumer.migration.policy).
		if len(g.cg.members) > 0 {
			return joinError(req.MemberID, kerr.InconsistentGroupProtocol)
		}
		g.cg = nil
		g.protocolType = ""
	}
	newMember := func() *member {
		return &member{clientID: clientID, clientHost: clientHost, sessionTimeout: session, rebalanceTimeout: rebalance,
			protocolType: req.ProtocolType, protocols: protocolsOf(req.Protocols), instanceID: instance}
	}

	if req.MemberID == "" {
		if g == nil {
			g = c.getOrCreate(req.Group)
		}
		if !g.supports(req.ProtocolType, req.Protocols) {
			c.maybeForget(g)
			return joinError("", kerr.InconsistentGroupProtocol)
		}
		prefix := clientID
		if instance != "" {
			prefix = instance
		}
		id := prefix + "-" + c.cfg.NewID()
		if instance != "" {
			if old, ok := g.static[instance]; ok {
				return c.replaceStatic(g, g.members[old], id, req, respond, now)
			}
			m := newMember()
			m.id = id
			c.addAndRebalance(g, m, respond, now)
			return nil
		}
		if req.Version >= 4 {
			// KIP-394: hand out an id; the member must rejoin with it
			// within its session timeout.
			g.pending[id] = now.Add(session)
			c.schedule(g.pending[id])
			return joinError(id, kerr.MemberIDRequired)
		}
		m := newMember()
		m.id = id
		c.addAndRebalance(g, m, respond, now)
		return nil
	}

	if g == nil || g.state == Dead {
		return joinError(req.MemberID, kerr.UnknownMemberID)
	}
	if _, ok := g.pending[req.MemberID]; ok {
		if !g.supports(req.ProtocolType, req.Protocols) {
			return joinError(req.MemberID, kerr.InconsistentGroupProtocol)
		}
		delete(g.pending, req.MemberID)
		m := newMember()
		m.id = req.MemberID
		c.addAndRebalance(g, m, respond, now)
		return nil
	}
	if instance != "" {
		if cur, ok := g.static[instance]; ok && cur != req.MemberID {
			return joinError(req.MemberID, kerr.FencedInstanceID)
		}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return joinError(req.MemberID, kerr.UnknownMemberID)
	}
	if !g.supports(req.ProtocolType, req.Protocols) {
		return joinError(req.MemberID, kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case PreparingRebalance:
		c.updateAndRebalance(g, m, req, respond, now)
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			c.touch(m, now)
			return g.joinResponse(m, true)
		}
		c.updateAndRebalance(g, m, req, respond, now)
	case Stable:
		if g.leader == m.id || !m.matches(req.Protocols) {
			c.updateAndRebalance(g, m, req, respond, now)
			return nil
		}
		c.touch(m, now)
		return g.joinResponse(m, false)
	default:
		return joinError(req.MemberID, kerr.UnknownMemberID)
	}
	return nil
}

func (c *Coordinator) addAndRebalance(g *group, m *member, respond func(*kmsg.JoinGroupResponse), now time.Time) {
	m.joinCB = respond
	g.add(m)
	g.newMemberAdded = true
	if g.state == PreparingRebalance {
		c.checkJoin(g, now)
		return
	}
	c.prepareRebalance(g, now, "member "+m.id+" joined")
}

func (c *Coordinator) updateAndRebalance(g *group, m *member, req *kmsg.JoinGroupRequest, respond func(*kmsg.JoinGroupResponse), now time.Time) {
	m.protocols = protocolsOf(req.Protocols)
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if req.Version > 0 && req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	} else {
		m.rebalanceTimeout = m.sessionTimeout
	}
	if m.joinCB != nil {
		// A second JoinGroup while the first waits: the first is
		// superseded, as Kafka replaces the callback.
		c.failJoin(g, m, kerr.UnknownMemberID)
	}
	m.joinCB = respond
	if g.state == PreparingRebalance {
		c.checkJoin(g, now)
		return
	}
	c.prepareRebalance(g, now, "member "+m.id+" rejoined")
}

// replaceStatic hands a known static instance a new member id (KIP-345),
// fencing the old one.
func (c *Coordinator) replaceStatic(g *group, old *member, newID string, req *kmsg.JoinGroupRequest, respond func(*kmsg.JoinGroupResponse), now time.Time) *kmsg.JoinGroupResponse {
	oldID := old.id
	c.failJoin(g, old, kerr.FencedInstanceID)
	c.failSync(old, kerr.FencedInstanceID)
	// Unchanged protocols (names, order, metadata) cannot change the
	// selected protocol nor the assignment: no rebalance is needed.
	unchanged := g.state == Stable && old.matches(req.Protocols) && req.ProtocolType == g.protocolType
	prev := *old
	// Re-key the member in place, keeping its position and assignment.
	delete(g.members, oldID)
	old.id = newID
	g.members[newID] = old
	for i, o := range g.order {
		if o == oldID {
			g.order[i] = newID
		}
	}
	g.static[old.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if unchanged {
		old.protocols = protocolsOf(req.Protocols)
		old.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
		c.write(g, []Record{{groupKey(g.id), g.metadataValue()}}, -1, -1, func(err error) {
			if g.members[newID] != old {
				// Replaced or gone meanwhile: this join is over.
				c.later(func() { respond(joinError("", kerr.FencedInstanceID)) })
				return
			}
			if err != nil {
				// Revert, as Kafka does when the store fails.
				delete(g.members, newID)
				*old = prev
				g.members[oldID] = old
				for i, o := range g.order {
					if o == newID {
						g.order[i] = oldID
					}
				}
				g.static[old.instanceID] = oldID
				if g.leader == newID {
					g.leader = oldID
				}
				resp := joinError("", storeError(err))
				c.later(func() { respond(resp) })
				return
			}
			now := c.cfg.Now()
			c.touch(old, now)
			resp := g.joinResponse(old, true)
			resp.SkipAssignment = g.leader == newID
			c.later(func() { respond(resp) })
		})
		return nil
	}
	c.updateAndRebalance(g, old, req, respond, now)
	return nil
}

// prepareRebalance moves the group to PreparingRebalance (if it can
// rebalance) and starts the join phase.
func (c *Coordinator) prepareRebalance(g *group, now time.Time, reason string) {
	switch g.state {
	case Stable, CompletingRebalance, Empty:
	default:
		return
	}
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			c.failSync(m, kerr.RebalanceInProgress)
		}
	}
	g.pendingSync = nil
	rt := g.rebalanceTimeout()
	if g.state == Empty {
		delay := c.cfg.InitialRebalanceDelay
		g.initialDelay = true
		g.initialRemaining = max(rt-delay, 0)
		g.joinDeadline = now.Add(min(delay, rt))
		g.newMemberAdded = false
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(rt)
	}
	c.cfg.Logger.Debug("preparing to rebalance group", "group", g.id, "generation", g.generation, "reason", reason)
	g.transition(PreparingRebalance, now)
	c.schedule(g.joinDeadline)
	c.checkJoin(g, now)
}

// checkJoin ends the join phase when it can: all members rejoined (not
// during the initial delay), or its deadline passed.
func (c *Coordinator) checkJoin(g *group, now time.Time) {
	if g.state != PreparingRebalance {
		return
	}
	if !g.initialDelay && g.allJoined() {
		c.completeJoin(g, now)
		return
	}
	if now.Before(g.joinDeadline) {
		return
	}
	if g.initialDelay && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		d := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-d, 0)
		g.joinDeadline = now.Add(d)
		c.schedule(g.joinDeadline)
		if d > 0 {
			return
		}
	}
	c.completeJoin(g, now)
}

func (c *Coordinator) completeJoin(g *group, now time.Time) {
	for _, id := range append([]string(nil), g.order...) {
		if m := g.members[id]; m.joinCB == nil {
			c.cfg.Logger.Debug("removing member that did not rejoin", "group", g.id, "member", id)
			c.failSync(m, kerr.UnknownMemberID)
			g.remove(id)
		}
	}
	g.generation++
	g.initialDelay = false
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transition(Empty, now)
		c.write(g, []Record{{groupKey(g.id), g.metadataValue()}}, -1, -1, func(err error) {
			if err != nil {
				c.cfg.Logger.Warn("could not store empty group", "group", g.id, "err", err)
			}
		})
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.order[0]
	}
	g.transition(CompletingRebalance, now)
	g.pendingSync = map[string]bool{}
	g.syncDeadline = now.Add(g.rebalanceTimeout())
	c.schedule(g.syncDeadline)
	for _, id := range g.order {
		m := g.members[id]
		g.pendingSync[id] = true
		resp := g.joinResponse(m, true)
		cb := m.joinCB
		m.joinCB = nil
		c.touch(m, now)
		c.later(func() { cb(resp) })
	}
	c.cfg.Logger.Debug("group rebalanced", "group", g.id, "generation", g.generation, "protocol", g.protocol, "leader", g.leader, "members", len(g.members))
}

// SyncGroup handles a SyncGroup request (versions 0-5); respond is called
// once, when the leader's assignment arrives (or at once).
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	c.mu.Lock()
	defer c.unlock()
	fail := func(err *kerr.Error) {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = err.Code
		resp.MemberAssignment = []byte{}
		c.later(func() { respond(resp) })
	}
	now := c.cfg.Now()
	g := c.groups[req.Group]
	switch {
	case c.closed:
		fail(kerr.NotCoordinator)
		return
	case req.Group == "":
		fail(kerr.InvalidGroupID)
		return
	case g == nil || g.state == Dead:
		fail(kerr.UnknownMemberID)
		return
	}
	if err := g.validateMember(req.MemberID, deref(req.InstanceID), req.Generation); err != nil {
		fail(err)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case Empty:
		fail(kerr.UnknownMemberID)
	case PreparingRebalance:
		fail(kerr.RebalanceInProgress)
	case CompletingRebalance:
		c.failSync(m, kerr.UnknownMemberID) // a superseded duplicate
		m.syncCB = respond
		delete(g.pendingSync, m.id)
		c.touch(m, now)
		if g.leader != m.id {
			return
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		for _, o := range g.members {
			if o.assignment == nil {
				o.assignment = []byte{}
			}
		}
		// Stable once the assignment is in the log, as Kafka's
		// storeGroup callback; members syncing meanwhile wait.
		gen := g.generation
		c.write(g, []Record{{groupKey(g.id), g.metadataValue()}}, -1, -1, func(err error) {
			if g.state != CompletingRebalance || g.generation != gen {
				return // rebalanced or gone meanwhile: they were answered then
			}
			now := c.cfg.Now()
			if err != nil {
				kerrv := storeError(err)
				for _, o := range g.members {
					o.assignment = nil
					c.failSync(o, kerrv)
				}
				c.prepareRebalance(g, now, "storing the assignment failed")
				return
			}
			g.transition(Stable, now)
			for _, id := range g.order {
				if o := g.members[id]; o.syncCB != nil {
					c.answerSync(g, o)
				}
			}
		})
	case Stable:
		delete(g.pendingSync, m.id)
		c.touch(m, now)
		m.syncCB = respond
		c.answerSync(g, m)
	}
}

func (c *Coordinator) answerSync(g *group, m *member) {
	resp := kmsg.NewPtrSyncGroupResponse()
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.MemberAssignment = m.assignment
	cb := m.syncCB
	m.syncCB = nil
	c.later(func() { cb(resp) })
}

// validateMember is Kafka's check of a member's identity in Sync,
// Heartbeat and OffsetCommit: fenced static instance, unknown member,
// generation.
func (g *group) validateMember(memberID, instanceID string, generation int32) *kerr.Error {
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != memberID {
			return kerr.FencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// Heartbeat handles a Heartbeat request (versions 0-4).
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	c.mu.Lock()
	defer c.unlock()
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = code(c.heartbeat(req))
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	g := c.groups[req.Group]
	switch {
	case c.closed:
		return kerr.NotCoordinator
	case req.Group == "":
		return kerr.InvalidGroupID
	case g == nil || g.state == Empty:
		return kerr.UnknownMemberID
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(req.MemberID, deref(req.InstanceID), req.Generation); err != nil {
		return err
	}
	c.touch(g.members[req.MemberID], c.cfg.Now())
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// LeaveGroup handles a LeaveGroup request (versions 0-5; v3+ batched by
// member, with per-member errors; before v3 the member's error is the
// top-level one).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	c.mu.Lock()
	defer c.unlock()
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	g := c.groups[req.Group]
	var top *kerr.Error
	switch {
	case c.closed:
		top = kerr.NotCoordinator
	case req.Group == "":
		top = kerr.InvalidGroupID
	case g != nil && g.state == Dead:
		top = kerr.CoordinatorNotAvailable
	}
	if top != nil {
		resp.ErrorCode = top.Code
		return resp
	}
	now := c.cfg.Now()
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		var err *kerr.Error
		if g == nil {
			err = kerr.UnknownMemberID
		} else {
			err = c.leave(g, l.MemberID, deref(l.InstanceID), now)
		}
		rm.ErrorCode = code(err)
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leave(g *group, memberID, instanceID string, now time.Time) *kerr.Error {
	if instanceID != "" {
		cur, ok := g.static[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case memberID != "" && cur != memberID:
			return kerr.FencedInstanceID
		}
		memberID = cur
	} else if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		c.checkJoin(g, now)
		return nil
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	c.removeMember(g, memberID, now, "left the group")
	return nil
}

// removeMember removes a member and rebalances what remains.
func (c *Coordinator) removeMember(g *group, id string, now time.Time, reason string) {
	m := g.members[id]
	c.failJoin(g, m, kerr.UnknownMemberID)
	c.failSync(m, kerr.UnknownMemberID)
	g.remove(id)
	c.cfg.Logger.Debug("member removed", "group", g.id, "member", id, "reason", reason)
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalance(g, now, "member "+id+" "+reason)
	case PreparingRebalance:
		c.checkJoin(g, now)
	}
}

func (c *Coordinator) tickGroup(g *group, now time.Time) {
	if g.cg != nil {
		c.tickConsumers(g, now)
	}
	for id, d := range g.pending {
		if !now.Before(d) {
			delete(g.pending, id)
		}
	}
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m == nil || m.joinCB != nil || m.syncCB != nil || m.deadline.IsZero() || now.Before(m.deadline) {
			continue
		}
		c.removeMember(g, id, now, "session timed out")
	}
	if len(g.pendingSync) > 0 && !now.Before(g.syncDeadline) && (g.state == CompletingRebalance || g.state == Stable) {
		late := g.pendingSync
		g.pendingSync = nil
		for _, id := range g.order {
			if late[id] {
				c.removeMember(g, id, now, "did not sync within the rebalance timeout")
			}
		}
	}
	c.checkJoin(g, now)
	if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.protocolType == "" {
		c.maybeForget(g)
	}
}
