package broker

// DescribeClientQuotas: v0-1 (Kafka 4.x serves 0-1)
//
// Behaviour:
// * DESCRIBE_CONFIGS on the cluster is required (CLUSTER_AUTHORIZATION_FAILED
//   for the whole response).
// * The filter is Kafka's (ClientQuotasImage.describe): each component names
//   an entity type with match type EXACT (a name), DEFAULT (the <default>
//   entity) or ANY (named or default: the entity must have that type). An
//   entity matches when it has every filtered type as asked; with strict it
//   must also have no other type.
// * An empty or repeated entity type, EXACT without a name, DEFAULT or ANY
//   with one, and ip combined with user or client-id are INVALID_REQUEST; an
//   unknown entity type or match type is UNSUPPORTED_VERSION, as in Kafka.
// * ip entities are not supported: an ip filter matches nothing.

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/quota"
)

func init() { register(48, 0, 1, handleDescribeClientQuotas) }

const quotaTypeIP = "ip"

func handleDescribeClientQuotas(b *Broker, r *request, req *kmsg.DescribeClientQuotasRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(e *kerr.Error, msg string) kmsg.Response {
		resp.ErrorCode, resp.ErrorMessage = e.Code, &msg
		return resp
	}
	if !r.allowed(auth.OpDescribeConfigs, auth.Cluster()) {
		return fail(kerr.ClusterAuthorizationFailed, "Cluster authorization failed.")
	}
	exact := map[string]*string{} // type -> name (nil: default)
	any := map[string]bool{}
	for _, c := range req.Components {
		t := c.EntityType
		_, dupE := exact[t]
		switch {
		case t == "":
			return fail(kerr.InvalidRequest, "Invalid empty entity type.")
		case dupE || any[t]:
			return fail(kerr.InvalidRequest, fmt.Sprintf("Entity type %s cannot appear more than once in the filter.", t))
		case t != quota.TypeUser && t != quota.TypeClientID && t != quotaTypeIP:
			return fail(kerr.UnsupportedVersion, "Unsupported entity type "+t)
		}
		switch c.MatchType {
		case 0:
			if c.Match == nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			exact[t] = c.Match
		case 1:
			if c.Match != nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			exact[t] = nil
		case 2:
			if c.Match != nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			any[t] = true
		default:
			return fail(kerr.UnsupportedVersion, fmt.Sprintf("Unknown match type %d", c.MatchType))
		}
	}
	_, ipE := exact[quotaTypeIP]
	if (ipE || any[quotaTypeIP]) && len(exact)+len(any) > 1 {
		return fail(kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	for _, e := range b.quotas.Store().Entries() {
		comps := map[string]quota.Component{}
		if e.Entity.User.Kind != quota.Absent {
			comps[quota.TypeUser] = e.Entity.User
		}
		if e.Entity.ClientID.Kind != quota.Absent {
			comps[quota.TypeClientID] = e.Entity.ClientID
		}
		if !quotaMatches(comps, exact, any, req.Strict) {
			continue
		}
		de := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, t := range []string{quota.TypeUser, quota.TypeClientID} {
			if c, ok := comps[t]; ok {
				ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
				ent.Type = t
				if c.Kind == quota.Named {
					ent.Name = kmsg.StringPtr(c.Name)
				}
				de.Entity = append(de.Entity, ent)
			}
		}
		keys := make([]string, 0, len(e.Values))
		for k := range e.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, e.Values[k]
			de.Values = append(de.Values, v)
		}
		resp.Entries = append(resp.Entries, de)
	}
	return resp
}

// quotaMatches is Kafka's ClientQuotasImage.matches.
func quotaMatches(comps map[string]quota.Component, exact map[string]*string, any map[string]bool, strict bool) bool {
	if strict && len(comps) != len(exact)+len(any) {
		return false
	}
	for t, name := range exact {
		c, ok := comps[t]
		switch {
		case !ok:
			return false
		case name == nil && c.Kind != quota.Default:
			return false
		case name != nil && (c.Kind != quota.Named || c.Name != *name):
			return false
		}
	}
	for t := range any {
		if _, ok := comps[t]; !ok {
			return false
		}
	}
	return true
}
