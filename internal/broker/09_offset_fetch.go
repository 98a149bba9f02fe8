package broker

// OffsetFetch: v1-9
//
// Behaviour:
// * DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED: top-level for
//   v2-7, per group for v8+, per partition for v1) and on each topic: a
//   named topic the principal may not describe is TOPIC_AUTHORIZATION_FAILED,
//   and "all topics" (null topics, v2+) leaves such topics out.
// * Uncommitted partitions (and unknown groups) have offset -1, leader
//   epoch -1 and empty metadata.
// * v8+ batches groups. RequireStable (v7+): a partition with offsets
//   pending in an ongoing transaction (TxnOffsetCommit) is
//   UNSTABLE_OFFSET_COMMIT, which clients retry.
// * v9 member id and epoch (KIP-848): for a consumer group they must name
//   a member at its current epoch (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH);
//   no member id with epoch -1 fetches freely; classic groups ignore them.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) for a group this broker does not coordinate.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/group"
)

func init() { register(9, 1, 9, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, r *request, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.version >= 8 {
		for _, rg := range req.Groups {
			coord, cerr := b.groupCoordinator(rg.Group)
			if r.version >= 9 && cerr == nil && r.allowed(auth.OpDescribe, auth.Group(rg.Group)) {
				if err := coord.ValidateOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch); err != nil {
					g := kmsg.NewOffsetFetchResponseGroup()
					g.Group, g.ErrorCode = rg.Group, err.Code
					resp.Groups = append(resp.Groups, g)
					continue
				}
			}
			resp.Groups = append(resp.Groups, b.offsetFetchGroup(r, coord, cerr, rg.Group, rg.Topics, req.RequireStable))
		}
		return resp
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil || r.version < 2 {
		topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.Partitions = t.Topic, t.Partitions
			topics = append(topics, gt)
		}
	}
	coord, cerr := b.groupCoordinator(req.Group)
	g := b.offsetFetchGroup(r, coord, cerr, req.Group, topics, req.RequireStable)
	if r.version >= 2 {
		resp.ErrorCode = g.ErrorCode
	}
	for _, gt := range g.Topics {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			if r.version < 2 && g.ErrorCode != 0 {
				p.ErrorCode = g.ErrorCode
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// offsetFetchGroup answers for one group from its coordinator (or with
// cerr, the error groupCoordinator gave); topics nil means all.
func (b *Broker) offsetFetchGroup(r *request, coord *group.Coordinator, cerr *kerr.Error, groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	g := kmsg.NewOffsetFetchResponseGroup()
	g.Group = groupID
	errPartitions := func(t kmsg.OffsetFetchRequestGroupTopic, err *kerr.Error) kmsg.OffsetFetchResponseGroupTopic {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, err.Code
			md := ""
			rp.Metadata = &md
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	if !r.allowed(auth.OpDescribe, auth.Group(groupID)) {
		g.ErrorCode = kerr.GroupAuthorizationFailed.Code
		for _, t := range topics {
			g.Topics = append(g.Topics, errPartitions(t, kerr.GroupAuthorizationFailed))
		}
		return g
	}
	if cerr != nil {
		g.ErrorCode = cerr.Code
		for _, t := range topics {
			g.Topics = append(g.Topics, errPartitions(t, cerr))
		}
		return g
	}
	var allowed, denied []kmsg.OffsetFetchRequestGroupTopic
	if topics != nil {
		allowed = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(topics))
		for _, t := range topics {
			if r.allowed(auth.OpDescribe, auth.Topic(t.Topic)) {
				allowed = append(allowed, t)
			} else {
				denied = append(denied, t)
			}
		}
	}
	out, err := coord.FetchOffsets(groupID, allowed)
	if err != nil {
		g.ErrorCode = err.Code
		return g
	}
	for _, t := range out {
		if topics == nil && !r.allowed(auth.OpDescribe, auth.Topic(t.Topic)) {
			continue
		}
		if requireStable {
			for i, p := range t.Partitions {
				if coord.HasPendingTxnOffsets(groupID, t.Topic, p.Partition) {
					t.Partitions[i].ErrorCode = kerr.UnstableOffsetCommit.Code
				}
			}
		}
		g.Topics = append(g.Topics, t)
	}
	for _, t := range denied {
		g.Topics = append(g.Topics, errPartitions(t, kerr.TopicAuthorizationFailed))
	}
	return g
}
