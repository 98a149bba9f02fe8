package cli

// sluice cluster info --etcd: a cluster-mode cluster's state read from
// its etcd (internal/cluster's Usage) rather than from a broker.

import (
	"context"
	"fmt"
	"strings"

	etcdcluster "github.com/sluice-io/sluice/internal/cluster"
)

// etcdFlags are cluster info's flags for reading etcd.
type etcdFlags struct {
	endpoints string
	clusterID string
}

func addEtcdFlags(c *command) *etcdFlags {
	f := &etcdFlags{}
	c.own.StringVar(&f.endpoints, "etcd", "", "read cluster mode's metadata from etcd `ENDPOINTS` (http://HOST:PORT,...) instead of asking a broker")
	c.own.StringVar(&f.clusterID, "cluster-id", "", "with --etcd: the cluster `ID` to show (default: the only cluster in the etcd)")
	return f
}

type etcdBrokerInfo struct {
	ID              int32   `json:"id"`
	Host            string  `json:"host"`
	Port            int32   `json:"port"`
	Rack            *string `json:"rack"`
	Started         int64   `json:"started_ms"`
	Lease           string  `json:"lease"` // hex, as etcdctl prints lease ids
	LeaseTTLSeconds int64   `json:"lease_ttl_s"`
	LeaseGrantedTTL int64   `json:"lease_granted_ttl_s"`
	PartitionsLed   int     `json:"partitions_led"`
}

type etcdPartitionInfo struct {
	Partition   string `json:"partition"` // topic id / partition, as the etcd keys
	Leader      int32  `json:"leader"`
	LeaderEpoch int32  `json:"leader_epoch"`
	LogStart    int64  `json:"log_start_offset"`
	HW          int64  `json:"high_watermark"`
}

type etcdClusterInfo struct {
	ClusterID    string              `json:"cluster_id"`
	ClusterIDs   []string            `json:"cluster_ids"`
	EtcdRevision int64               `json:"etcd_revision"`
	Brokers      []etcdBrokerInfo    `json:"brokers"`
	Partitions   []etcdPartitionInfo `json:"partitions"`
	Objects      int64               `json:"objects"`
	ObjectBytes  int64               `json:"object_bytes"`
	IndexEntries int64               `json:"index_entries"`
	Leaderless   int                 `json:"partitions_without_leader"`
}

func runClusterInfoEtcd(ctx context.Context, c *command, ef *etcdFlags, asJSON bool) error {
	var eps []string
	for _, e := range strings.Split(ef.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return usagef("--etcd %q: no endpoints", ef.endpoints)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cf.timeout)
	defer cancel()
	cfg := etcdcluster.Config{Endpoints: eps, ClusterID: ef.clusterID, DialTimeout: c.cf.timeout, RequestTimeout: c.cf.timeout}
	if cfg.ClusterID == "" {
		ids, err := etcdcluster.ListClusterIDs(ctx, cfg)
		if err != nil {
			return err
		}
		switch len(ids) {
		case 0:
			return fmt.Errorf("no cluster in etcd %s (no keys under /sluice/)", ef.endpoints)
		case 1:
			cfg.ClusterID = ids[0]
		default:
			return usagef("etcd %s holds clusters %s: pick one with --cluster-id", ef.endpoints, strings.Join(ids, ", "))
		}
	}
	cl, err := etcdcluster.Open(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	u, err := cl.Usage(ctx)
	if err != nil {
		return err
	}
	info := etcdClusterInfo{ClusterID: u.ClusterID, ClusterIDs: u.ClusterIDs, EtcdRevision: u.Revision,
		Brokers: []etcdBrokerInfo{}, Partitions: []etcdPartitionInfo{},
		Objects: u.Objects, ObjectBytes: u.ObjectBytes, IndexEntries: u.IndexEntries}
	for _, b := range u.Brokers {
		bi := etcdBrokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Started: b.Started.UnixMilli(),
			Lease: fmt.Sprintf("%x", b.Lease), LeaseTTLSeconds: int64(b.LeaseTTL.Seconds()),
			LeaseGrantedTTL: int64(b.LeaseGrantedTTL.Seconds()), PartitionsLed: b.Leading}
		if b.Rack != "" {
			bi.Rack = &b.Rack
		}
		info.Brokers = append(info.Brokers, bi)
	}
	for _, p := range u.Partitions {
		info.Partitions = append(info.Partitions, etcdPartitionInfo{Partition: p.Partition.String(), Leader: p.Leader,
			LeaderEpoch: p.LeaderEpoch, LogStart: p.LogStart, HW: p.HW})
		if p.Leader < 0 {
			info.Leaderless++
		}
	}
	if asJSON {
		return writeJSON(c.io.stdout, info)
	}
	w := c.io.stdout
	fmt.Fprintf(w, "Cluster ID:     %s (etcd revision %d)\n", info.ClusterID, info.EtcdRevision)
	if others := otherIDs(info.ClusterIDs, info.ClusterID); len(others) > 0 {
		fmt.Fprintf(w, "Other clusters: %s\n", strings.Join(others, ", "))
	}
	fmt.Fprintf(w, "Brokers:        %d\n", len(info.Brokers))
	fmt.Fprintf(w, "Partitions:     %d (%d without a leader)\n", len(info.Partitions), info.Leaderless)
	fmt.Fprintf(w, "Objects:        %d (%d bytes, %s)\n", info.Objects, info.ObjectBytes, humanBytes(float64(info.ObjectBytes)))
	fmt.Fprintf(w, "Index entries:  %d\n\n", info.IndexEntries)
	t := newTable(w, "ID", "HOST", "PORT", "RACK", "LEASE", "TTL-LEFT", "PARTITIONS-LED")
	for _, b := range info.Brokers {
		rack := ""
		if b.Rack != nil {
			rack = *b.Rack
		}
		t.row(b.ID, b.Host, b.Port, rack, b.Lease, fmt.Sprintf("%ds/%ds", b.LeaseTTLSeconds, b.LeaseGrantedTTL), b.PartitionsLed)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(info.Partitions) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t = newTable(w, "PARTITION", "LEADER", "EPOCH", "LOG-START", "HW")
	for _, p := range info.Partitions {
		leader := "none"
		if p.Leader >= 0 {
			leader = fmt.Sprint(p.Leader)
		}
		t.row(p.Partition, leader, p.LeaderEpoch, p.LogStart, p.HW)
	}
	return t.flush()
}

func otherIDs(ids []string, id string) []string {
	var out []string
	for _, s := range ids {
		if s != id {
			out = append(out, s)
		}
	}
	return out
}
