package broker

// CreatePartitions: v0-3
//
// Behaviour:
// * Count must exceed the current partition count (INVALID_PARTITIONS);
//   a manual assignment must name only this broker
//   (INVALID_REPLICA_ASSIGNMENT); a topic named twice is INVALID_REQUEST.
// * ValidateOnly checks and changes nothing.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, r *request, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			st.ErrorMessage = &msg
			resp.Topics = append(resp.Topics, st)
		}
		t := b.topic(rt.Topic)
		switch {
		case seen[rt.Topic] > 1:
			fail(kerr.InvalidRequest, "Duplicate topic in request.")
			continue
		case !r.allowed(auth.OpAlter, auth.Topic(rt.Topic)):
			fail(kerr.TopicAuthorizationFailed, "Authorization failed.")
			continue
		case t == nil:
			fail(kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", rt.Topic))
			continue
		}
		cur := int32(len(t.partitions))
		if rt.Count <= cur {
			msg := fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", cur, rt.Count)
			if rt.Count == cur {
				msg = fmt.Sprintf("Topic already has %d partitions.", cur)
			}
			fail(kerr.InvalidPartitions, msg)
			continue
		}
		if rt.Assignment != nil {
			bad := int32(len(rt.Assignment)) != rt.Count-cur
			for _, a := range rt.Assignment {
				if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
					bad = true
				}
			}
			if bad {
				fail(kerr.InvalidReplicaAssignment, fmt.Sprintf("Increasing the number of partitions by %d needs an assignment of %d partitions, each to broker %d only.", rt.Count-cur, rt.Count-cur, b.cfg.NodeID))
				continue
			}
		}
		if !req.ValidateOnly {
			if err := b.addPartitions(rt.Topic, rt.Count); err != nil {
				b.logger.Error("adding partitions failed", "topic", rt.Topic, "err", err)
				fail(kerr.KafkaStorageError, err.Error())
				continue
			}
			b.logger.Info("added partitions", "topic", rt.Topic, "from", cur, "to", rt.Count)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
