package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (TxnOffsetCommit). As in Kafka's
// GroupMetadataManager, offsets committed in a transaction are held per
// producer id and group, invisible to OffsetFetch, until the transaction
// ends: EndTxn commit makes them the group's committed offsets (and writes
// them to __consumer_offsets then), abort drops them.
//
// Deviation: Kafka writes them to __consumer_offsets at once, as
// transactional records resolved by the marker on replay; here they are
// only in memory until the commit, so a broker restart loses a pending
// transaction's offsets, like the rest of the (in-memory) transaction
// state.

// TxnOffsetCommit handles a TxnOffsetCommit request whose transaction the
// broker has verified (the group was added with AddOffsetsToTxn) and whose
// topics it has authorized. Members are checked as for OffsetCommit when
// the request names a member or generation (v3+).
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	c.mu.Lock()
	defer c.unlock()
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	now := c.cfg.Now()
	var groupErr *kerr.Error
	if c.closed {
		groupErr = kerr.NotCoordinator
	} else if req.Generation >= 0 || req.MemberID != "" || deref(req.InstanceID) != "" {
		groupErr = c.validateCommit(&kmsg.OffsetCommitRequest{Version: 9, Group: req.Group,
			Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID})
		if groupErr == kerr.RebalanceInProgress {
			groupErr = nil // Kafka allows transactional commits then
		}
	}
	errs := map[tp]*kerr.Error{}
	if groupErr == nil {
		if c.txnOffsets == nil {
			c.txnOffsets = map[int64]map[string]map[tp]offset{}
		}
		byGroup := c.txnOffsets[req.ProducerID]
		if byGroup == nil {
			byGroup = map[string]map[tp]offset{}
			c.txnOffsets[req.ProducerID] = byGroup
		}
		pending := byGroup[req.Group]
		if pending == nil {
			pending = map[tp]offset{}
			byGroup[req.Group] = pending
		}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				k := tp{t.Topic, p.Partition}
				md := deref(p.Metadata)
				if len(md) > c.cfg.MaxMetadataBytes {
					errs[k] = kerr.OffsetMetadataTooLarge
					continue
				}
				o := offset{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTime: now}
				if req.Version >= 2 {
					o.leaderEpoch = p.LeaderEpoch
				}
				pending[k] = o
			}
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			if e := errs[tp{t.Topic, p.Partition}]; e != nil {
				rp.ErrorCode = e.Code
			} else {
				rp.ErrorCode = code(groupErr)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// EndTxn ends producer pid's transaction for the offsets it committed:
// on commit they become committed offsets (persisted now), on abort they
// are dropped.
func (c *Coordinator) EndTxn(pid int64, commit bool) {
	c.mu.Lock()
	defer c.unlock()
	byGroup := c.txnOffsets[pid]
	delete(c.txnOffsets, pid)
	if !commit || c.closed {
		return
	}
	ids := make([]string, 0, len(byGroup))
	for id := range byGroup {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := c.getOrCreate(id)
		var recs []Record
		for k, o := range byGroup[id] {
			recs = append(recs, Record{offsetKey(id, k.topic, k.partition), offsetValue(o)})
		}
		if err := c.persist(g, recs); err != nil {
			c.cfg.Logger.Error("persisting transactional offsets failed", "group", id, "producer_id", pid, "err", err)
			continue
		}
		for k, o := range byGroup[id] {
			g.offsets[k] = o
		}
	}
}

// HasPendingTxnOffsets reports whether a transaction has uncommitted
// offsets for a partition of the group (OffsetFetch's require_stable).
func (c *Coordinator) HasPendingTxnOffsets(group, topic string, partition int32) bool {
	c.mu.Lock()
	defer c.unlock()
	for _, byGroup := range c.txnOffsets {
		if _, ok := byGroup[group][tp{topic, partition}]; ok {
			return true
		}
	}
	return false
}
