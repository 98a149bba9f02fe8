package broker

// Cluster mode's group coordinators (DESIGN.md, "Consumer groups in
// cluster mode").
//
// __consumer_offsets is an object-stored topic in etcd like any other,
// created by the first broker that finds it missing
// (offsets.topic.num.partitions partitions, cleanup.policy=compact) and
// owned, acquired and resigned by the rendezvous ownership of cluster.go.
// The coordinator of a group is the leader of its partition
// (group.PartitionFor). For each partition of __consumer_offsets this
// broker leads, one group.Coordinator runs (a groupShard): made when the
// partition is acquired, it replays the partition from its log start to
// its high watermark (its groups get COORDINATOR_LOAD_IN_PROGRESS
// meanwhile), then serves; when the partition is resigned or lost it is
// closed, and its groups get NOT_COORDINATOR. Its writes (group.Write) are
// appended to the partition and applied only once the flush carrying them
// committed in etcd; an append of a deposed leader fails on the epoch
// fence and answers NOT_COORDINATOR. The broker's ticker ticks every
// loaded shard (tickGroups, tick.go).
//
// Lock order: group.Coordinator.mu → clusterNode.mu (the Topics
// callback); no coordinator is called with clusterNode.mu held.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/coordkey"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objlog"
	"github.com/sluice-io/sluice/internal/txn"
)

// replayReadBytes bounds one read of a __consumer_offsets partition
// during a coordinator's load.
const replayReadBytes = 1 << 20

// groupShard is the coordinator of the groups of one partition of
// __consumer_offsets this broker leads.
type groupShard struct {
	tp cluster.TopicPartition
	p  *objlog.Partition
	c  *group.Coordinator
	// loaded is set once the partition was replayed: requests are served.
	loaded atomic.Bool
	// ctx ends the load; cancel is called when the shard is closed.
	ctx    context.Context
	cancel context.CancelFunc
}

// newGroupShardLocked makes the coordinator of partition tp (p, of a
// topic of partitions partitions) and registers it; its load starts with
// startGroupShard. Called with n.mu held: it calls nothing that locks.
func (n *clusterNode) newGroupShardLocked(tp cluster.TopicPartition, p *objlog.Partition, partitions int32) *groupShard {
	s := &groupShard{tp: tp, p: p}
	s.ctx, s.cancel = context.WithCancel(n.ctx)
	cfg := n.b.groupConfig()
	cfg.Write = func(w *group.Write) { n.writeOffsets(s, w) }
	cfg.Partitions = partitions
	cfg.Topics = n.groupTopics
	cfg.Logger = n.b.logger.With("component", "group-coordinator", "partition", tp.Partition)
	s.c = group.New(cfg)
	n.shards[tp] = s
	return s
}

// startGroupShard loads s in a goroutine the node owns (n.loaders, waited
// for when run ends).
func (n *clusterNode) startGroupShard(s *groupShard) {
	n.loaders.Add(1)
	go func() {
		defer n.loaders.Done()
		n.loadGroupShard(s)
	}()
}

// closeGroupShards closes shards (taken out of n.shards by the caller,
// with n.mu no longer held): loads end, pending joins and syncs get
// NOT_COORDINATOR and so do later requests that still reach them.
func closeGroupShards(shards []*groupShard) {
	for _, s := range shards {
		s.cancel()
		s.c.Close()
	}
}

// takeGroupShardLocked removes tp's shard, if any, appending it to out.
func (n *clusterNode) takeGroupShardLocked(tp cluster.TopicPartition, out []*groupShard) []*groupShard {
	if s := n.shards[tp]; s != nil {
		delete(n.shards, tp)
		out = append(out, s)
	}
	return out
}

