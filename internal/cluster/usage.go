package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rootPrefix is the prefix every cluster's keys live under
// (/sluice/<cluster-id>/).
const rootPrefix = "/sluice/"

// Usage is an operator's summary of one cluster as etcd holds it (what
// `sluice cluster info --etcd` prints). Everything but the lease TTLs is
// read at one etcd revision.
type Usage struct {
	// ClusterID is the cluster summarized (the Client's).
	ClusterID string
	// Revision is the etcd revision the keys were read at.
	Revision int64
	// ClusterIDs are all the cluster ids with keys under /sluice/ in this
	// etcd, sorted (ClusterID among them once it has any key).
	ClusterIDs []string
	// Brokers are the live brokers (brokers/), by node id.
	Brokers []BrokerUsage
	// Partitions are the partitions that ever had a leader (epochs/), by
	// topic id and partition.
	Partitions []PartitionUsage
	// Objects and ObjectBytes count the object records (objects/) and add
	// up their sizes: what the commits wrote and the garbage collector
	// has not deleted.
	Objects     int64
	ObjectBytes int64
	// IndexEntries counts the index entries (index/) of all partitions.
	IndexEntries int64
}

// BrokerUsage is a live broker, its lease as etcd counts it, and how many
// partitions it leads.
type BrokerUsage struct {
	BrokerInfo
	// LeaseTTL is the time left on the broker's lease when it was asked
	// (etcd's LeaseTimeToLive, whole seconds); -1 s if etcd no longer
	// knows the lease (it ended after the keys were read).
	LeaseTTL time.Duration
	// LeaseGrantedTTL is the lease's TTL as granted.
	LeaseGrantedTTL time.Duration
	// Leading counts the partitions whose leaders/ key names this broker.
	Leading int
}

// PartitionUsage is one partition's leadership and offsets.
type PartitionUsage struct {
	Partition TopicPartition
	// Leader is the leader's node id, -1 with no leader now (Kafka's
	// "none"): resigned, or its lease ended.
	Leader int32
	// LeaderEpoch is the last leader epoch (epochs/): the current
	// leader's, or the last one's.
	LeaderEpoch int32
	// HW is the high watermark (next offset), LogStart the log start
	// offset.
	HW       int64
	LogStart int64
}

