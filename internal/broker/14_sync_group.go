package broker

// SyncGroup: v0-5
//
// Behaviour:
// * READ on the group is required (GROUP_AUTHORIZATION_FAILED).
// * The leader's assignment is stored in __consumer_offsets before anyone
//   gets theirs; followers wait for it. UNKNOWN_MEMBER_ID,
//   ILLEGAL_GENERATION, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS while
//   the group prepares a rebalance, and (v5+) INCONSISTENT_GROUP_PROTOCOL
//   when the protocol type or name does not match the group's.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, r *request, req *kmsg.SyncGroupRequest) kmsg.Response {
	if !r.allowed(auth.OpRead, auth.Group(req.Group)) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.MemberAssignment = []byte{}
		return resp
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode, resp.MemberAssignment = cerr.Code, []byte{}
		return resp
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	coord.SyncGroup(req, func(resp *kmsg.SyncGroupResponse) { ch <- resp })
	resp, ok := wait(b, ch)
	if !ok {
		return nil
	}
	return resp
}
