package broker

// ElectLeaders: v0-2
//
// Behaviour:
// * Needs ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED (top
//   level, v1+, and on every partition asked for).
// * ElectionType (v1+) 0 (preferred) or 1 (unclean); anything else is
//   INVALID_REQUEST. v0 is a preferred election.
// * This node is the only replica and the leader of every partition, so
//   it is always the preferred leader and a live one: every existing
//   partition answers ELECTION_NOT_NEEDED, as Kafka's controller does for
//   a partition led by its preferred replica. Unknown topics or partitions
//   are UNKNOWN_TOPIC_OR_PARTITION.
// * Null topics means every partition: like Kafka, partitions that need no
//   election are left out, so each topic is listed with no partitions.
// * Nothing changes, so the timeout is never waited for.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(b *Broker, r *request, req *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var topErr *kerr.Error
	var topMsg string
	switch {
	case !r.allowed(auth.OpAlter, auth.Cluster()):
		topErr, topMsg = kerr.ClusterAuthorizationFailed, "Cluster authorization failed."
	case r.version >= 1 && req.ElectionType != 0 && req.ElectionType != 1:
		topErr, topMsg = kerr.InvalidRequest, fmt.Sprintf("Unknown election type %d", req.ElectionType)
	}
	if topErr != nil {
		if r.version >= 1 {
			resp.ErrorCode = topErr.Code
		}
		for _, rt := range req.Topics {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				t.Partitions = append(t.Partitions, electResult(p, topErr, topMsg))
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	if req.Topics == nil {
		for _, t := range b.sortedTopics() {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.meta.Name
			rt.Partitions = []kmsg.ElectLeadersResponseTopicPartition{}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rt := range req.Topics {
		out := kmsg.NewElectLeadersResponseTopic()
		out.Topic = rt.Topic
		t := b.topic(rt.Topic)
		for _, p := range rt.Partitions {
			switch {
			case t == nil:
				out.Partitions = append(out.Partitions, electResult(p, kerr.UnknownTopicOrPartition, "No such topic as "+rt.Topic))
			case p < 0 || int(p) >= len(t.partitions):
				out.Partitions = append(out.Partitions, electResult(p, kerr.UnknownTopicOrPartition, fmt.Sprintf("No such partition as %s-%d", rt.Topic, p)))
			default:
				out.Partitions = append(out.Partitions, electResult(p, kerr.ElectionNotNeeded, kerr.ElectionNotNeeded.Description))
			}
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func electResult(p int32, err *kerr.Error, msg string) kmsg.ElectLeadersResponseTopicPartition {
	rp := kmsg.NewElectLeadersResponseTopicPartition()
	rp.Partition, rp.ErrorCode = p, err.Code
	rp.ErrorMessage = &msg
	return rp
}
