package broker

// Cluster mode's shared security and quota stores (DESIGN.md, "Cluster
// mode: ACLs, SCRAM users and client quotas"): the ACLs, the SCRAM
// credentials and the client quotas live in one etcd key each
// (internal/cluster shared.go: shared/acls, shared/credentials,
// shared/quotas), holding the bytes the single-node broker writes to
// acls.json, credentials.json and quotas.json; the data directory's files
// are not read.
//
// * At start (openCluster, before any connection is accepted) the three
//   are read from etcd; an unreadable value or etcd not answering stops
//   start-up.
// * A change (CreateAcls, DeleteAcls, AlterUserScramCredentials,
//   AlterClientQuotas) is computed from etcd's copy inside a
//   compare-and-swap on the key's mod revision and applied here only once
//   etcd accepted it. etcd not answering is a retriable error for the
//   request (requestErrorCode: REQUEST_TIMED_OUT with a message), never a
//   success.
// * Every broker watches the keys (clusterNode.run) and applies the
//   changes made at others; of two copies of a store, the one with the
//   higher mod revision wins, so a broker's own change and the watch's
//   echo of it may arrive in either order.
// * Quotas are enforced by each broker on its own traffic, as in Kafka.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
)

// sharedUpdateTimeout bounds one change of a shared store (its reads and
// compare-and-swap attempts; each etcd request is bounded by the cluster
// client's request timeout too).
const sharedUpdateTimeout = 10 * time.Second

// clusterDoc is the envelope.Shared of one shared store: b.cl is set by
// openCluster before any request is served.
type clusterDoc struct {
	b    *Broker
	name string
}

// errClusterNotOpen: a shared store changed before openCluster (nothing
// does: requests are served after it).
var errClusterNotOpen = errors.New("cluster mode: etcd client not open")

// Update implements envelope.Shared.
func (d clusterDoc) Update(next func(cur []byte) ([]byte, error)) (int64, error) {
	n := d.b.cl
	if n == nil {
		return 0, errClusterNotOpen
	}
	ctx, cancel := context.WithTimeout(n.ctx, sharedUpdateTimeout)
	defer cancel()
	_, rev, err := n.client.UpdateShared(ctx, d.name, next)
	return rev, err
}

// sharedACLs is the ACL authorizer cluster mode shares, if configured.
func (b *Broker) sharedACLs() (*auth.ACLAuthorizer, bool) {
	a, ok := b.cfg.Authorizer.(*auth.ACLAuthorizer)
	return a, ok
}

// loadShared points the stores at etcd and loads their current values;
// called by openCluster once b.cl is set.
func (b *Broker) loadShared() error {
	if a, ok := b.sharedACLs(); ok {
		a.SetShared(clusterDoc{b, cluster.SharedACLs})
	}
	ctx, cancel := context.WithTimeout(b.cl.ctx, sharedUpdateTimeout)
	defer cancel()
	for _, name := range []string{cluster.SharedACLs, cluster.SharedCredentials, cluster.SharedQuotas} {
		data, rev, err := b.cl.client.Shared(ctx, name)
		if err != nil {
			return fmt.Errorf("cluster mode: loading the shared %s: %w", name, err)
		}
		if err := b.applyShared(name, data, rev); err != nil {
			return fmt.Errorf("cluster mode: %w (refusing to start: fix or delete the etcd key)", err)
		}
	}
	return nil
}

// applyShared applies a shared store's bytes at rev (the watch's
// callback, and loadShared).
func (b *Broker) applyShared(name string, data []byte, rev int64) error {
	switch name {
	case cluster.SharedACLs:
		if a, ok := b.sharedACLs(); ok {
			return a.ApplyShared(data, rev)
		}
	case cluster.SharedCredentials:
		if err := b.creds.ApplyShared(data, rev); err != nil {
			return err
		}
		b.refreshScramShapes() // unknown users look like these (saslguard.go)
	case cluster.SharedQuotas:
		return b.quotas.Store().ApplyShared(data, rev)
	}
	return nil
}

// watchShared is the shared stores' watch callback: an unreadable value
// is logged and the previous one kept.
func (b *Broker) watchShared(name string, data []byte, rev int64) {
	if err := b.applyShared(name, data, rev); err != nil {
		b.logger.Error("ignoring an unreadable shared store in etcd; keeping the previous one", "store", name, "revision", rev, "err", err)
	}
}

// storeErrorCode is the error code of a failed change of a shared or
// file store: REQUEST_TIMED_OUT (retriable) when etcd did not answer or
// the key was contended (the change may or may not have been applied;
// the watch brings it if it was), UNKNOWN_SERVER_ERROR otherwise.
func storeErrorCode(err error) *kerr.Error {
	if cluster.Retriable(err) {
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}