// loadGroupShard replays s's partition from its log start to its high
// watermark into the coordinator, then lets it serve. Nothing appends
// meanwhile (requests get COORDINATOR_LOAD_IN_PROGRESS), so the high
// watermark read first is the end. A failed read is retried every second
// from where it stopped, until the shard is closed.
func (n *clusterNode) loadGroupShard(s *groupShard) {
	start := time.Now()
	off, hw := s.p.LogStartOffset(), s.p.HighWatermark()
	records := 0
	for off < hw {
		next, recs, err := n.replayOffsetsFrom(s, off)
		records += recs
		if err != nil {
			if s.ctx.Err() != nil || s.p.Err() != nil {
				return
			}
			n.log.Warn("loading consumer groups failed; retrying", "partition", s.tp.Partition, "offset", next, "err", err)
			if !sleepCtx(s.ctx, time.Second) {
				return
			}
		}
		off = next
	}
	s.c.Loaded()
	s.loaded.Store(true)
	n.b.timer.at(groupTimers, n.b.cfg.Now()) // a first Tick learns its deadlines
	n.log.Info("loaded consumer groups", "partition", s.tp.Partition, "epoch", s.p.Epoch(), "records", records,
		"log_start", s.p.LogStartOffset(), "hw", hw, "took", time.Since(start).Round(time.Millisecond))
}

// replayOffsetsFrom reads one piece of s's partition at off and replays
// its records (plain ones with Replay; those of a transaction with
// ReplayTxnOffset and their markers with ReplayMarker, as single-node
// replayOffsets does). It returns the offset to continue from and the
// records replayed; on an error, the offset of the batch that was not
// replayed.
func (n *clusterNode) replayOffsetsFrom(s *groupShard, off int64) (int64, int, error) {
	rec := func(h *log.BatchHeader, r log.Record) error {
		if h.Transactional() {
			return s.c.ReplayTxnOffset(h.ProducerID, r.Key, r.Value)
		}
		return s.c.Replay(r.Key, r.Value)
	}
	marker := func(h *log.BatchHeader, commit bool) { s.c.ReplayMarker(h.ProducerID, s.tp.Partition, commit) }
	return n.replayPiece(s.ctx, s.p, off, rec, marker)
}

// replayPiece reads one piece (replayReadBytes) of an internal topic's
// partition p at off and feeds each record at or after off to rec, with
// its batch's header, and each control batch to marker (when not nil). A
// record rec cannot read is logged and skipped. It returns the offset to
// continue from and the records fed; on an error, the offset of the batch
// that was not fed.
func (n *clusterNode) replayPiece(ctx context.Context, p *objlog.Partition, off int64,
	rec func(*log.BatchHeader, log.Record) error, marker func(*log.BatchHeader, bool)) (int64, int, error) {
	data, err := p.Read(ctx, off, replayReadBytes)
	if err != nil {
		return off, 0, err
	}
	if len(data) == 0 {
		return off, 0, fmt.Errorf("%w: no batch at offset %d below the high watermark", objlog.ErrStorage, off)
	}
	tp := p.TopicPartition()
	recs := 0
	for rest := data; len(rest) > 0; {
		h, err := log.ParseBatchHeader(rest)
		if err != nil || h.Size() > len(rest) {
			return off, recs, fmt.Errorf("%w: bad batch header at offset %d: %v", objlog.ErrStorage, off, err)
		}
		batch := rest[:h.Size()]
		switch {
		case h.Control():
			if typ := log.MarkerType(batch); marker != nil && typ >= 0 {
				marker(&h, typ == log.MarkerCommit)
			}
		default:
			rs, err := log.DecodeRecords(batch)
			if err != nil {
				return off, recs, fmt.Errorf("%w: decoding the batch at offset %d: %w", objlog.ErrStorage, h.BaseOffset, err)
			}
			for _, r := range rs {
				if r.Offset < off {
					continue // before the log start, in the batch holding it
				}
				if err := rec(&h, r); err != nil {
					n.log.Warn("skipping unreadable record in an internal topic", "partition", tp.String(), "offset", r.Offset, "err", err)
				}
				recs++
			}
		}
		off = h.LastOffset() + 1
		rest = rest[h.Size():]
	}
	return off, recs, nil
}

// writeOffsets appends a write of s's coordinator to its partition and
// reports the outcome once the flush carrying it committed (or failed),
// from a goroutine the broker owns: the caller (a request's goroutine or
// the ticker) does not wait for the flush.
func (n *clusterNode) writeOffsets(s *groupShard, w *group.Write) {
	kvs := make([]log.KV, len(w.Records))
	for i, r := range w.Records {
		kvs[i] = log.KV(r)
	}
	var c *objlog.Completion
	var err error
	if w.ProducerID >= 0 { // TxnOffsetCommit: in the producer's transaction
		c, err = s.p.AppendCoordinator(log.EncodeBatch(kvs, n.b.cfg.Now().UnixMilli(), w.ProducerID, w.ProducerEpoch, true))
	} else {
		c, err = s.p.Append(log.EncodeBatch(kvs, n.b.cfg.Now().UnixMilli(), -1, -1, false))
	}
	if err != nil {
		s.c.Applied(w, offsetsAppendError(err))
		return
	}
	if !n.b.goOwned(func() {
		_, err := c.Result() // the flusher finishes every append, also when it closes
		s.c.Applied(w, offsetsAppendError(err))
	}) {
		s.c.Applied(w, fmt.Errorf("%w: the broker is shutting down", kerr.NotCoordinator))
	}
}

