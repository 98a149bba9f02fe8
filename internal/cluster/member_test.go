package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func nodes(bs []BrokerInfo) []int32 {
	out := []int32{}
	for _, b := range bs {
		out = append(out, b.NodeID)
	}
	return out
}

// Two members, each on its own connection, see each other; a member that
// closes (its lease revoked) disappears from the other's watch at once; a
// second registration of a live node id is refused.
func TestMembersSeeEachOther(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c1, c2 := e.open(t, nil), e.open(t, nil)
	seen1, seen2 := newLatest[[]BrokerInfo](), newLatest[[]BrokerInfo]()
	w1 := c1.WatchBrokers(ctx, seen1.set)
	defer w1.Stop()
	w2 := c2.WatchBrokers(ctx, seen2.set)
	defer w2.Stop()

	m1, err := c1.Register(ctx, BrokerInfo{NodeID: 1, Host: "127.0.0.1", Port: 9092, Rack: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	m2, err := c2.Register(ctx, BrokerInfo{NodeID: 2, Host: "127.0.0.1", Port: 9093})
	if err != nil {
		t.Fatal(err)
	}
	both := func(bs []BrokerInfo) bool { return slices.Equal(nodes(bs), []int32{1, 2}) }
	seen1.waitFor(t, "node 1 to see nodes 1 and 2", both)
	got := seen2.waitFor(t, "node 2 to see nodes 1 and 2", both)
	if b := got[0]; b.Host != "127.0.0.1" || b.Port != 9092 || b.Rack != "r1" || b.Lease != m1.Info().Lease || b.Started.IsZero() {
		t.Fatalf("node 1 as node 2 sees it: %+v, registered %+v", b, m1.Info())
	}
	if list, err := c1.Brokers(ctx); err != nil || !both(list) {
		t.Fatalf("Brokers: %v, %v", nodes(list), err)
	}

	_, err = c2.Register(ctx, BrokerInfo{NodeID: 1, Host: "127.0.0.1", Port: 9999})
	if !errors.Is(err, ErrNodeIDInUse) {
		t.Fatalf("registering live node 1 again: %v, want ErrNodeIDInUse", err)
	}

	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "m2.Done after Close", m2.Done())
	if m2.Err() != nil {
		t.Fatalf("Err after Close: %v", m2.Err())
	}
	seen1.waitFor(t, "node 2 to disappear after Close", func(bs []BrokerInfo) bool { return slices.Equal(nodes(bs), []int32{1}) })
	// The id is free again.
	m2b, err := c2.Register(ctx, BrokerInfo{NodeID: 2, Host: "127.0.0.1", Port: 9093})
	if err != nil {
		t.Fatalf("registering node 2 after its Close: %v", err)
	}
	defer m2b.Close()
	if m2b.Info().Lease == m2.Info().Lease {
		t.Fatal("a new registration reused the old lease")
	}
	seen1.waitFor(t, "node 2 back", both)
}

// The helper process registers node 7, leads a partition and commits to
// it, then waits to be killed.
func TestHelperMemberProcess(t *testing.T) {
	ep := os.Getenv("SLUICE_CLUSTER_HELPER_ETCD")
	if ep == "" {
		t.Skip("run by TestMemberProcessKilled")
	}
	c, err := Open(Config{Endpoints: []string{ep}, ClusterID: "test", LeaseTTL: 2 * time.Second, MaxTxnOps: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := c.Register(ctx, BrokerInfo{NodeID: 7, Host: "127.0.0.1", Port: 9097})
	if err != nil {
		t.Fatal(err)
	}
	tp := tpN(7, 0)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 0, 5, "helper-obj")}, ObjectMeta{Name: "helper-obj", Size: 50}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	<-m.Done() // killed before this
	t.Fatalf("membership ended: %v", m.Err())
}

// A broker process killed with SIGKILL (no deregistration) disappears when
// its 2 s lease expires, and so does its partition leadership; another
// broker then acquires the partition at the next epoch and finds the dead
// one's committed hw and index.
func TestMemberProcessKilled(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, nil)
	brokers := newLatest[[]BrokerInfo]()
	w := c.WatchBrokers(ctx, brokers.set)
	defer w.Stop()
	type leaderMap = map[TopicPartition]LeaderInfo
	leaders := newLatest[leaderMap]()
	cur := leaderMap{}
	wl := c.WatchLeaders(ctx, func(ch []LeaderChange, reset bool) {
		if reset {
			cur = leaderMap{}
		}
		for _, x := range ch {
			if x.Gone {
				delete(cur, x.Partition)
			} else {
				cur[x.Partition] = x.Leader
			}
		}
		leaders.set(maps(cur))
	})
	defer wl.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMemberProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLUICE_CLUSTER_HELPER_ETCD="+e.client)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if sc.Text() == "ready" && !found {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	select {
	case ok := <-ready:
		if !ok {
			<-exited
			t.Fatalf("helper process failed:\n%s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("helper process not ready:\n%s", stderr.String())
	}
	tp := tpN(7, 0)
	brokers.waitFor(t, "node 7 registered", func(bs []BrokerInfo) bool { return slices.Equal(nodes(bs), []int32{7}) })
	leaders.waitFor(t, "node 7 leading", func(m leaderMap) bool { return m[tp] == LeaderInfo{NodeID: 7, Epoch: 0} })

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	brokers.waitFor(t, "node 7 gone after its lease expired", func(bs []BrokerInfo) bool { return len(bs) == 0 })
	leaders.waitFor(t, "node 7's leadership gone", func(m leaderMap) bool { _, ok := m[tp]; return !ok })

	m, err := c.Register(ctx, BrokerInfo{NodeID: 8, Host: "127.0.0.1", Port: 9098})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if l.Epoch != 1 || l.HW != 5 {
		t.Fatalf("took over at %+v, want epoch 1 and hw 5", l)
	}
	idx, err := c.LoadIndex(ctx, tp)
	if err != nil || len(idx) != 1 || idx[0].Object != "helper-obj" || idx[0].LastOffset != 4 {
		t.Fatalf("index after takeover: %+v, %v", idx, err)
	}
	leaders.waitFor(t, "node 8 leading at epoch 1", func(m leaderMap) bool { return m[tp] == LeaderInfo{NodeID: 8, Epoch: 1} })
}

func maps[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A lease revoked behind the member's back (as etcd does when it expires
// it) ends the membership at the next renewal: Done closes, Err is
// ErrLeaseLost, the member leads nothing and acquires nothing.
func TestLeaseRevokedEndsMembership(t *testing.T) {
	e := startEtcd(t, 4096)
	ctx := ctxT(t)
	c := e.open(t, func(cfg *Config) { cfg.LeaseTTL = 3 * time.Second })
	m, err := c.Register(ctx, BrokerInfo{NodeID: 1, Host: "h", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp := tpN(1, 0)
	l, err := m.Acquire(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw(t).Revoke(ctx, leaseID(m.Info().Lease)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "membership to end after the lease was revoked", m.Done())
	if !errors.Is(m.Err(), ErrLeaseLost) {
		t.Fatalf("Err: %v, want ErrLeaseLost", m.Err())
	}
	if len(m.Leading()) != 0 {
		t.Fatalf("still leading %v", m.Leading())
	}
	err = m.Commit(ctx, []PartitionAppend{appendOf(tp, l.Epoch, 0, 1, "o")}, ObjectMeta{Name: "o"})
	var nl *NotLeaderError
	if !errors.As(err, &nl) || len(nl.Partitions) != 1 || nl.Partitions[0] != tp {
		t.Fatalf("Commit after the lease was lost: %v", err)
	}
	if _, err := m.Acquire(ctx, tp); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Acquire after the lease was lost: %v", err)
	}
	if _, ok, err := c.Leader(ctx, tp); ok || err != nil {
		t.Fatalf("leader key still there: %v %v", ok, err)
	}
}

// Closing the client stops its watches' goroutines.
func TestCloseStopsWatches(t *testing.T) {
	e := startEtcd(t, 4096)
	c := e.open(t, nil)
	seen := newLatest[[]BrokerInfo]()
	w := c.WatchBrokers(context.Background(), seen.set)
	seen.waitFor(t, "the first list", func([]BrokerInfo) bool { return true })
	wl := c.WatchLeaders(context.Background(), func([]LeaderChange, bool) {})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "the brokers watch to end after Close", w.done)
	waitDone(t, "the leaders watch to end after Close", wl.done)
	w.Stop()
}
