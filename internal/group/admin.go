package group

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Listing is one group as ListGroups reports it.
type Listing struct {
	Group, ProtocolType string
	State               State  // classic groups' state
	Type                string // "classic" or "consumer"
	StateName           string // the state as ListGroups reports it, for either type
}

// ListGroups lists every live group, sorted by id.
func (c *Coordinator) ListGroups() []Listing {
	c.mu.Lock()
	defer c.unlock()
	out := make([]Listing, 0, len(c.groups))
	for _, g := range c.groups {
		if g.state == Dead {
			continue
		}
		l := Listing{Group: g.id, ProtocolType: g.protocolType, State: g.state, Type: "classic", StateName: g.state.String()}
		if g.cg != nil {
			l.Type, l.StateName = "consumer", g.cg.stateName()
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// DescribeGroup describes a group as Kafka's DescribeGroups does (member
// metadata and assignments only when Stable); ok is false for an unknown
// group, and for a consumer (KIP-848) group, which is described as Dead
// with the error message Kafka gives from DescribeGroups v6.
func (c *Coordinator) DescribeGroup(id string) (d kmsg.DescribeGroupsResponseGroup, ok bool) {
	c.mu.Lock()
	defer c.unlock()
	d = kmsg.NewDescribeGroupsResponseGroup()
	d.Group = id
	g := c.groups[id]
	if g == nil || g.state == Dead {
		d.State = Dead.String()
		return d, false
	}
	if g.cg != nil {
		d.State = Dead.String()
		msg := "Group " + id + " is not a classic group."
		d.ErrorMessage = &msg
		return d, false
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	if g.state == Stable {
		d.Protocol = g.protocol
	}
	for _, mid := range g.order {
		m := g.members[mid]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.clientHost
		if m.instanceID != "" {
			inst := m.instanceID
			dm.InstanceID = &inst
		}
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if g.state == Stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d, true
}

// DeleteGroup deletes an Empty group and its offsets, writing tombstones:
// GROUP_ID_NOT_FOUND when unknown, NON_EMPTY_GROUP when it has members.
// The group is Dead while its tombstones are written (requests on it get
// COORDINATOR_NOT_AVAILABLE, as in Kafka) and gone once they are; respond
// is called then (or at once on an error), never under the mutex.
func (c *Coordinator) DeleteGroup(id string, respond func(*kerr.Error)) {
	c.mu.Lock()
	defer c.unlock()
	fail := func(err *kerr.Error) { c.later(func() { respond(err) }) }
	if c.closed {
		fail(kerr.NotCoordinator)
		return
	}
	g := c.groups[id]
	switch {
	case g == nil || g.state == Dead:
		fail(kerr.GroupIDNotFound)
		return
	case g.state != Empty || (g.cg != nil && len(g.cg.members) > 0):
		fail(kerr.NonEmptyGroup)
		return
	}
	var recs []Record
	keys := make([]tp, 0, len(g.offsets))
	for k := range g.offsets {
		keys = append(keys, k)
	}
	for _, k := range c.pendingPartitionsLocked(id) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	sortTPs(keys)
	for _, k := range keys {
		recs = append(recs, Record{Key: offsetKey(id, k.topic, k.partition)})
	}
	recs = append(recs, Record{Key: groupKey(id)})
	g.state = Dead
	c.write(g, recs, -1, -1, func(err error) {
		if err != nil {
			g.state = Empty
			fail(storeError(err))
			return
		}
		clear(g.pending)
		for _, k := range keys {
			c.dropPendingLocked(id, k)
		}
		if c.groups[id] == g {
			delete(c.groups, id)
		}
		c.later(func() { respond(nil) })
	})
}
