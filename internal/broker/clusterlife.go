package broker

// Cluster mode's upkeep of stored data (DESIGN.md, "Cluster mode"):
//
//   - Retention: every log.retention.check.interval.ms the broker's
//     retention loop (lifecycle.go) also moves the log start offset of each
//     partition this broker leads whose cleanup.policy has delete to where
//     retention.ms and retention.bytes put it (objlog
//     Partition.RetentionOffset, judged by index entries as Kafka judges
//     whole segments), through objlog's DeleteRecords: the index entries
//     wholly below are deleted in etcd under the leadership's fence.
//   - The object garbage collector (objlog.GC) deletes the objects no index
//     entry names any more, after log.segment.delete.delay.ms, and the
//     orphans of flushes whose commit never applied. Its rounds are
//     idempotent and safe on several brokers at once; only the controller
//     (the lowest live node id, as Metadata reports) runs them, every
//     cluster.gc.interval.ms, to spare the store and etcd the duplicate
//     listings.
//   - DeleteRecords (v0-2) on a led partition moves its log start the same
//     way.
//   - Compaction: on the same loop, before merging, each led partition of
//     a topic whose cleanup.policy has compact is compacted when a pass is
//     due (objlog Partition.Compact; clustercompact.go).
//   - Merging: on the same loop, each led partition merges runs of small
//     index entries into objects of cluster.merge.target.bytes (objlog
//     Partition.Merge), a few runs per partition per pass.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/objlog"
)

// clusterRetention applies retention to the partitions this broker leads,
// at now. Called from the retention loop, one pass at a time.
func (n *clusterNode) clusterRetention(now time.Time) {
	n.mu.Lock()
	parts := make([]*objlog.Partition, 0, len(n.parts))
	for _, p := range n.parts {
		parts = append(parts, p)
	}
	n.mu.Unlock()
	for _, p := range parts {
		if p.Err() != nil {
			continue
		}
		t, ok := n.topicByID(p.TopicPartition().TopicID)
		if !ok || !n.b.logConfig(t.Configs).Delete {
			continue
		}
		to := p.RetentionOffset(now.UnixMilli())
		if to <= p.LogStartOffset() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		start, err := p.DeleteRecords(ctx, to)
		cancel()
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, objlog.ErrNotLeader) {
				n.log.Warn("applying retention failed", "topic", t.Name, "partition", p.TopicPartition().Partition, "err", err)
			}
			continue
		}
		n.log.Info("retention moved the log start", "topic", t.Name, "partition", p.TopicPartition().Partition, "log_start_offset", start)
	}
	n.clusterCompact(parts, now) // clustercompact.go
	if n.cfg.MergeTargetBytes > 0 {
		for _, p := range parts {
			n.merge(p)
		}
	}
}

// mergeRunsPerPass bounds the merges of one partition per retention pass,
// so that one partition's backlog does not hold up the others'.
const mergeRunsPerPass = 8

// merge merges up to mergeRunsPerPass runs of p's small index entries.
func (n *clusterNode) merge(p *objlog.Partition) {
	for range mergeRunsPerPass {
		if p.Err() != nil || n.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		st, err := p.Merge(ctx, n.cfg.MergeTargetBytes, 1000)
		cancel()
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, objlog.ErrNotLeader) {
				n.log.Warn("merging small objects failed; trying again later", "partition", p.TopicPartition().String(), "err", err)
			}
			return
		}
		if st.Entries == 0 {
			return
		}
		n.log.Debug("merged index entries", "partition", p.TopicPartition().String(), "entries", st.Entries, "bytes", st.Bytes)
	}
}

// runGC runs the object garbage collector's rounds while this broker is
// the controller, every cluster.gc.interval.ms, until the broker closes.
// Owned by Broker.Serve.
func (n *clusterNode) runGC() {
	interval := n.cfg.GCInterval
	if interval <= 0 {
		interval = objlog.DefaultGCInterval
	}
	gc := objlog.NewGC(objlog.GCConfig{Interval: interval, DeleteDelay: n.b.brokerMs("log.segment.delete.delay.ms"),
		Logger: n.log.With("component", "object-gc")}, n.client, n.store)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.isController() {
			continue
		}
		st, err := gc.Round(n.ctx)
		if err != nil {
			if n.ctx.Err() == nil {
				n.log.Warn("object garbage collection round failed; trying again later", "err", err, "next_in", interval)
			}
			continue
		}
		if st.Deleted > 0 || st.Orphans > 0 || st.DeleteFailure > 0 {
			n.log.Info("object garbage collection", "deleted", st.Deleted, "deleted_bytes", st.DeletedBytes,
				"orphans", st.Orphans, "orphan_bytes", st.OrphanBytes, "waiting", st.Waiting, "delete_failures", st.DeleteFailure)
		}
	}
}

// isController reports whether this broker has the lowest node id of the
// live brokers (Metadata's controller in cluster mode).
func (n *clusterNode) isController() bool {
	live := n.brokers()
	if len(live) == 0 {
		return false
	}
	low := live[0].NodeID
	for _, br := range live[1:] {
		low = min(low, br.NodeID)
	}
	return low == n.self.NodeID
}

// clusterDeleteRecords is DeleteRecords v0-2 in cluster mode, on the
// partitions this broker leads (others NOT_LEADER_OR_FOLLOWER). As in
// single-node mode, a topic whose cleanup.policy lacks delete is
// POLICY_VIOLATION, an offset past the high watermark OFFSET_OUT_OF_RANGE.
// No ACLs in cluster mode (refused at start).
func (b *Broker) clusterDeleteRecords(req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	ctx, cancel := context.WithTimeout(b.cl.ctx, requestTimeout(req.TimeoutMillis)+5*time.Second)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p, _, code := b.clusterPart(rt.Topic, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if t, ok := b.cl.topic(rt.Topic); ok && !b.logConfig(t.Configs).Delete {
				sp.ErrorCode = kerr.PolicyViolation.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			low, err := p.DeleteRecords(ctx, rp.Offset)
			switch {
			case errors.Is(err, objlog.ErrOffsetOutOfRange):
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			case err != nil:
				sp.ErrorCode = objlog.ErrorCode(err)
				b.logger.Warn("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
			default:
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
