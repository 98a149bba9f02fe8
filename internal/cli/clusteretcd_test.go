package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	etcdcluster "github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// cluster info --etcd against a real etcd: two brokers, a partition led by
// each, one without a leader, two objects; then a second cluster id makes
// --cluster-id necessary.
func TestClusterInfoEtcd(t *testing.T) {
	e := etcdtest.Start(t, 128)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(id string) *etcdcluster.Client {
		c, err := etcdcluster.Open(etcdcluster.Config{Endpoints: []string{e.Endpoint}, ClusterID: id, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	register := func(c *etcdcluster.Client, n int32, rack string) *etcdcluster.Member {
		m, err := c.Register(ctx, etcdcluster.BrokerInfo{NodeID: n, Host: "127.0.0.1", Port: 9090 + n, Rack: rack})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	checkFailure(t, runCLI(t, "", "cluster", "info", "--etcd", e.Endpoint), 1, "no cluster in etcd")
	checkFailure(t, runCLI(t, "", "cluster", "info", "--cluster-id", "x"), 2, "--cluster-id needs --etcd")

	c := open("prod")
	m1, m2 := register(c, 1, "az-a"), register(c, 2, "")
	tp := func(p int32) etcdcluster.TopicPartition {
		return etcdcluster.TopicPartition{TopicID: [16]byte{0: 1}, Partition: p}
	}
	l0, err := m1.Acquire(ctx, tp(0))
	if err != nil {
		t.Fatal(err)
	}
	l1, err := m2.Acquire(ctx, tp(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Acquire(ctx, tp(2)); err != nil {
		t.Fatal(err)
	}
	if err := m2.Resign(ctx, tp(2)); err != nil {
		t.Fatal(err)
	}
	commit := func(m *etcdcluster.Member, p int32, epoch int32, base, n int64, obj string, size int64) {
		t.Helper()
		a := etcdcluster.PartitionAppend{Partition: tp(p), LeaderEpoch: epoch, HW: base + n, Entries: []etcdcluster.IndexEntry{{
			BaseOffset: base, LastOffset: base + n - 1, Object: obj, Length: size, LeaderEpoch: epoch, RecordCount: n}}}
		if err := m.Commit(ctx, []etcdcluster.PartitionAppend{a}, etcdcluster.ObjectMeta{Name: obj, Size: size, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	commit(m1, 0, l0.Epoch, 0, 10, "obj-1", 2048)
	commit(m2, 1, l1.Epoch, 0, 4, "obj-2", 1024)

	r := runCLI(t, "", "cluster", "info", "--etcd", e.Endpoint)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p0, p1, p2 := tp(0).String(), tp(1).String(), tp(2).String()
	for _, s := range []string{
		"Cluster ID:     prod (etcd revision ",
		"Brokers:        2\n",
		"Partitions:     3 (1 without a leader)\n",
		"Objects:        2 (3072 bytes, 3.0 KiB)\n",
		"Index entries:  2\n",
		"ID  HOST       PORT  RACK  LEASE",
		fmt.Sprintf("1   127.0.0.1  9091  az-a  %x", m1.Info().Lease),
		fmt.Sprintf("2   127.0.0.1  9092  -     %x", m2.Info().Lease),
		"PARTITION                 LEADER  EPOCH  LOG-START  HW\n",
		p0 + "  1       0      0          10\n",
		p1 + "  2       0      0          4\n",
		p2 + "  none    0      0          0\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("cluster info --etcd lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Other clusters") {
		t.Errorf("one cluster, yet:\n%s", r.stdout)
	}

	var info etcdClusterInfo
	r = runCLI(t, "", "cluster", "info", "--etcd", e.Endpoint, "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("%v: %s %s", err, r.stdout, r.stderr)
	}
	if info.ClusterID != "prod" || info.Objects != 2 || info.ObjectBytes != 3072 || info.IndexEntries != 2 ||
		len(info.Brokers) != 2 || len(info.Partitions) != 3 || info.Leaderless != 1 {
		t.Fatalf("json: %+v", info)
	}
	for i, b := range info.Brokers {
		if b.ID != int32(i+1) || b.PartitionsLed != 1 || b.LeaseGrantedTTL != 10 || b.LeaseTTLSeconds <= 0 || b.LeaseTTLSeconds > 10 {
			t.Errorf("broker %d: %+v", i+1, b)
		}
	}
	if b := info.Brokers[0]; b.Rack == nil || *b.Rack != "az-a" || b.Lease != fmt.Sprintf("%x", m1.Info().Lease) {
		t.Errorf("broker 1: %+v", b)
	}
	if p := info.Partitions[0]; p != (etcdPartitionInfo{Partition: p0, Leader: 1, HW: 10}) {
		t.Errorf("partition 0: %+v", p)
	}
	if p := info.Partitions[2]; p != (etcdPartitionInfo{Partition: p2, Leader: -1, HW: 0}) {
		t.Errorf("partition 2: %+v", p)
	}

	// A second cluster in the same etcd: --cluster-id picks one.
	register(open("staging"), 5, "")
	checkFailure(t, runCLI(t, "", "cluster", "info", "--etcd", e.Endpoint), 2, "holds clusters prod, staging", "--cluster-id")
	r = runCLI(t, "", "cluster", "info", "--etcd", e.Endpoint, "--cluster-id", "staging")
	if r.code != 0 || !strings.Contains(r.stdout, "Cluster ID:     staging") || !strings.Contains(r.stdout, "Other clusters: prod\n") ||
		!strings.Contains(r.stdout, "Objects:        0 (0 bytes, 0 B)") || strings.Contains(r.stdout, "LEADER  EPOCH") {
		t.Errorf("staging: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
