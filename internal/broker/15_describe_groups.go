package broker

// DescribeGroups: v0-6
//
// Behaviour:
// * DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED for that group).
// * State, protocol type, members (client id, "/host", instance id v4+);
//   protocol name, member metadata and assignments only when Stable, as
//   Kafka reports them.
// * An unknown group is state "Dead" with no error before v6 and
//   GROUP_ID_NOT_FOUND from v6 (KIP-1043). So is a KIP-848 consumer group,
//   with Kafka's message "Group g is not a classic group." (v6), and a
//   share group (KIP-932; described by ShareGroupDescribe).
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) for a group this broker does not coordinate.
// * Authorized operations (v3+) when asked: READ, DESCRIBE, DELETE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(15, 0, 6, handleDescribeGroups) }

var groupOps = []auth.Operation{auth.OpRead, auth.OpDescribe, auth.OpDelete}

func handleDescribeGroups(b *Broker, r *request, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		if !r.allowed(auth.OpDescribe, auth.Group(id)) {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group = id
			d.ErrorCode = kerr.GroupAuthorizationFailed.Code
			d.AuthorizedOperations = noAuthorizedOps
			resp.Groups = append(resp.Groups, d)
			continue
		}
		coord, cerr := b.groupCoordinator(id)
		if cerr != nil {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode, d.AuthorizedOperations = id, cerr.Code, noAuthorizedOps
			resp.Groups = append(resp.Groups, d)
			continue
		}
		d, ok := coord.DescribeGroup(id)
		if !ok && d.ErrorMessage == nil && b.shares.c.Exists(id) {
			msg := "Group " + id + " is not a classic group."
			d.ErrorMessage = &msg
		}
		if !ok && r.version >= 6 {
			d.ErrorCode = kerr.GroupIDNotFound.Code
			if d.ErrorMessage == nil {
				msg := "Group " + id + " not found."
				d.ErrorMessage = &msg
			}
		} else if !ok {
			d.ErrorMessage = nil
		}
		d.AuthorizedOperations = noAuthorizedOps
		if req.IncludeAuthorizedOperations {
			d.AuthorizedOperations = authorizedOps(r, auth.Group(id), groupOps)
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}
