package broker

// OffsetDelete: v0
//
// Behaviour (KIP-496):
// * DELETE on the group (GROUP_AUTHORIZATION_FAILED) and READ on each topic
//   (TOPIC_AUTHORIZATION_FAILED); unknown topics and partitions are
//   UNKNOWN_TOPIC_OR_PARTITION.
// * GROUP_ID_NOT_FOUND for an unknown group; an Empty group loses the
//   offsets (tombstones are written); a non-empty consumer group keeps
//   those of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); any other
//   non-empty group is NON_EMPTY_GROUP.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, r *request, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !r.allowed(auth.OpDelete, auth.Group(req.Group)) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp.ErrorCode = cerr.Code
		return resp
	}
	var valid []kmsg.OffsetDeleteRequestTopic
	var errTopics []kmsg.OffsetDeleteResponseTopic
	for _, rt := range req.Topics {
		n := b.topicPartitions(rt.Topic)
		readable := r.allowed(auth.OpRead, auth.Topic(rt.Topic))
		good := rt
		good.Partitions = nil
		et := kmsg.NewOffsetDeleteResponseTopic()
		et.Topic = rt.Topic
		for _, p := range rt.Partitions {
			var e *kerr.Error
			switch {
			case !readable:
				e = kerr.TopicAuthorizationFailed
			case p.Partition < 0 || p.Partition >= n:
				e = kerr.UnknownTopicOrPartition
			}
			if e != nil {
				ep := kmsg.NewOffsetDeleteResponseTopicPartition()
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
	type answer struct {
		err    *kerr.Error
		topics []kmsg.OffsetDeleteResponseTopic
	}
	ch := make(chan answer, 1)
	coord.DeleteOffsets(req.Group, valid, func(err *kerr.Error, topics []kmsg.OffsetDeleteResponseTopic) { ch <- answer{err, topics} })
	a, ok := wait(b, ch)
	if !ok {
		return nil
	}
	gerr, topics := a.err, a.topics
	if gerr != nil {
		resp.ErrorCode = gerr.Code
		return resp
	}
	resp.Topics = append(topics, errTopics...)
	return resp
}
