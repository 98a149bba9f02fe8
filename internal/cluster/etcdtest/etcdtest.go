// Package etcdtest runs a real etcd server (Debian's etcd-server) for
// tests of cluster mode: on free ports of 127.0.0.1, its data in the
// test's temp dir, with short raft timings. Without an etcd binary the
// test is skipped, or fails when CI is set (scripts/test.sh installs it).
package etcdtest

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

// Server is one etcd server run by a test.
type Server struct {
	// Endpoint is the client URL (http://127.0.0.1:PORT).
	Endpoint string
	// MaxTxnOps is the server's --max-txn-ops.
	MaxTxnOps int

	t       testing.TB
	bin     string
	dir     string
	peer    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// Binary finds etcd; in CI (CI set) a missing one fails the test, as
// scripts/test.sh installs it, elsewhere it skips.
func Binary(t testing.TB) string {
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

// FreePort returns a TCP port of 127.0.0.1 free at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts etcd with --max-txn-ops maxTxnOps and short raft timings
// (heartbeat 10 ms, election 100 ms: etcd's minimum lease TTL is then
// 1 s), waits until it answers, and stops it at the test's cleanup.
func Start(t testing.TB, maxTxnOps int) *Server {
	t.Helper()
	e := &Server{t: t, bin: Binary(t), dir: t.TempDir(), MaxTxnOps: maxTxnOps}
	e.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	e.peer = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	e.logPath = filepath.Join(e.dir, "etcd.log")
	e.Restart()
	t.Cleanup(e.Stop)
	return e
}

// Restart starts the server again after Stop, on the same ports and data,
// and waits until it answers.
func (e *Server) Restart() {
	e.t.Helper()
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	e.cmd = exec.Command(e.bin,
		"--name", "t", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", e.peer, "--initial-advertise-peer-urls", e.peer,
		"--initial-cluster", "t="+e.peer,
		"--heartbeat-interval", "10", "--election-timeout", "100",
		"--max-txn-ops", fmt.Sprint(e.MaxTxnOps),
		"--logger", "zap", "--log-level", "warn")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(e.cmd, e.exited)
	// Wait until it serves: a read with WaitForReady blocks until the
	// connection is up or the deadline passes.
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 30 * time.Second, Logger: zap.NewNop()})
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
		e.t.Fatalf("etcd did not start: %v\n%s", err, e.Logs())
	}
}

// Logs returns the server's log output so far.
func (e *Server) Logs() string {
	b, _ := os.ReadFile(e.logPath)
	return strings.TrimSpace(string(b))
}

// Stop ends etcd (SIGTERM, then SIGKILL after 10 s); its data stays for
// Restart.
func (e *Server) Stop() {
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

// Raw is a plain etcd client of the server, closed at the test's cleanup,
// for what tests do behind the cluster package's back.
func (e *Server) Raw(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 30 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
