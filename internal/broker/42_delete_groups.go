package broker

// DeleteGroups: v0-2
//
// Behaviour:
// * DELETE on each group (GROUP_AUTHORIZATION_FAILED for that group).
// * GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has
//   members; otherwise its offsets and metadata are deleted, with
//   tombstones written to __consumer_offsets, answered once they are; while
//   they are written the group is Dead (JoinGroup and the like get
//   COORDINATOR_NOT_AVAILABLE, which clients retry), as in Kafka.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) for a group this broker does not coordinate.
// * A share group (KIP-932) is deleted by the share coordinator: its
//   share-partition state gets tombstones in __share_group_state.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, r *request, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		if !r.allowed(auth.OpDelete, auth.Group(id)) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
		} else if b.shares.c.Exists(id) {
			if err := b.deleteShareGroup(id); err != nil {
				g.ErrorCode = err.Code
			}
		} else if coord, cerr := b.groupCoordinator(id); cerr != nil {
			g.ErrorCode = cerr.Code
		} else {
			ch := make(chan *kerr.Error, 1)
			coord.DeleteGroup(id, func(err *kerr.Error) { ch <- err })
			err, ok := wait(b, ch)
			if !ok {
				return nil
			}
			if err != nil {
				g.ErrorCode = err.Code
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
