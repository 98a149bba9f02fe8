package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// testEtcd is a real etcd server (Debian's etcd-server, 3.4) run by a test
// (internal/cluster/etcdtest).
type testEtcd struct {
	*etcdtest.Server
	client    string // client URL
	maxTxnOps int
}

// startEtcd starts etcd with --max-txn-ops maxTxnOps (etcdtest.Start).
func startEtcd(t testing.TB, maxTxnOps int) *testEtcd {
	t.Helper()
	s := etcdtest.Start(t, maxTxnOps)
	return &testEtcd{Server: s, client: s.Endpoint, maxTxnOps: maxTxnOps}
}

func (e *testEtcd) start() { e.Restart() }
func (e *testEtcd) stop()  { e.Stop() }

// open is a Client of this etcd for cluster id "test".
func (e *testEtcd) open(t testing.TB, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Endpoints: []string{e.client}, ClusterID: "test", LeaseTTL: 10 * time.Second, MaxTxnOps: e.maxTxnOps, RequestTimeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw is a plain etcd client, for what the tests do behind the package's
// back (deleting a key, revoking a lease).
func (e *testEtcd) raw(t testing.TB) *clientv3.Client { return e.Raw(t) }

// latest holds the last value a watch callback gave, and wakes waiters.
type latest[T any] struct {
	mu     sync.Mutex
	v      T
	n      int
	notify chan struct{}
}

func newLatest[T any]() *latest[T] { return &latest[T]{notify: make(chan struct{}, 1)} }

func (l *latest[T]) set(v T) {
	l.mu.Lock()
	l.v, l.n = v, l.n+1
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// waitFor waits (30 s at most: generous for a loaded machine) until the
// last value satisfies ok, and returns it.
func (l *latest[T]) waitFor(t testing.TB, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		v, n := l.v, l.n
		l.mu.Unlock()
		if n > 0 && ok(v) {
			return v
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; last: %+v", what, v)
		}
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tpN(topic byte, p int32) TopicPartition {
	return TopicPartition{TopicID: [16]byte{0: topic, 15: 0xAB}, Partition: p}
}

// appendOf is a one-entry append of n records at base in object obj.
func appendOf(tp TopicPartition, epoch int32, base, n int64, obj string) PartitionAppend {
	return PartitionAppend{Partition: tp, LeaderEpoch: epoch, HW: base + n, Entries: []IndexEntry{{
		BaseOffset: base, LastOffset: base + n - 1, Object: obj, Position: base * 10, Length: n * 10,
		MaxTimestamp: 1700000000000 + base, LeaderEpoch: epoch, RecordCount: n, CRC: 0xC0DE0000 + uint32(base),
	}}}
}

func waitDone(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func leaseID(id int64) clientv3.LeaseID { return clientv3.LeaseID(id) }
