package broker

// DescribeTopicPartitions: v0
//
// Behaviour (Kafka's DescribeTopicPartitionsRequestHandler, used by the
// Kafka 3.8+ admin client to describe topics):
// * An empty topic list means every topic the principal may describe;
//   named topics it may not describe are TOPIC_AUTHORIZATION_FAILED (with no
//   topic id), listed after the others; unknown named topics are
//   UNKNOWN_TOPIC_OR_PARTITION.
// * Topics are answered in name order from the cursor (topic, partition)
//   on, with at most min(ResponsePartitionLimit, 2000) partitions (at least
//   1; Kafka's max.request.partition.size.limit). When the limit stops the
//   answer early, NextCursor names the first partition not returned: the
//   next partition of the topic cut short, or partition 0 of the next
//   topic.
// * A cursor topic missing from a non-empty topic list, or a negative
//   cursor partition, is INVALID_REQUEST on every requested topic.
// * This node leads every partition (epoch 0) and is its only replica and
//   ISR; eligible leader replicas and offline replicas are empty.
// * Topic authorized operations are always reported, as Kafka does.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

// maxRequestPartitionSizeLimit is Kafka's max.request.partition.size.limit
// default.
const maxRequestPartitionSizeLimit = 2000

func init() { register(75, 0, 0, handleDescribeTopicPartitions) }

func handleDescribeTopicPartitions(b *Broker, r *request, req *kmsg.DescribeTopicPartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	all := len(req.Topics) == 0
	cursorTopic := ""
	if req.Cursor != nil {
		cursorTopic = req.Cursor.Topic
	}
	var names []string
	if all {
		for _, t := range b.sortedTopics() {
			if t.meta.Name >= cursorTopic {
				names = append(names, t.meta.Name)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, rt := range req.Topics {
			if rt.Topic >= cursorTopic && !seen[rt.Topic] {
				seen[rt.Topic] = true
				names = append(names, rt.Topic)
			}
		}
		sort.Strings(names)
		if req.Cursor != nil && !seen[req.Cursor.Topic] {
			return describeTopicPartitionsError(req, resp, kerr.InvalidRequest)
		}
	}
	if req.Cursor != nil && req.Cursor.Partition < 0 {
		return describeTopicPartitionsError(req, resp, kerr.InvalidRequest)
	}

	remaining := min(req.ResponsePartitionLimit, maxRequestPartitionSizeLimit)
	remaining = max(remaining, 1)
	var unauthorized []kmsg.DescribeTopicPartitionsResponseTopic
	for _, name := range names {
		if !r.allowed(auth.OpDescribe, auth.Topic(name)) {
			if !all {
				unauthorized = append(unauthorized, dtpErrorTopic(name, kerr.TopicAuthorizationFailed))
			}
			continue
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		t := b.topic(name)
		if t == nil {
			if !all {
				rt := dtpErrorTopic(name, kerr.UnknownTopicOrPartition)
				rt.AuthorizedOperations = authorizedOps(r, auth.Topic(name), topicOps)
				resp.Topics = append(resp.Topics, rt)
			}
			continue
		}
		start := int32(0)
		if name == cursorTopic && req.Cursor != nil {
			start = req.Cursor.Partition
		}
		rt, next := dtpTopic(r, t, start, remaining)
		resp.Topics = append(resp.Topics, rt)
		if next >= 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: next}
			break
		}
		remaining -= int32(len(rt.Partitions))
	}
	resp.Topics = append(resp.Topics, unauthorized...)
	return resp
}

// dtpTopic describes t's partitions from start, at most limit of them, and
// returns the first partition left out (-1 when none is).
func dtpTopic(r *request, t *topic, start, limit int32) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	node := r.c.b.cfg.NodeID
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	name := t.meta.Name
	rt.Topic = &name
	rt.TopicID = t.meta.ID
	rt.IsInternal = t.meta.Internal
	rt.AuthorizedOperations = authorizedOps(r, auth.Topic(name), topicOps)
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	n := int32(len(t.partitions))
	end := min(int64(start)+int64(limit), int64(n))
	for i := int64(start); i < end; i++ {
		p := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		p.Partition = int32(i)
		p.LeaderID, p.LeaderEpoch = node, 0
		p.Replicas, p.ISR = []int32{node}, []int32{node}
		p.EligibleLeaderReplicas, p.LastKnownELR, p.OfflineReplicas = []int32{}, []int32{}, []int32{}
		rt.Partitions = append(rt.Partitions, p)
	}
	if end < int64(n) {
		return rt, int32(end)
	}
	return rt, -1
}

func dtpErrorTopic(name string, err *kerr.Error) kmsg.DescribeTopicPartitionsResponseTopic {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	rt.Topic = &name
	rt.ErrorCode = err.Code
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	return rt
}

// describeTopicPartitionsError is Kafka's error response: every requested
// topic with the error.
func describeTopicPartitionsError(req *kmsg.DescribeTopicPartitionsRequest, resp *kmsg.DescribeTopicPartitionsResponse, err *kerr.Error) kmsg.Response {
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, dtpErrorTopic(rt.Topic, err))
	}
	return resp
}
