package broker

// ListPartitionReassignments: v0
//
// Behaviour:
// * Needs DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (top
//   level).
// * A reassignment on this single-replica broker completes as it is made
//   (AlterPartitionReassignments), so none is ever in progress: the answer
//   lists no topics, for all topics (null) or the ones named, as Kafka
//   lists only ongoing reassignments.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(_ *Broker, r *request, req *kmsg.ListPartitionReassignmentsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !r.allowed(auth.OpDescribe, auth.Cluster()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		msg := "Cluster authorization failed."
		resp.ErrorMessage = &msg
		return resp
	}
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	return resp
}
