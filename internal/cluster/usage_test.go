package cluster

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// Usage of a cluster with two brokers, three partitions (one led by each
// broker, one whose leader resigned), two commits and a second cluster id
// in the same etcd: every count, lease, leader, epoch and offset as
// written.
func TestUsage(t *testing.T) {
	e := startEtcd(t, 128)
	ctx := ctxT(t)
	c := e.open(t, nil)
	empty, err := c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if empty.ClusterID != "test" || len(empty.Brokers) != 0 || len(empty.Partitions) != 0 || empty.Objects != 0 ||
		empty.ObjectBytes != 0 || empty.IndexEntries != 0 || len(empty.ClusterIDs) != 0 {
		t.Fatalf("usage of an empty etcd: %+v", empty)
	}

	m1, m2 := register(t, c, 1), register(t, c, 2)
	a, b, gone := tpN(1, 0), tpN(1, 1), tpN(2, 0)
	la, err := m1.Acquire(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := m2.Acquire(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	// gone: led by 2 at epoch 0, resigned, led by 1 at epoch 1, resigned.
	for _, m := range []*Member{m2, m1} {
		if _, err := m.Acquire(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if err := m.Resign(ctx, gone); err != nil {
			t.Fatal(err)
		}
	}
	if err := m1.Commit(ctx, []PartitionAppend{appendOf(a, la.Epoch, 0, 5, "o1")}, ObjectMeta{Name: "o1", Size: 1000, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := m1.Commit(ctx, []PartitionAppend{appendOf(a, la.Epoch, 5, 3, "o2")}, ObjectMeta{Name: "o2", Size: 234, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := m2.Commit(ctx, []PartitionAppend{appendOf(b, lb.Epoch, 0, 7, "o3")}, ObjectMeta{Name: "o3", Size: 4096, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.DeleteIndexBelow(ctx, a, la.Epoch, 5); err != nil {
		t.Fatal(err)
	}
	other := e.open(t, func(cfg *Config) { cfg.ClusterID = "other" })
	register(t, other, 7)

	u, err := c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"other", "test"}; !slices.Equal(u.ClusterIDs, want) {
		t.Errorf("cluster ids %q, want %q", u.ClusterIDs, want)
	}
	if u.Revision <= 0 {
		t.Errorf("revision %d", u.Revision)
	}
	// o1, o2, o3: 1000+234+4096 bytes; the index entry of o1 was deleted
	// (log start 5), its object record stays for the garbage collector.
	if u.Objects != 3 || u.ObjectBytes != 5330 || u.IndexEntries != 2 {
		t.Errorf("objects %d, bytes %d, index entries %d; want 3, 5330, 2", u.Objects, u.ObjectBytes, u.IndexEntries)
	}
	if len(u.Brokers) != 2 {
		t.Fatalf("brokers %+v", u.Brokers)
	}
	for i, m := range []*Member{m1, m2} {
		bu := u.Brokers[i]
		wi := m.Info()
		wi.Started = time.UnixMilli(wi.Started.UnixMilli()) // stored in ms
		if !reflect.DeepEqual(bu.BrokerInfo, wi) || bu.Leading != 1 {
			t.Errorf("broker %d: %+v, want %+v leading 1", i+1, bu, m.Info())
		}
		// Granted 10 s; the renewals every 3 s keep at least a few left
		// even on a loaded machine.
		if bu.LeaseGrantedTTL != 10*time.Second || bu.LeaseTTL <= 0 || bu.LeaseTTL > 10*time.Second {
			t.Errorf("broker %d lease: ttl %v of %v", i+1, bu.LeaseTTL, bu.LeaseGrantedTTL)
		}
	}
	want := []PartitionUsage{
		{Partition: a, Leader: 1, LeaderEpoch: 0, HW: 8, LogStart: 5},
		{Partition: b, Leader: 2, LeaderEpoch: 0, HW: 7},
		{Partition: gone, Leader: -1, LeaderEpoch: 1, HW: 0},
	}
	if !slices.Equal(u.Partitions, want) {
		t.Errorf("partitions\n got %+v\nwant %+v", u.Partitions, want)
	}

	// Another cluster's view, and the listing without a cluster id.
	uo, err := other.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(uo.Brokers) != 1 || uo.Brokers[0].NodeID != 7 || uo.Brokers[0].Leading != 0 || len(uo.Partitions) != 0 || uo.Objects != 0 {
		t.Errorf("usage of cluster other: %+v", uo)
	}
	ids, err := ListClusterIDs(ctx, Config{Endpoints: []string{e.client}})
	if err != nil || !slices.Equal(ids, []string{"other", "test"}) {
		t.Errorf("ListClusterIDs: %q, %v", ids, err)
	}

	// A closed broker's lease is gone with its keys.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	u, err = c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Brokers) != 1 || u.Brokers[0].NodeID != 1 || u.Partitions[1].Leader != -1 || u.Partitions[1].LeaderEpoch != 0 {
		t.Errorf("after node 2 closed: brokers %+v, partitions %+v", u.Brokers, u.Partitions)
	}
}

// The skip-scan over cluster ids steps over keys that are not of the
// layout and ids that are prefixes of others.
func TestClusterIDsLayout(t *testing.T) {
	e := startEtcd(t, 128)
	ctx := ctxT(t)
	raw := e.raw(t)
	for _, k := range []string{"/sluice/stray", "/sluice/a/x", "/sluice/a/y", "/sluice/a.b/x", "/sluice/ab/x", "/sluicex/z/x", "/other/q/x"} {
		if _, err := raw.Put(ctx, k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	c := e.open(t, nil)
	ids, err := c.ClusterIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "a.b", "ab"}; !slices.Equal(ids, want) {
		t.Errorf("cluster ids %q, want %q", ids, want)
	}
}

// A broker's address on a listener: the registered endpoint of that name,
// the first listener's address for a registration without endpoints, and
// none for a listener the broker does not have.
func TestBrokerInfoEndpoint(t *testing.T) {
	b := BrokerInfo{Host: "a", Port: 1, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "a", Port: 1}, {Name: "SASL", Host: "b", Port: 2}}}
	if h, p, ok := b.Endpoint("SASL"); !ok || h != "b" || p != 2 {
		t.Errorf("SASL: %s %d %v", h, p, ok)
	}
	if _, _, ok := b.Endpoint("OTHER"); ok {
		t.Error("OTHER found")
	}
	old := BrokerInfo{Host: "a", Port: 1}
	if h, p, ok := old.Endpoint("SASL"); !ok || h != "a" || p != 1 {
		t.Errorf("without endpoints: %s %d %v", h, p, ok)
	}
}
