package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	etcdcluster "github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/meta"
)

// user set --etcd writes the credential where cluster mode's brokers read
// their users (shared/credentials), next to the users already there.
func TestUserSetEtcd(t *testing.T) {
	e := etcdtest.Start(t, 128)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	checkFailure(t, runCLI(t, "", "user", "set", "x", "--password", "p", "--cluster-id", "prod"), 2, "--cluster-id needs --etcd")
	checkFailure(t, runCLI(t, "", "user", "set", "x", "--password", "p", "--etcd", e.Endpoint, "--data-dir", t.TempDir()), 2, "exclude each other")

	for _, u := range []string{"admin", "bob"} {
		r := runCLI(t, "", "user", "set", u, "--password", u+"-pw", "--mechanism", "SCRAM-SHA-512", "--etcd", e.Endpoint, "--cluster-id", "prod")
		if r.code != 0 || !strings.Contains(r.stdout, "set user "+u+" in cluster prod") {
			t.Fatalf("user set %s: %+v", u, r)
		}
	}
	cl, err := etcdcluster.Open(etcdcluster.Config{Endpoints: []string{e.Endpoint}, ClusterID: "prod", RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	data, rev, err := cl.Shared(ctx, etcdcluster.SharedCredentials)
	if err != nil {
		t.Fatal(err)
	}
	creds := meta.NewSharedCredentials(nil, nil)
	if err := creds.ApplyShared(data, rev); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"admin", "bob"} {
		cr, ok := creds.Get(u, "SCRAM-SHA-512")
		if !ok || !auth.ScramSHA512.VerifyPassword(auth.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}, u+"-pw") {
			t.Fatalf("%s's credential in etcd: %v %+v", u, ok, cr)
		}
	}
	// With one cluster in the etcd, --cluster-id may be left out.
	if r := runCLI(t, "", "user", "set", "carol", "--password", "c", "--etcd", e.Endpoint); r.code != 0 || !strings.Contains(r.stdout, "in cluster prod") {
		t.Fatalf("user set without --cluster-id: %+v", r)
	}
}
