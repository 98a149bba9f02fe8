package broker

// ListGroups: v0-5
//
// Behaviour:
// * DESCRIBE on the cluster lists every group; otherwise only the groups
//   the principal may DESCRIBE.
// * v4+ StatesFilter and v5+ TypesFilter, case-insensitive. Classic groups
//   are of type "classic" with Kafka's classic states; KIP-848 groups are of
//   type "consumer", protocol type "consumer", with the consumer-group
//   states (Empty, Assigning, Reconciling, Stable). Share groups (KIP-932)
//   are of type "share", protocol type "share", state Empty or Stable.
// * Cluster mode: the groups of every coordinator this broker runs (one
//   per __consumer_offsets partition it leads and has loaded), as a Kafka
//   broker lists the groups it coordinates.

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/group"
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
	var listed []group.Listing
	if b.cl == nil {
		listed = b.groups.ListGroups()
	} else {
		listed = b.cl.listGroups()
	}
	for _, l := range listed {
		if !all && !r.allowed(auth.OpDescribe, auth.Group(l.Group)) {
			continue
		}
		if (r.version >= 4 && !match(req.StatesFilter, l.StateName)) || (r.version >= 5 && !match(req.TypesFilter, l.Type)) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.StateName, l.Type
		resp.Groups = append(resp.Groups, g)
	}
	for _, l := range b.shares.c.ListGroups() {
		if !all && !r.allowed(auth.OpDescribe, auth.Group(l.ID)) {
			continue
		}
		if (r.version >= 4 && !match(req.StatesFilter, l.State)) || (r.version >= 5 && !match(req.TypesFilter, "share")) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.ID, "share", l.State, "share"
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
