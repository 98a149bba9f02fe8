package broker

// AlterPartitionReassignments: v0-1
//
// Behaviour:
// * Needs ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED (top
//   level).
// * This node is the only broker and the only replica of every partition,
//   so the only valid target is [this node]: it is the current assignment,
//   and like Kafka's controller the reassignment completes at once with no
//   change (NONE). Kafka's checks otherwise: an empty list or a broker
//   named twice is INVALID_REPLICA_ASSIGNMENT, any other broker id is
//   INVALID_REPLICA_ASSIGNMENT ("no such broker is registered"); with v1
//   and AllowReplicationFactorChange false a different replica count is
//   INVALID_REPLICATION_FACTOR.
// * Null replicas cancel a reassignment: none is ever in progress, so
//   NO_REASSIGNMENT_IN_PROGRESS.
// * Unknown topics or partitions are UNKNOWN_TOPIC_OR_PARTITION.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(45, 0, 1, handleAlterPartitionAssignments) }

func handleAlterPartitionAssignments(b *Broker, r *request, req *kmsg.AlterPartitionAssignmentsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if !r.allowed(auth.OpAlter, auth.Cluster()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		msg := "Cluster authorization failed."
		resp.ErrorMessage = &msg
		return resp
	}
	allowRF := r.version < 1 || req.AllowReplicationFactorChange
	for _, rt := range req.Topics {
		out := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		out.Topic = rt.Topic
		t := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			p.Partition = rp.Partition
			var err *kerr.Error
			var msg string
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions):
				err = kerr.UnknownTopicOrPartition
			case rp.Replicas == nil:
				err, msg = kerr.NoReassignmentInProgress, kerr.NoReassignmentInProgress.Description
			default:
				err, msg = b.checkAssignment(rp.Replicas, allowRF)
			}
			if err != nil {
				p.ErrorCode = err.Code
				if msg != "" {
					p.ErrorMessage = &msg
				}
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// checkAssignment validates a target replica list as Kafka's controller
// does; nil means it is the current assignment.
func (b *Broker) checkAssignment(replicas []int32, allowRF bool) (*kerr.Error, string) {
	if len(replicas) == 0 {
		return kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list."
	}
	seen := map[int32]bool{}
	for _, id := range replicas {
		if seen[id] {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("The manual partition assignment includes the broker %d more than once.", id)
		}
		seen[id] = true
	}
	if !allowRF && len(replicas) != 1 {
		return kerr.InvalidReplicationFactor, fmt.Sprintf("The replication factor is changed from 1 to %d", len(replicas))
	}
	for _, id := range replicas {
		if id != b.cfg.NodeID {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
	}
	return nil, "" // non-empty, no duplicates, only this node: [this node]
}
