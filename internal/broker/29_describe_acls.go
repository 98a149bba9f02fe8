package broker

// DescribeAcls: v1-3 (Kafka 4.x serves 1-3; v0 was removed by KIP-896)
//
// Behaviour:
// * DESCRIBE on the cluster is required (CLUSTER_AUTHORIZATION_FAILED).
// * Without an ACL authorizer (authorizer.class.name and super.users
//   unset) the answer is SECURITY_DISABLED, as Kafka's with no authorizer.
// * The filter (resource type, name, pattern type, principal, host,
//   operation, permission) takes ANY for any value and null strings for any
//   name; pattern type MATCH with a name selects every ACL that applies to
//   that resource (the literal name, the literal "*" and prefixes of it).
//   A filter with UNKNOWN elements is INVALID_REQUEST.
// * ACLs are returned grouped by resource pattern, sorted.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(29, 1, 3, handleDescribeACLs) }

func handleDescribeACLs(b *Broker, r *request, req *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	fail := func(e *kerr.Error, msg string) kmsg.Response {
		resp.ErrorCode = e.Code
		resp.ErrorMessage = &msg
		return resp
	}
	mgr, ok := b.cfg.Authorizer.(auth.ACLManager)
	if !ok {
		return fail(kerr.SecurityDisabled, "No Authorizer is configured on the broker")
	}
	if !r.allowed(auth.OpDescribe, auth.Cluster()) {
		return fail(kerr.ClusterAuthorizationFailed, "Cluster authorization failed.")
	}
	f := auth.ACLFilter{
		ResourceType: auth.ResourceType(req.ResourceType),
		ResourceName: req.ResourceName,
		PatternType:  auth.PatternType(req.ResourcePatternType),
		Principal:    req.Principal,
		Host:         req.Host,
		Operation:    auth.Operation(req.Operation),
		Permission:   auth.Permission(req.PermissionType),
	}
	if err := f.Validate(); err != nil {
		return fail(kerr.InvalidRequest, err.Error())
	}
	for _, a := range mgr.DescribeACLs(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.ResourceType) ||
			resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.PatternType) ||
			resp.Resources[n-1].ResourceName != a.ResourceName {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType = kmsg.ACLResourceType(a.ResourceType)
			res.ResourceName = a.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host = a.Principal, a.Host
		e.Operation = kmsg.ACLOperation(a.Operation)
		e.PermissionType = kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp
}
