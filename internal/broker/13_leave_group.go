package broker

// LeaveGroup: v0-5
//
// Behaviour:
// * READ on the group is required (GROUP_AUTHORIZATION_FAILED).
// * v0-2: one member id, its error is the top-level error. v3+ (KIP-345):
//   a batch of members, by member id or group.instance.id, each with its
//   own error (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID).
// * The remaining members rebalance.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, r *request, req *kmsg.LeaveGroupRequest) kmsg.Response {
	if !r.allowed(auth.OpRead, auth.Group(req.Group)) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = cerr.Code
		return resp
	}
	return coord.LeaveGroup(req)
}
