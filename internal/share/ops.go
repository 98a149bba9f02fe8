package share

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Acquire acquires up to max records of a share-partition for member (a
// ShareFetch), creating the share-partition (at v.Init) on first use. A
// share-partition initialized here is durable state (see TakeDirty).
func (c *Coordinator) Acquire(k Key, member string, max int, v View) []Range {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getOrCreate(k.Group)
	p := g.parts[k.TP]
	if p == nil {
		p = &partition{start: -1}
		g.parts[k.TP] = p
	}
	now, lock := c.cfg.Now(), c.settings(k.Group).LockDuration
	out, durable := p.acquire(member, max, v, now, lock, c.cfg.MaxRecordLocks)
	if len(out) > 0 {
		c.noteDeadline(now.Add(lock))
	}
	if durable {
		c.changedPart(k, p)
	}
	return out
}

// Acknowledge validates a share-partition's acknowledgement batches
// for member and applies them all, or none: INVALID_REQUEST for malformed
// batches (overlapping, out of order, bad types; renew only when allowed),
// INVALID_RECORD_STATE when an offset is not acquired by member. It
// returns the share-partition's sequence number the change must be
// persisted up to (0: nothing durable changed).
func (c *Coordinator) Acknowledge(k Key, member string, bs []AckBatch, renew bool) (uint64, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maxType := AckReject
	if renew {
		maxType = AckRenew
	}
	g := c.groups[k.Group]
	var p *partition
	if g != nil {
		p = g.parts[k.TP]
	}
	if p == nil {
		for _, b := range bs { // malformed input is INVALID_REQUEST even here
			if b.Last < b.First || len(b.Types) == 0 {
				return 0, kerr.InvalidRequest
			}
		}
		return 0, kerr.InvalidRecordState
	}
	if err := p.validateAcks(member, bs, maxType); err != nil {
		c.cfg.Logger.Debug("share acknowledgement refused", "group", k.Group, "partition", k.Partition, "member", member, "err", err.Message)
		return 0, err
	}
	durable := slices.ContainsFunc(bs, func(b AckBatch) bool { return slices.ContainsFunc(b.Types, func(t int8) bool { return t != AckRenew }) })
	start := p.start
	now, lock := c.cfg.Now(), c.settings(k.Group).LockDuration
	released := p.applyAcks(bs, c.cfg.DeliveryLimit, now, lock)
	if renew {
		c.noteDeadline(now.Add(lock)) // renewed locks end then
	}
	if !durable {
		return 0, nil
	}
	c.changedPart(k, p)
	if released || p.start != start { // records to acquire again, or room under the lock limit
		c.signal()
	}
	delete(c.dirty, k) // the caller persists it before answering
	return p.seq, nil
}

// Listing is one share group as ListGroups reports it.
type Listing struct {
	ID, State string
}

func (g *group) state() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

// ListGroups lists the share groups, by id.
func (c *Coordinator) ListGroups() []Listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Listing, 0, len(c.groups))
	for id, g := range c.groups {
		out = append(out, Listing{id, g.state()})
	}
	slices.SortFunc(out, func(a, b Listing) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Member is a share-group member as ShareGroupDescribe shows it.
type Member struct {
	ID, ClientID, ClientHost string
	Rack                     *string
	Epoch                    int32
	Topics                   []string
	Assigned                 []TP
}

// Description is a share group as ShareGroupDescribe shows it.
type Description struct {
	State                  string
	Epoch, AssignmentEpoch int32
	Members                []Member
}

// Describe describes a share group; ok is false when it is unknown.
func (c *Coordinator) Describe(id string) (d Description, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil {
		return d, false
	}
	d = Description{State: g.state(), Epoch: g.epoch, AssignmentEpoch: g.assignEpoch}
	ids := make([]string, 0, len(g.members))
	for mid := range g.members {
		ids = append(ids, mid)
	}
	slices.Sort(ids)
	for _, mid := range ids {
		m := g.members[mid]
		d.Members = append(d.Members, Member{ID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, Rack: m.rack,
			Epoch: m.epoch, Topics: slices.Clone(m.topics), Assigned: slices.Clone(m.assigned)})
	}
	return d, true
}

// Offset is a share-partition's start offset and how many in-flight
// records past it are done (acknowledged or archived), for lag.
type Offset struct {
	TP
	Start, Done int64
}

// Offsets lists the share-partitions of a group (ok false: unknown group).
func (c *Coordinator) Offsets(id string) (out []Offset, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil {
		return nil, false
	}
	for _, tp := range sortedTPs(g.parts) {
		p := g.parts[tp]
		o := Offset{TP: tp, Start: p.start}
		for _, r := range p.recs {
			if r.state == Acknowledged || r.state == Archived {
				o.Done++
			}
		}
		out = append(out, o)
	}
	return out, true
}

// AlterOffsets sets the start offsets of share-partitions of an empty
// group (creating the group and share-partitions as needed), forgetting
// their in-flight state: NON_EMPTY_GROUP when the group has members. The
// returned keys must be persisted before answering.
func (c *Coordinator) AlterOffsets(id string, offs map[TP]int64) ([]Key, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getOrCreate(id)
	if len(g.members) > 0 {
		return nil, kerr.NonEmptyGroup
	}
	var keys []Key
	for _, tp := range sortedTPs(offs) {
		p := g.parts[tp]
		if p == nil {
			p = &partition{}
			g.parts[tp] = p
		}
		p.start, p.recs, p.acquired = offs[tp], nil, 0
		p.stateEpoch++
		k := Key{id, tp}
		c.changedPart(k, p)
		delete(c.dirty, k)
		keys = append(keys, k)
	}
	c.signal()
	return keys, nil
}

// DeleteOffsets forgets the share-partitions of the given topics of an
// empty group (NON_EMPTY_GROUP when it has members, GROUP_ID_NOT_FOUND when
// unknown); the returned keys get tombstones.
func (c *Coordinator) DeleteOffsets(id string, topics [][16]byte) ([]Key, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	if len(g.members) > 0 {
		return nil, kerr.NonEmptyGroup
	}
	var keys []Key
	for _, tp := range sortedTPs(g.parts) {
		if slices.Contains(topics, tp.Topic) {
			delete(g.parts, tp)
			delete(c.dirty, Key{id, tp})
			keys = append(keys, Key{id, tp})
		}
	}
	return keys, nil
}

// DeleteGroup forgets an empty share group and its share-partitions
// (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP); the returned keys get tombstones.
func (c *Coordinator) DeleteGroup(id string) ([]Key, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	if len(g.members) > 0 {
		return nil, kerr.NonEmptyGroup
	}
	var keys []Key
	for _, tp := range sortedTPs(g.parts) {
		delete(c.dirty, Key{id, tp})
		keys = append(keys, Key{id, tp})
	}
	delete(c.groups, id)
	return keys, nil
}

// ForgetTopic drops every share-partition of a deleted topic; the
// returned keys get tombstones. Groups left with neither members nor
// share-partitions are forgotten.
func (c *Coordinator) ForgetTopic(topic [16]byte) []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []Key
	for id, g := range c.groups {
		for tp := range g.parts {
			if tp.Topic == topic {
				delete(g.parts, tp)
				delete(c.dirty, Key{id, tp})
				keys = append(keys, Key{id, tp})
			}
		}
		if len(g.parts) == 0 && len(g.members) == 0 {
			delete(c.groups, id)
		}
	}
	return dedupKeys(keys)
}

// Now is the coordinator's clock (for the broker's long polls).
func (c *Coordinator) Now() time.Time { return c.cfg.Now() }
