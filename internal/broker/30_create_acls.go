package broker

// CreateAcls: v1-3 (Kafka 4.x serves 1-3; v0 was removed by KIP-896)
//
// Behaviour:
// * ALTER on the cluster is required (CLUSTER_AUTHORIZATION_FAILED for
//   every creation).
// * Without an ACL authorizer the answer is SECURITY_DISABLED.
// * Each creation is validated as Kafka's AclControlManager does
//   (INVALID_REQUEST with its message): resource type not UNKNOWN or ANY,
//   pattern type LITERAL or PREFIXED, operation not UNKNOWN or ANY,
//   permission ALLOW or DENY, a non-empty resource name, "kafka-cluster"
//   as the only CLUSTER name, a principal of the form Type:Name, and a host
//   that is * or an IP address.
// * The valid ones are persisted together (acls.json, see
//   internal/auth/aclstore.go) before the response; creating an ACL that
//   exists succeeds without a change. A failure to persist is
//   UNKNOWN_SERVER_ERROR for every valid creation and changes nothing.
// * Cluster mode: the ACLs are in etcd (clustershared.go), changed by a
//   compare-and-swap before the response; etcd not answering is
//   REQUEST_TIMED_OUT (retriable) with a message for every valid creation.
// * The next request of every connection is authorized with the new ACLs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(30, 1, 3, handleCreateACLs) }

func handleCreateACLs(b *Broker, r *request, req *kmsg.CreateACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	fail := func(i int, e *kerr.Error, msg string) {
		resp.Results[i].ErrorCode = e.Code
		resp.Results[i].ErrorMessage = &msg
	}
	mgr, gateErr, gateMsg := r.aclManager()
	var valid []auth.ACL
	var validIdx []int
	for i, c := range req.Creations {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		if gateErr != nil {
			fail(i, gateErr, gateMsg)
			continue
		}
		a := auth.ACL{
			ResourceType: auth.ResourceType(c.ResourceType),
			ResourceName: c.ResourceName,
			PatternType:  auth.PatternType(c.ResourcePatternType),
			Principal:    c.Principal,
			Host:         c.Host,
			Operation:    auth.Operation(c.Operation),
			Permission:   auth.Permission(c.PermissionType),
		}
		if err := a.Validate(); err != nil {
			fail(i, kerr.InvalidRequest, err.Error())
			continue
		}
		valid = append(valid, a)
		validIdx = append(validIdx, i)
	}
	if len(valid) > 0 {
		if err := mgr.CreateACLs(valid); err != nil {
			b.logger.Error("creating ACLs failed", "err", err, "client_id", r.clientID)
			for _, i := range validIdx {
				fail(i, storeErrorCode(err), err.Error()) // clustershared.go
			}
		}
	}
	return resp
}
