package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
