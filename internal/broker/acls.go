package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/auth"
)

// configuredAuthorizer is the authorizer the broker configs ask for: the
// ACL authorizer (ACLs in <data dir>/acls.json, see internal/auth; in
// cluster mode in etcd, clustershared.go) when
// authorizer.class.name names it or super.users is set, else cfg's
// default (allow-all). A corrupt ACL file stops start-up.
func configuredAuthorizer(cfg Config) (auth.Authorizer, error) {
	dir := cfg.DataDir
	if cfg.Cluster.Enabled() {
		dir = "" // the ACLs are in etcd, loaded by openCluster (clustershared.go)
	}
	a, err := auth.FromBrokerConfig(cfg.Kafka, cfg.FS, dir, cfg.Logger)
	switch {
	case errors.Is(err, auth.ErrCorruptACLs):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	case a == nil:
		return cfg.Authorizer, nil
	}
	return a, nil
}

// allowedOnAny asks whether this connection may do op on some resource of
// type rt (Kafka's authorizeByResourceType); an authorizer that cannot
// answer is asked about the wildcard name.
func (r *request) allowedOnAny(op auth.Operation, rt auth.ResourceType) bool {
	if ta, ok := r.c.b.cfg.Authorizer.(auth.TypeAuthorizer); ok {
		return ta.AuthorizeAny(r.c.subj, op, rt)
	}
	return r.allowed(op, auth.Resource{Type: rt, Name: auth.WildcardResource})
}

// topicName is t's name, or the name the request gave when t is unknown.
func topicName(t *topic, requested string) string {
	if t != nil {
		return t.meta.Name
	}
	return requested
}

// aclManager is the check both ACL-changing APIs make first: an ACL
// authorizer must be configured (else SECURITY_DISABLED) and the principal
// may ALTER the cluster (else CLUSTER_AUTHORIZATION_FAILED); the messages
// are Kafka's.
func (r *request) aclManager() (auth.ACLManager, *kerr.Error, string) {
	mgr, ok := r.c.b.cfg.Authorizer.(auth.ACLManager)
	switch {
	case !ok:
		return nil, kerr.SecurityDisabled, "No Authorizer is configured on the broker"
	case !r.allowed(auth.OpAlter, auth.Cluster()):
		return nil, kerr.ClusterAuthorizationFailed, "Cluster authorization failed."
	}
	return mgr, nil, ""
}
