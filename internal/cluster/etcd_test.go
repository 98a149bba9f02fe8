package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testEtcd is a real etcd server (Debian's etcd-server, 3.4) run by a test
// on free ports of 127.0.0.1 with its data in t.TempDir().
type testEtcd struct {
	t         testing.TB
	bin       string
	dir       string
	client    string // client URL
	peer      string
	maxTxnOps int
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
}

// etcdBinary finds etcd; in CI (CI set) a missing one fails the test, as
// scripts/test.sh installs it, elsewhere it skips.
func etcdBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("etcd is not installed (apt-get install etcd-server; scripts/test.sh installs it)")
	}
	t.Skip("etcd is not installed (apt-get install etcd-server)")
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts etcd with --max-txn-ops maxTxnOps and short raft
// timings (heartbeat 10 ms, election 100 ms: etcd's minimum lease TTL is
// then 1 s) and waits until it answers.
func startEtcd(t testing.TB, maxTxnOps int) *testEtcd {
	t.Helper()
	e := &testEtcd{t: t, bin: etcdBinary(t), dir: t.TempDir(), maxTxnOps: maxTxnOps}
	e.client = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e.peer = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e.logPath = filepath.Join(e.dir, "etcd.log")
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *testEtcd) start() {
	e.t.Helper()
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	e.cmd = exec.Command(e.bin,
		"--name", "t", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", e.client, "--advertise-client-urls", e.client,
		"--listen-peer-urls", e.peer, "--initial-advertise-peer-urls", e.peer,
		"--initial-cluster", "t="+e.peer,
		"--heartbeat-interval", "10", "--election-timeout", "100",
		"--max-txn-ops", fmt.Sprint(e.maxTxnOps),
		"--logger", "zap", "--log-level", "warn")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(e.cmd, e.exited)
	// Wait until it serves: a read with WaitForReady blocks until the
	// connection is up or the deadline passes.
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{e.client}, DialTimeout: 30 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := cl.Get(ctx, "health"); done <- err }()
	select {
	case err = <-done:
	case <-e.exited:
		err = fmt.Errorf("etcd exited")
	}
	if err != nil {
		e.t.Fatalf("etcd did not start: %v\n%s", err, e.logs())
	}
}

func (e *testEtcd) logs() string {
	b, _ := os.ReadFile(e.logPath)
	return strings.TrimSpace(string(b))
}

// stop ends etcd (SIGTERM, then SIGKILL after 10 s); its data stays for a
// restart.
func (e *testEtcd) stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}

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
func (e *testEtcd) raw(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{e.client}, DialTimeout: 30 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

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
		MaxTimestamp: 1700000000000 + base, LeaderEpoch: epoch, RecordCount: n,
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
