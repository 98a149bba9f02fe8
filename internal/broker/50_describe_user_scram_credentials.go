package broker

// DescribeUserScramCredentials: v0
//
// Behaviour:
// * DESCRIBE on the cluster is required (CLUSTER_AUTHORIZATION_FAILED).
// * Null or empty users: every user with a credential, sorted by name.
// * Per user: its mechanisms and iteration counts (never salts or keys);
//   RESOURCE_NOT_FOUND for a user without credentials; DUPLICATE_RESOURCE
//   when a user is asked for twice.

import (
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(50, 0, 0, handleDescribeUserScramCredentials) }

func handleDescribeUserScramCredentials(b *Broker, r *request, req *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !r.allowed(auth.OpDescribe, auth.Cluster()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	all := b.creds.Users()
	var names []string
	if len(req.Users) == 0 {
		for u := range all {
			names = append(names, u)
		}
		slices.Sort(names)
	} else {
		for _, u := range req.Users {
			names = append(names, u.Name)
		}
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for _, n := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = n
		mechs, ok := all[n]
		switch {
		case count[n] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = errMessage(errors.New("Cannot describe SCRAM credentials for the same user twice in a single request: " + n))
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = errMessage(errors.New("Attempt to describe nonexistent SCRAM credential for user " + n))
		default:
			for _, mn := range slices.Sorted(maps.Keys(mechs)) {
				m, _ := auth.ScramMechanismByName(mn)
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = m.Code, mechs[mn]
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
