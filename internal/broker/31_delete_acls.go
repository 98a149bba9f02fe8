package broker

// DeleteAcls: v1-3 (Kafka 4.x serves 1-3; v0 was removed by KIP-896)
//
// Behaviour:
// * ALTER on the cluster is required (CLUSTER_AUTHORIZATION_FAILED for
//   every filter).
// * Without an ACL authorizer the answer is SECURITY_DISABLED.
// * Filters have DescribeAcls's ANY / MATCH / null semantics; a filter
//   with UNKNOWN elements is INVALID_REQUEST. Each result lists the ACLs
//   its filter deleted; an ACL matched by several filters is listed under
//   the first.
// * The deletions of all valid filters are persisted together before the
//   response; a failure to persist is UNKNOWN_SERVER_ERROR for every valid
//   filter and deletes nothing. The next request of every connection is
//   authorized without the deleted ACLs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(31, 1, 3, handleDeleteACLs) }

func handleDeleteACLs(b *Broker, r *request, req *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	fail := func(i int, e *kerr.Error, msg string) {
		resp.Results[i].ErrorCode = e.Code
		resp.Results[i].ErrorMessage = &msg
	}
	mgr, gateErr, gateMsg := r.aclManager()
	var valid []auth.ACLFilter
	var validIdx []int
	for i, rf := range req.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		if gateErr != nil {
			fail(i, gateErr, gateMsg)
			continue
		}
		f := auth.ACLFilter{
			ResourceType: auth.ResourceType(rf.ResourceType),
			ResourceName: rf.ResourceName,
			PatternType:  auth.PatternType(rf.ResourcePatternType),
			Principal:    rf.Principal,
			Host:         rf.Host,
			Operation:    auth.Operation(rf.Operation),
			Permission:   auth.Permission(rf.PermissionType),
		}
		if err := f.Validate(); err != nil {
			fail(i, kerr.InvalidRequest, err.Error())
			continue
		}
		valid = append(valid, f)
		validIdx = append(validIdx, i)
	}
	if len(valid) == 0 {
		return resp
	}
	deleted, err := mgr.DeleteACLs(valid)
	if err != nil {
		b.logger.Error("deleting ACLs failed", "err", err, "client_id", r.clientID)
		for _, i := range validIdx {
			fail(i, storeErrorCode(err), err.Error()) // clustershared.go
		}
		return resp
	}
	for j, i := range validIdx {
		for _, a := range deleted[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType = kmsg.ACLResourceType(a.ResourceType)
			m.ResourceName = a.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation = kmsg.ACLOperation(a.Operation)
			m.PermissionType = kmsg.ACLPermissionType(a.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return resp
}
