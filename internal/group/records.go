package group

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coordkey"
)

// Record is one record for __consumer_offsets; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// TopicName is Kafka's internal offsets topic.
const TopicName = "__consumer_offsets"

// PartitionFor is the __consumer_offsets partition of a group (Kafka's
// Utils.abs(groupId.hashCode) % partitions; see coordkey).
func PartitionFor(group string, partitions int32) int32 { return coordkey.Partition(group, partitions) }

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTime.UnixMilli()
	if !o.expireTime.IsZero() {
		v.Version = 1
		v.ExpireTimestamp = o.expireTime.UnixMilli()
	}
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

func (g *group) metadataValue() []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	for _, id := range g.order {
		m := g.members[id]
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		if m.instanceID != "" {
			inst := m.instanceID
			mv.InstanceID = &inst
		}
		mv.ClientID, mv.ClientHost = m.clientID, m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		mv.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		mv.Subscription = m.metadataFor(g.protocol)
		mv.Assignment = m.assignment
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		if mv.Subscription == nil {
			mv.Subscription = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return v.AppendTo(nil)
}

// Replay applies one record read back from __consumer_offsets at start-up,
// in log order. Records this coordinator does not know (other key versions,
// garbage) are an error the caller may log and skip. Call Loaded when every
// partition has been replayed.
func (c *Coordinator) Replay(key, value []byte) error {
	c.mu.Lock()
	defer c.unlock()
	if len(key) < 2 {
		return fmt.Errorf("record key of %d bytes", len(key))
	}
	switch version := int16(key[0])<<8 | int16(key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		tp := tp{k.Topic, k.Partition}
		if value == nil {
			c.dropPendingLocked(k.Group, tp)
			if g := c.groups[k.Group]; g != nil {
				delete(g.offsets, tp)
				c.maybeForget(g)
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("offset commit value: %w", err)
		}
		c.writes++
		o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: time.UnixMilli(v.CommitTimestamp), written: c.writes}
		if v.Version >= 3 {
			o.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 && v.ExpireTimestamp >= 0 {
			o.expireTime = time.UnixMilli(v.ExpireTimestamp)
		}
		c.getOrCreate(k.Group).offsets[tp] = o
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		if value == nil {
			if g := c.groups[k.Group]; g != nil {
				g.resetMembers()
				g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
				c.maybeForget(g)
			}
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("group metadata value: %w", err)
		}
		g := c.getOrCreate(k.Group)
		g.resetMembers()
		g.protocolType, g.generation = v.ProtocolType, v.Generation
		g.protocol, g.leader = deref(v.Protocol), deref(v.Leader)
		if v.CurrentStateTimestamp >= 0 {
			g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
		}
		for _, mv := range v.Members {
			m := &member{id: mv.MemberID, instanceID: deref(mv.InstanceID), clientID: mv.ClientID, clientHost: mv.ClientHost,
				sessionTimeout: time.Duration(mv.SessionTimeoutMillis) * time.Millisecond, protocolType: v.ProtocolType,
				protocols: []protocol{{g.protocol, mv.Subscription}}, assignment: mv.Assignment}
			m.rebalanceTimeout = time.Duration(mv.RebalanceTimeoutMillis) * time.Millisecond
			if mv.RebalanceTimeoutMillis < 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			g.add(m)
		}
	default:
		return fmt.Errorf("unknown record key version %d", version)
	}
	return nil
}

// Loaded ends the replay: groups with members become Stable with fresh
// session deadlines (their members must heartbeat within a session timeout,
// as after a Kafka coordinator fail-over), the others Empty.
func (c *Coordinator) Loaded() {
	c.mu.Lock()
	defer c.unlock()
	now := c.cfg.Now()
	for _, g := range c.groups {
		if g.stateSince.IsZero() {
			g.stateSince = now
		}
		if len(g.members) == 0 {
			g.state = Empty
			continue
		}
		g.state = Stable
		for _, m := range g.members {
			c.touch(m, now)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
