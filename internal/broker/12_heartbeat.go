package broker

// Heartbeat: v0-4
//
// Behaviour:
// * READ on the group is required (GROUP_AUTHORIZATION_FAILED).
// * Resets the member's session timer. REBALANCE_IN_PROGRESS while the
//   group prepares a rebalance (the member must rejoin), ILLEGAL_GENERATION,
//   UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (v3+ static members).
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, r *request, req *kmsg.HeartbeatRequest) kmsg.Response {
	if !r.allowed(auth.OpRead, auth.Group(req.Group)) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = cerr.Code
		return resp
	}
	return coord.Heartbeat(req)
}
