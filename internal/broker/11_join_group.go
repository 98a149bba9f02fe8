package broker

// JoinGroup: v0-9
//
// Behaviour (the classic protocol, see internal/group):
// * READ on the group is required (GROUP_AUTHORIZATION_FAILED).
// * Generations, leader election, protocol selection by vote,
//   INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT
//   (group.{min,max}.session.timeout.ms), UNKNOWN_MEMBER_ID.
// * v4+ (KIP-394): a first join without member id gets MEMBER_ID_REQUIRED
//   with a generated id.
// * v5+ static membership (KIP-345): a known group.instance.id rejoining
//   takes a new member id and fences the old one (FENCED_INSTANCE_ID); with
//   unchanged metadata for the selected protocol in a Stable group there is
//   no rebalance (v9: SkipAssignment for a static leader).
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.
// * The response waits until the rebalance completes: every member rejoined,
//   or the rebalance timeout, or for an empty group
//   group.initial.rebalance.delay.ms.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, r *request, req *kmsg.JoinGroupRequest) kmsg.Response {
	if !r.allowed(auth.OpRead, auth.Group(req.Group)) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.MemberID = req.MemberID
		return resp
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.MemberID, resp.Generation = cerr.Code, req.MemberID, -1
		return resp
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	coord.JoinGroup(req, r.clientID, r.clientHost(), func(resp *kmsg.JoinGroupResponse) { ch <- resp })
	resp, ok := wait(b, ch)
	if !ok {
		return nil
	}
	return resp
}
