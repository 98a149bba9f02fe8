package broker

// ConsumerGroupDescribe: v0-1 (KIP-848)
//
// Behaviour:
// * DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED for that group).
// * State (Empty, Assigning, Reconciling, Stable), group epoch, assignment
//   epoch, assignor, and per member: epochs (-2 for a static member that
//   left and awaits its replacement), client id and "/host", instance and
//   rack ids, subscribed names and regex, current and target assignments
//   (topic ids and names), member type 1 (consumer) in v1.
// * GROUP_ID_NOT_FOUND for an unknown group ("Group g not found.") and for
//   a classic group ("Group g is not a consumer group.").
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) for a group this broker does not coordinate.
// * Authorized operations when asked: READ, DESCRIBE, DELETE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(69, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(b *Broker, r *request, req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		var d kmsg.ConsumerGroupDescribeResponseGroup
		if !r.allowed(auth.OpDescribe, auth.Group(id)) {
			d = kmsg.NewConsumerGroupDescribeResponseGroup()
			d.Group = id
			d.ErrorCode = kerr.GroupAuthorizationFailed.Code
		} else if coord, cerr := b.groupCoordinator(id); cerr != nil {
			d = kmsg.NewConsumerGroupDescribeResponseGroup()
			d.Group, d.ErrorCode = id, cerr.Code
		} else {
			d = coord.DescribeConsumerGroup(id)
		}
		d.AuthorizedOperations = noAuthorizedOps
		if req.IncludeAuthorizedOperations && d.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			d.AuthorizedOperations = authorizedOps(r, auth.Group(id), groupOps)
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}