// offsetsAppendError is the error a coordinator's write failed with, as
// the coordinator maps it (group.storeError): a lost leadership (fenced by
// a newer epoch, resigned, lease lost, closed) is NOT_COORDINATOR, a
// record too large INVALID_COMMIT_OFFSET_SIZE, anything else
// COORDINATOR_NOT_AVAILABLE. Nil stays nil.
func offsetsAppendError(err error) error {
	if err == nil {
		return nil
	}
	var code *kerr.Error
	switch {
	case errors.Is(err, objlog.ErrNotLeader), errors.Is(err, objlog.ErrClosed):
		code = kerr.NotCoordinator
	case objlog.ErrorCode(err) != kerr.UnknownServerError.Code:
		code = kerr.CoordinatorNotAvailable
	default:
		code = appendError(err) // batch validation (internal/log)
	}
	return fmt.Errorf("%w: %w", code, err)
}

// groupCoordinator is the loaded coordinator of group id on this broker,
// or the error to answer: COORDINATOR_NOT_AVAILABLE while
// __consumer_offsets does not exist, NOT_COORDINATOR when this broker does
// not lead the group's partition, COORDINATOR_LOAD_IN_PROGRESS while it
// replays it.
func (n *clusterNode) groupCoordinator(id string) (*group.Coordinator, *kerr.Error) {
	n.mu.Lock()
	t, ok := n.topics[group.TopicName]
	var s *groupShard
	if ok {
		s = n.shards[t.Partition(group.PartitionFor(id, t.Partitions))]
	}
	n.mu.Unlock()
	switch {
	case !ok:
		return nil, kerr.CoordinatorNotAvailable
	case s == nil || s.p.Err() != nil:
		return nil, kerr.NotCoordinator
	case !s.loaded.Load():
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s.c, nil
}

// groupCoordinatorNode is the broker leading group id's partition of
// __consumer_offsets as this broker knows it (itself, or the leaders/
// watch), if it is live.
func (n *clusterNode) groupCoordinatorNode(id string) (cluster.BrokerInfo, bool) {
	return n.keyLeaderNode(group.TopicName, func(partitions int32) int32 { return group.PartitionFor(id, partitions) })
}

// keyLeaderNode is the live broker leading the partition of topic that
// partitionFor picks, as this broker knows it.
func (n *clusterNode) keyLeaderNode(topic string, partitionFor func(partitions int32) int32) (cluster.BrokerInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.topics[topic]
	if !ok {
		return cluster.BrokerInfo{}, false
	}
	tp := t.Partition(partitionFor(t.Partitions))
	node := int32(-1)
	if p := n.parts[tp]; p != nil && p.Err() == nil {
		node = n.self.NodeID
	} else if l, ok := n.leaders[tp]; ok {
		node = l.NodeID
	}
	for _, br := range n.live {
		if br.NodeID == node {
			return br, true
		}
	}
	if node == n.self.NodeID {
		return n.self, true // leading before the brokers/ watch shows this broker
	}
	return cluster.BrokerInfo{}, false
}

// loadedCoordinators is the coordinators of this broker's loaded shards.
func (n *clusterNode) loadedCoordinators() []*group.Coordinator {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*group.Coordinator, 0, len(n.shards))
	for _, s := range n.shards {
		if s.loaded.Load() {
			out = append(out, s.c)
		}
	}
	return out
}

// listGroups is the groups of every loaded coordinator of this broker.
func (n *clusterNode) listGroups() []group.Listing {
	var out []group.Listing
	for _, c := range n.loadedCoordinators() {
		out = append(out, c.ListGroups()...)
	}
	return out
}