// Usage reads the summary of this client's cluster: the live brokers with
// their leases' remaining TTL, the partitions with leaders, epochs and
// offsets, the object records' count and bytes, the index entries' count
// and the cluster ids present in this etcd. It reads every object record
// (paged), so it costs one etcd read per 1,000 objects.
func (c *Client) Usage(ctx context.Context) (Usage, error) {
	u := Usage{ClusterID: c.cfg.ClusterID}
	rev, err := c.scan(ctx, c.k.brokers(), 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			b, err := decodeBroker(kv)
			if err != nil {
				return err
			}
			u.Brokers = append(u.Brokers, BrokerUsage{BrokerInfo: b})
		}
		return nil
	})
	if err != nil {
		return Usage{}, err
	}
	u.Revision = rev
	slices.SortFunc(u.Brokers, func(a, b BrokerUsage) int { return int(a.NodeID) - int(b.NodeID) })

	parts := map[TopicPartition]*PartitionUsage{}
	part := func(tp TopicPartition) *PartitionUsage {
		p, ok := parts[tp]
		if !ok {
			p = &PartitionUsage{Partition: tp, Leader: -1, LeaderEpoch: -1}
			parts[tp] = p
		}
		return p
	}
	// readTP decodes every key of a per-partition prefix into v and hands
	// it to set.
	readTP := func(prefix string, v any, set func(*PartitionUsage)) error {
		_, err := c.scan(ctx, prefix, rev, func(kvs []*mvccpb.KeyValue) error {
			for _, kv := range kvs {
				key := string(kv.Key)
				tp, err := parseTP(strings.TrimPrefix(key, prefix))
				if err != nil {
					return err
				}
				if err := decode(key, kv.Value, v); err != nil {
					return err
				}
				set(part(tp))
			}
			return nil
		})
		return err
	}
	var ev epochValue
	if err := readTP(c.k.root+"epochs/", &ev, func(p *PartitionUsage) { p.LeaderEpoch = ev.Epoch }); err != nil {
		return Usage{}, err
	}
	var lv leaderValue
	leading := map[int32]int{}
	if err := readTP(c.k.leaders(), &lv, func(p *PartitionUsage) {
		p.Leader = lv.Node
		leading[lv.Node]++
	}); err != nil {
		return Usage{}, err
	}
	var hv, sv offsetValue
	if err := readTP(c.k.root+"hw/", &hv, func(p *PartitionUsage) { p.HW = hv.Offset }); err != nil {
		return Usage{}, err
	}
	if err := readTP(c.k.root+"logstart/", &sv, func(p *PartitionUsage) { p.LogStart = sv.Offset }); err != nil {
		return Usage{}, err
	}
	for _, p := range parts {
		u.Partitions = append(u.Partitions, *p)
	}
	slices.SortFunc(u.Partitions, func(a, b PartitionUsage) int {
		if c := strings.Compare(encodeTopicID(a.Partition.TopicID), encodeTopicID(b.Partition.TopicID)); c != 0 {
			return c
		}
		return int(a.Partition.Partition - b.Partition.Partition)
	})

	if _, err := c.scan(ctx, c.k.objects(), rev, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			var v objectValue
			if err := decode(string(kv.Key), kv.Value, &v); err != nil {
				return err
			}
			u.Objects++
			u.ObjectBytes += v.Size
		}
		return nil
	}); err != nil {
		return Usage{}, err
	}
	rctx, cancel := c.reqCtx(ctx)
	resp, err := c.etcd.Get(rctx, c.k.indexAll(), clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev))
	cancel()
	if err != nil {
		return Usage{}, fmt.Errorf("cluster: counting the index entries: %w", classify(err))
	}
	u.IndexEntries = resp.Count

	if u.ClusterIDs, err = clusterIDs(ctx, c.etcd, c.cfg.RequestTimeout, rev); err != nil {
		return Usage{}, err
	}

	// The leases are live state, asked after the reads: a lease that ended
	// meanwhile shows -1 s.
	for i := range u.Brokers {
		b := &u.Brokers[i]
		b.Leading = leading[b.NodeID]
		rctx, cancel := c.reqCtx(ctx)
		l, err := c.etcd.TimeToLive(rctx, clientv3.LeaseID(b.Lease))
		cancel()
		if err != nil {
			return Usage{}, fmt.Errorf("cluster: reading the lease of node %d: %w", b.NodeID, classify(err))
		}
		b.LeaseTTL = time.Duration(l.TTL) * time.Second
		b.LeaseGrantedTTL = time.Duration(l.GrantedTTL) * time.Second
	}
	return u, nil
}

// ClusterIDs lists the cluster ids that have keys under /sluice/ in this
// client's etcd, sorted.
func (c *Client) ClusterIDs(ctx context.Context) ([]string, error) {
	return clusterIDs(ctx, c.etcd, c.cfg.RequestTimeout, 0)
}

// ListClusterIDs connects to the etcd of cfg (its ClusterID is not
// needed), lists the cluster ids that have keys under /sluice/, sorted,
// and disconnects: how a tool finds the cluster to look at.
func ListClusterIDs(ctx context.Context, cfg Config) ([]string, error) {
	cfg, cl, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return clusterIDs(ctx, cl, cfg.RequestTimeout, 0)
}

// clusterIDs skips from cluster to cluster: one read of one key per
// cluster id, whatever the number of keys under each (at revision rev, or
// the first read's if 0).
func clusterIDs(ctx context.Context, cl *clientv3.Client, timeout time.Duration, rev int64) ([]string, error) {
	ids := []string{}
	start, end := rootPrefix, clientv3.GetPrefixRangeEnd(rootPrefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1), clientv3.WithKeysOnly()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := cl.Get(rctx, start, opts...)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cluster: listing cluster ids: %w", classify(err))
		}
		if len(resp.Kvs) == 0 {
			// Key order puts "a.b/" before "a/": sort by id.
			slices.Sort(ids)
			return ids, nil
		}
		rev = resp.Header.Revision
		key := string(resp.Kvs[0].Key)
		id, _, ok := strings.Cut(strings.TrimPrefix(key, rootPrefix), "/")
		if !ok || id == "" {
			// Not a key of this layout: step over it.
			start = key + "\x00"
			continue
		}
		ids = append(ids, id)
		// Past every key of /sluice/<id>/.
		start = clientv3.GetPrefixRangeEnd(rootPrefix + id + "/")
	}
}
