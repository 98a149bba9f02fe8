package cli

// sluice user set --etcd: the first user of a cluster-mode cluster whose
// listeners all need SASL, written into the cluster's etcd
// (shared/credentials, internal/cluster shared.go) by the same
// compare-and-swap the brokers use; running brokers pick it up through
// their watch, so none has to stop.

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice-io/sluice/internal/broker"
	etcdcluster "github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/meta"
)

// etcdDoc is the envelope.Shared of one shared document of a cluster.
type etcdDoc struct {
	ctx  context.Context
	cl   *etcdcluster.Client
	name string
}

func (d etcdDoc) Update(next func(cur []byte) ([]byte, error)) (int64, error) {
	_, rev, err := d.cl.UpdateShared(d.ctx, d.name, next)
	return rev, err
}

// setUserEtcd stores user's credentials in the etcd of cluster clusterID
// (default: the only cluster in it, or broker.DefaultClusterID when there
// is none yet).
func setUserEtcd(ctx context.Context, c *command, endpoints, clusterID, user, password string, iters int32, mechs []kadm.ScramMechanism) error {
	var eps []string
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return usagef("--etcd %q: no endpoints", endpoints)
	}
	changes, err := credentialChanges(user, password, iters, mechs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cf.timeout)
	defer cancel()
	cfg := etcdcluster.Config{Endpoints: eps, ClusterID: clusterID, DialTimeout: c.cf.timeout, RequestTimeout: c.cf.timeout}
	if cfg.ClusterID == "" {
		ids, err := etcdcluster.ListClusterIDs(ctx, cfg)
		if err != nil {
			return err
		}
		switch len(ids) {
		case 0:
			cfg.ClusterID = broker.DefaultClusterID
		case 1:
			cfg.ClusterID = ids[0]
		default:
			return usagef("etcd %s holds clusters %s: pick one with --cluster-id", endpoints, strings.Join(ids, ", "))
		}
	}
	cl, err := etcdcluster.Open(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	creds := meta.NewSharedCredentials(etcdDoc{ctx, cl, etcdcluster.SharedCredentials}, nil)
	if _, err := creds.Alter(changes); err != nil {
		return err
	}
	fmt.Fprintf(c.io.stdout, "set user %s in cluster %s\n", user, cfg.ClusterID)
	return nil
}