// groupTopics lists the cluster's topics for the coordinators' KIP-848
// assignors (called under a coordinator's mutex; takes n.mu, as the lock
// order allows).
func (n *clusterNode) groupTopics() []group.TopicInfo {
	n.mu.Lock()
	out := make([]group.TopicInfo, 0, len(n.topics))
	for _, t := range n.topics {
		out = append(out, group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: t.Partitions})
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b group.TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// createOffsetsTopic creates __consumer_offsets in etcd
// (offsets.topic.num.partitions partitions, compacted); one that exists
// already is no error.
func (n *clusterNode) createOffsetsTopic(ctx context.Context) error {
	return n.createInternalTopic(ctx, group.TopicName, int32(n.b.brokerInt("offsets.topic.num.partitions")))
}

// createInternalTopic creates a compacted internal topic in etcd; one
// that exists already is no error.
func (n *clusterNode) createInternalTopic(ctx context.Context, name string, partitions int32) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := cluster.TopicInfo{Name: name, ID: newTopicID(), Partitions: partitions,
		ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "compact"}}
	switch err := n.client.CreateTopic(ctx, t); {
	case errors.Is(err, cluster.ErrTopicExists):
		return nil // another broker made it; the topics watch brings it
	case err != nil:
		return fmt.Errorf("creating %s: %w", name, err)
	}
	n.log.Info("created "+name, "partitions", t.Partitions)
	return nil
}

// clusterFindCoordinator is FindCoordinator in cluster mode (see
// 10_find_coordinator.go for the single-node one): a group's coordinator
// is the leader of its partition of __consumer_offsets
// (COORDINATOR_NOT_AVAILABLE while it has none or the topic does not
// exist yet); a transactional id's is the leader of its partition of
// __transaction_state (which the first such request creates); share
// coordinators do not run in cluster mode (COORDINATOR_NOT_AVAILABLE; a
// malformed share key is INVALID_REQUEST, as in single-node mode).
func (b *Broker) clusterFindCoordinator(r *request, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		var err *kerr.Error
		msg := ""
		switch req.CoordinatorType {
		case 0:
			if !r.allowed(auth.OpDescribe, auth.Group(key)) {
				err = kerr.GroupAuthorizationFailed
			} else if br, ok := b.cl.groupCoordinatorNode(key); ok {
				if c.Host, c.Port, ok = br.Endpoint(r.c.l.Name); ok {
					c.NodeID = br.NodeID
					return c
				}
				c.Port = -1
				err, msg = kerr.CoordinatorNotAvailable, "the coordinator has no listener "+r.c.l.Name
			} else {
				err, msg = kerr.CoordinatorNotAvailable, "no live broker leads the group's partition of "+group.TopicName+" yet"
			}
		case 1:
			if !r.allowed(auth.OpDescribe, auth.TransactionalID(key)) {
				err = kerr.TransactionalIDAuthorizationFailed
			} else if br, ok := b.cl.keyLeaderNode(txn.TopicName, func(partitions int32) int32 { return coordkey.Partition(key, partitions) }); ok {
				if c.Host, c.Port, ok = br.Endpoint(r.c.l.Name); ok {
					c.NodeID = br.NodeID
					return c
				}
				c.Port = -1
				err, msg = kerr.CoordinatorNotAvailable, "the coordinator has no listener "+r.c.l.Name
			} else {
				if _, exists := b.cl.topic(txn.TopicName); !exists {
					// Created on first use, as Kafka does; the client
					// asks again.
					if cerr := b.cl.createTxnTopic(b.cl.ctx); cerr != nil {
						b.logger.Warn("creating "+txn.TopicName+" failed", "err", cerr)
					}
				}
				err, msg = kerr.CoordinatorNotAvailable, "no live broker leads the id's partition of "+txn.TopicName+" yet"
			}
		case 2:
			if r.version < 6 || !validShareKey(key) {
				err = kerr.InvalidRequest
			} else {
				err, msg = kerr.CoordinatorNotAvailable, "cluster mode runs no share coordinator yet"
			}
		default:
			err = kerr.InvalidRequest
		}
		if msg == "" {
			msg = err.Message
		}
		c.ErrorCode, c.ErrorMessage = err.Code, &msg
		return c
	}
	return answerCoordinators(r, req, resp, find) // 10_find_coordinator.go
}
