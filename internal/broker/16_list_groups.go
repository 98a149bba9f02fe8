package broker

// ListGroups: v0-5
//
// Behaviour:
// * DESCRIBE on the cluster lists every group; otherwise only the groups
//   the principal may DESCRIBE.
// * v4+ StatesFilter and v5+ TypesFilter, case-insensitive; every group
//   here is of type "classic" (KIP-848 consumer groups are not served).

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(b *Broker, r *request, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	all := r.allowed(auth.OpDescribe, auth.Cluster())
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	for _, l := range b.groups.ListGroups() {
		if !all && !r.allowed(auth.OpDescribe, auth.Group(l.Group)) {
			continue
		}
		if (r.version >= 4 && !match(req.StatesFilter, l.State.String())) || (r.version >= 5 && !match(req.TypesFilter, "classic")) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.State.String(), "classic"
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
