package group

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (TxnOffsetCommit). As in Kafka's
// GroupMetadataManager, offsets committed in a transaction are written to
// __consumer_offsets at once, as records of the producer's transaction
// (a Write with the producer's id), and held per producer id and group, invisible to
// OffsetFetch, until the transaction ends: the broker writes the commit
// or abort marker after them and then calls EndTxn, which makes them the
// group's committed offsets or drops them. On replay the same happens
// from the log: ReplayTxnOffset holds them pending and ReplayMarker
// resolves them, so the offsets of a transaction still open when the
// broker stopped stay pending for it.

// TxnOffsetCommit handles a TxnOffsetCommit request whose transaction the
// broker has verified (the group was added with AddOffsetsToTxn) and whose
// topics it has authorized. Members are checked as for OffsetCommit when
// the request names a member or generation (v3+). respond is called once,
// when the offsets are in the log (then pending in the transaction) or at
// once on an error, never under the coordinator's mutex.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, respond func(*kmsg.TxnOffsetCommitResponse)) {
	c.mu.Lock()
	defer c.unlock()
	now := c.cfg.Now()
	var errs map[tp]*kerr.Error // partitions refused alone; most requests have none
	answer := func(groupErr *kerr.Error) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
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
		c.later(func() { respond(resp) })
	}
	var groupErr *kerr.Error
	if c.closed {
		groupErr = kerr.NotCoordinator
	} else if req.Generation >= 0 || req.MemberID != "" || deref(req.InstanceID) != "" {
		groupErr = c.validateCommit(&kmsg.OffsetCommitRequest{Version: 9, Group: req.Group,
			Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID})
		if groupErr == kerr.RebalanceInProgress {
			groupErr = nil // Kafka allows transactional commits then
		}
	} else if g := c.groups[req.Group]; g != nil && g.state == Dead {
		groupErr = kerr.CoordinatorNotAvailable
	}
	if groupErr != nil {
		answer(groupErr)
		return
	}
	offs := map[tp]offset{}
	var keys []tp
	var recs []Record
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p.Partition}
			md := deref(p.Metadata)
			if len(md) > c.cfg.MaxMetadataBytes {
				if errs == nil {
					errs = map[tp]*kerr.Error{}
				}
				errs[k] = kerr.OffsetMetadataTooLarge
				continue
			}
			o := offset{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTime: now}
			if req.Version >= 2 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if _, dup := offs[k]; !dup {
				keys = append(keys, k)
			}
			offs[k] = o
			recs = append(recs, Record{offsetKey(req.Group, k.topic, k.partition), offsetValue(o)})
		}
	}
	if len(recs) == 0 {
		answer(nil)
		return
	}
	g := c.getOrCreate(req.Group) // as Kafka, a transactional commit creates the group
	c.write(g, recs, req.ProducerID, req.ProducerEpoch, func(err error) {
		if err != nil {
			c.cfg.Logger.Warn("writing transactional offsets failed", "group", req.Group, "producer_id", req.ProducerID, "err", err)
			answer(storeError(err))
			return
		}
		c.writes++
		for _, k := range keys {
			o := offs[k]
			o.written = c.writes
			c.pendTxnOffset(req.ProducerID, req.Group, k, o)
		}
		answer(nil)
	})
}

// pendTxnOffset holds o for partition k of group g until producer pid's
// transaction ends; called under mu.
func (c *Coordinator) pendTxnOffset(pid int64, g string, k tp, o offset) {
	if c.txnOffsets == nil {
		c.txnOffsets = map[int64]map[string]map[tp]offset{}
	}
	byGroup := c.txnOffsets[pid]
	if byGroup == nil {
		byGroup = map[string]map[tp]offset{}
		c.txnOffsets[pid] = byGroup
	}
	if byGroup[g] == nil {
		byGroup[g] = map[tp]offset{}
	}
	byGroup[g][k] = o
}

// EndTxn ends producer pid's transaction for the offsets it committed to
// the groups of __consumer_offsets partition partition, once its marker
// is there: on commit they become committed offsets, except where a plain
// commit was written after them (Kafka keeps the later record), on abort
// they are dropped. Resolving by partition matters on replay, which reads
// one partition after another: a producer's marker in one partition
// belongs to an older transaction than its records still pending in a
// partition replayed before.
func (c *Coordinator) EndTxn(pid int64, partition int32, commit bool) {
	c.mu.Lock()
	defer c.unlock()
	c.endTxnLocked(pid, partition, commit)
}

func (c *Coordinator) endTxnLocked(pid int64, partition int32, commit bool) {
	byGroup := c.txnOffsets[pid]
	for id, offs := range byGroup {
		if PartitionFor(id, c.cfg.Partitions) != partition {
			continue
		}
		delete(byGroup, id)
		if !commit {
			continue
		}
		g := c.getOrCreate(id)
		for k, o := range offs {
			if cur, ok := g.offsets[k]; !ok || cur.written < o.written {
				g.offsets[k] = o
			}
		}
	}
	if len(byGroup) == 0 {
		delete(c.txnOffsets, pid)
	}
}

// dropPendingLocked forgets the offsets pending in any transaction for
// partition k of group g (deleted: OffsetDelete, DeleteGroups, or their
// tombstones on replay), as Kafka's removeOffsets does.
func (c *Coordinator) dropPendingLocked(g string, k tp) {
	for pid, byGroup := range c.txnOffsets {
		delete(byGroup[g], k)
		if len(byGroup[g]) == 0 {
			delete(byGroup, g)
		}
		if len(byGroup) == 0 {
			delete(c.txnOffsets, pid)
		}
	}
}

// pendingPartitionsLocked lists the partitions of group g with offsets
// pending in a transaction.
func (c *Coordinator) pendingPartitionsLocked(g string) []tp {
	var out []tp
	for _, byGroup := range c.txnOffsets {
		for k := range byGroup[g] {
			out = append(out, k)
		}
	}
	return out
}

// ReplayTxnOffset applies, at start-up, an offset commit record written
// in producer pid's transaction: it is pending until ReplayMarker.
func (c *Coordinator) ReplayTxnOffset(pid int64, key, value []byte) error {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("transactional offset commit key: %w", err)
	}
	if k.Version > 1 {
		return fmt.Errorf("transactional record with key version %d", k.Version)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("transactional offset commit value: %w", err)
	}
	o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: time.UnixMilli(v.CommitTimestamp)}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	c.mu.Lock()
	defer c.unlock()
	c.writes++
	o.written = c.writes
	c.pendTxnOffset(pid, k.Group, tp{k.Topic, k.Partition}, o)
	return nil
}

// ReplayMarker applies, at start-up, producer pid's commit or abort
// marker read from partition partition of __consumer_offsets.
func (c *Coordinator) ReplayMarker(pid int64, partition int32, commit bool) {
	c.mu.Lock()
	defer c.unlock()
	c.endTxnLocked(pid, partition, commit)
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
