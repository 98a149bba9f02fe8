package broker

// AlterUserScramCredentials: v0
//
// Behaviour:
// * ALTER on the cluster is required (CLUSTER_AUTHORIZATION_FAILED for
//   every user otherwise).
// * Upsertions carry what Kafka's AdminClient sends: salt, iterations and
//   the salted password; the broker keeps only the salt, iterations,
//   StoredKey and ServerKey (auth.ScramMechanism.Credential).
// * One result per user, in request order. A user's alterations are
//   applied together or not at all; errors as Kafka's: UNACCEPTABLE_CREDENTIAL
//   (empty name, iterations outside 4096-16384, empty salt or salted
//   password), UNSUPPORTED_SASL_MECHANISM (unknown mechanism),
//   DUPLICATE_RESOURCE (the same user and mechanism twice in a request),
//   RESOURCE_NOT_FOUND (deleting a credential that does not exist,
//   decided by the store on the copy it changes: etcd's in cluster mode).
// * All accepted changes are persisted in one atomic write of
//   <data-dir>/credentials.json before the response; a write failure is
//   UNKNOWN_SERVER_ERROR for each user, with nothing changed.
// * Cluster mode: the credentials are in etcd (clustershared.go), changed
//   by a compare-and-swap before the response; etcd not answering is
//   REQUEST_TIMED_OUT (retriable) for each user.

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(51, 0, 0, handleAlterUserScramCredentials) }

type scramUserResult struct {
	err     *kerr.Error
	msg     string
	changes []meta.CredentialChange
}

func handleAlterUserScramCredentials(b *Broker, r *request, req *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	users := map[string]*scramUserResult{}
	pairs := map[[2]string]int{}
	get := func(name string) *scramUserResult {
		u, ok := users[name]
		if !ok {
			u = &scramUserResult{}
			users[name] = u
			order = append(order, name)
		}
		return u
	}
	fail := func(u *scramUserResult, err *kerr.Error, msg string) {
		if u.err == nil {
			u.err, u.msg = err, msg
		}
	}
	check := func(name string, code int8) (*scramUserResult, auth.ScramMechanism, bool) {
		u := get(name)
		m, ok := auth.ScramMechanismByCode(code)
		pairs[[2]string{name, strconv.Itoa(int(code))}]++
		switch {
		case name == "":
			fail(u, kerr.UnacceptableCredential, "Username must not be empty")
		case !ok:
			fail(u, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case pairs[[2]string{name, strconv.Itoa(int(code))}] > 1:
			fail(u, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
		return u, m, u.err == nil
	}
	for _, d := range req.Deletions {
		u, m, ok := check(d.Name, d.Mechanism)
		if ok {
			// Whether it exists is decided by the store, on the copy it
			// changes (etcd's in cluster mode): AlterGroups below.
			u.changes = append(u.changes, meta.CredentialChange{User: d.Name, Mechanism: m.Name, Delete: true})
		}
	}
	for _, up := range req.Upsertions {
		u, m, ok := check(up.Name, up.Mechanism)
		if !ok {
			continue
		}
		switch {
		case up.Iterations < auth.ScramMinIterations:
			fail(u, kerr.UnacceptableCredential, "Too few iterations")
		case up.Iterations > auth.ScramMaxIterations:
			fail(u, kerr.UnacceptableCredential, "Too many iterations")
		case len(up.Salt) == 0:
			fail(u, kerr.UnacceptableCredential, "Salt must not be empty")
		case len(up.SaltedPassword) == 0:
			fail(u, kerr.UnacceptableCredential, "Salted password must not be empty")
		default:
			cr := m.Credential(up.Salt, up.SaltedPassword, up.Iterations)
			u.changes = append(u.changes, meta.CredentialChange{User: up.Name, Mechanism: m.Name,
				Cred: meta.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}})
		}
	}
	authorized := r.allowed(auth.OpAlter, auth.Cluster())
	var groups [][]meta.CredentialChange
	var grouped []*scramUserResult
	if authorized {
		for _, name := range order {
			if u := users[name]; u.err == nil && len(u.changes) > 0 {
				groups = append(groups, u.changes)
				grouped = append(grouped, u)
			}
		}
	}
	var writeErr error
	if len(groups) > 0 {
		var errs []error
		errs, writeErr = b.creds.AlterGroups(groups) // a user's changes go together
		if writeErr != nil {
			b.logger.Error("storing SCRAM credentials failed", "err", writeErr)
		}
		for i, err := range errs {
			if errors.Is(err, meta.ErrNoCredential) {
				fail(grouped[i], kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			}
		}
		b.refreshScramShapes() // unknown users look like these (saslguard.go)
	}
	for _, name := range order {
		u := users[name]
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = name
		switch {
		case !authorized:
			res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		case u.err != nil:
			res.ErrorCode = u.err.Code
			res.ErrorMessage = errMessage(errors.New(u.msg))
		case writeErr != nil:
			res.ErrorCode = storeErrorCode(writeErr).Code // clustershared.go
			res.ErrorMessage = errMessage(fmt.Errorf("storing the credentials failed: %w", writeErr))
		default:
			for _, ch := range u.changes {
				op := "set"
				if ch.Delete {
					op = "deleted"
				}
				b.logger.Info("SCRAM credential "+op, "user", name, "mechanism", ch.Mechanism, "by", r.c.subj.Principal.String())
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
