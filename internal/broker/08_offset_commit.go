package broker

// OffsetCommit: v2-9
//
// Behaviour:
// * READ on the group (GROUP_AUTHORIZATION_FAILED for every partition) and
//   on each topic (TOPIC_AUTHORIZATION_FAILED); a partition that does not
//   exist is UNKNOWN_TOPIC_OR_PARTITION.
// * Member checks as Kafka's classic coordinator: a non-empty group takes
//   commits only from its members of the current generation
//   (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
//   REBALANCE_IN_PROGRESS while awaiting the assignment); generation -1
//   with no member id commits to a group without members; to an unknown
//   group, a generation >= 0 is ILLEGAL_GENERATION (GROUP_ID_NOT_FOUND
//   from v9, as Kafka).
// * KIP-848 consumer groups: the generation is the member epoch; a member
//   must commit at its current epoch (STALE_MEMBER_EPOCH) with v9+
//   (UNSUPPORTED_VERSION), UNKNOWN_MEMBER_ID otherwise; epoch -1 commits
//   only to a group without members.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) for every partition when this broker does not coordinate the
//   group (clustergroups.go).
// * Metadata over offset.metadata.max.bytes is OFFSET_METADATA_TOO_LARGE.
// * Acknowledged only once the records are appended to __consumer_offsets
//   (the append runs outside the coordinator's lock, after the group's
//   earlier writes; other groups do not wait for it); v2-4
//   RetentionTimeMillis other than -1 sets the offset's expiry.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(8, 2, 9, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, r *request, req *kmsg.OffsetCommitRequest) kmsg.Response {
	groupOK := r.allowed(auth.OpRead, auth.Group(req.Group))
	var errTopics []kmsg.OffsetCommitResponseTopic
	valid := make([]kmsg.OffsetCommitRequestTopic, 0, len(req.Topics))
	coord, coordErr := b.groupCoordinator(req.Group)
	for _, rt := range req.Topics {
		var topicErr *kerr.Error
		n := b.topicPartitions(rt.Topic)
		switch {
		case !groupOK:
			topicErr = kerr.GroupAuthorizationFailed
		case !r.allowed(auth.OpRead, auth.Topic(rt.Topic)):
			topicErr = kerr.TopicAuthorizationFailed
		}
		good := rt
		good.Partitions = nil
		et := kmsg.NewOffsetCommitResponseTopic()
		et.Topic = rt.Topic
		for _, p := range rt.Partitions {
			e := topicErr
			if e == nil && (p.Partition < 0 || p.Partition >= n) {
				e = kerr.UnknownTopicOrPartition
			}
			if e == nil {
				e = coordErr
			}
			if e != nil {
				ep := kmsg.NewOffsetCommitResponseTopicPartition()
				ep.Partition, ep.ErrorCode = p.Partition, e.Code
				et.Partitions = append(et.Partitions, ep)
				continue
			}
			good.Partitions = append(good.Partitions, p)
		}
		if len(et.Partitions) > 0 {
			errTopics = append(errTopics, et)
		}
		if len(good.Partitions) > 0 {
			valid = append(valid, good)
		}
	}
	if len(valid) == 0 {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.Topics = errTopics
		return resp
	}
	sub := *req
	sub.Topics = valid
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	coord.OffsetCommit(&sub, func(resp *kmsg.OffsetCommitResponse) { ch <- resp })
	resp, ok := wait(b, ch)
	if !ok {
		return nil
	}
	resp.Topics = append(resp.Topics, errTopics...)
	return resp
}
