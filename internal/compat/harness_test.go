package compat

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "github.com/sluice-io/sluice/cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a sluice broker process.
type server struct {
	t    testing.TB
	cmd  *exec.Cmd
	addr string
	dir  string
	args []string

	mu     sync.Mutex
	stderr strings.Builder
	exited chan struct{}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `sluice serve` on a free port with a temp data dir
// (or dir, to restart on existing data) and waits until it accepts.
func startServer(t testing.TB, dir string, args ...string) *server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s := &server{t: t, addr: freePort(t), dir: dir, args: args}
	s.start()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(sluiceBin, append([]string{"serve", "--listen", s.addr, "--data-dir", s.dir}, withRegistryOff(s.args)...)...)
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	s.exited = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	go func() { s.cmd.Wait(); pw.Close(); close(s.exited) }()
	// The Kafka listeners bind before the schema registry has replayed
	// _schemas and bound its own: wait for both.
	addrs := []string{s.addr}
	if a := registryAddr(s.args); a != "" {
		addrs = append(addrs, a)
	}
	if !waitStarted(s.t, addrs, s.logs, s.exited, 20*time.Second) {
		s.t.Fatalf("sluice exited during start-up:\n%s", s.logs())
	}
}

// waitStarted waits until a started sluice process says it listens and
// each of addrs accepts a connection (true), or the process exits first
// (false); it fails the test after timeout. It dials only once the
// process says it listens: after a restart another process may have taken
// the port in between, and a dial would reach that one instead.
func waitStarted(t testing.TB, addrs []string, logs func() string, exited <-chan struct{}, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(addrs) > 0 {
		if strings.Contains(logs(), `msg="broker listening"`) {
			if c, err := net.DialTimeout("tcp", addrs[0], time.Second); err == nil {
				c.Close()
				addrs = addrs[1:]
				continue
			}
		}
		select {
		case <-exited:
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice did not accept connections within %v:\n%s", timeout, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill9 kills the broker without warning and waits for it to be gone.
func (s *server) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and expects a clean exit within a few seconds.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("sluice exited with %d after SIGTERM:\n%s", code, s.logs())
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("sluice did not stop within 10s of SIGTERM:\n%s", s.logs())
	}
}

// tool finds an external client; in CI (CI set) a missing tool fails the
// test, elsewhere it skips it.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run installs it", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// systemPython is Debian's python3, which has python3-kafka and
// python3-confluent-kafka (a pyenv python on PATH would not).
func systemPython(t testing.TB, module string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = tool(t, "python3")
	}
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python module %s is not importable by %s", module, py)
		}
		t.Skipf("python module %s is not installed", module)
	}
	return py
}

func run(t testing.TB, ctx context.Context, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err, stderr.String(), out)
	}
	return string(out)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// registryAddr is the --registry-listen address in args ("" when none).
func registryAddr(args []string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--registry-listen="); ok {
			return v
		}
		if a == "--registry-listen" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// withRegistryOff turns the schema registry and the HTTP listener off
// (their default ports are fixed, and tests run brokers side by side)
// unless args choose a --registry-listen or --http-listen.
func withRegistryOff(args []string) []string {
	var reg, web bool
	for _, a := range args {
		reg = reg || strings.HasPrefix(a, "--registry-listen")
		web = web || strings.HasPrefix(a, "--http-listen")
	}
	out := append([]string(nil), args...)
	if !reg {
		out = append(out, "--registry-listen=")
	}
	if !web {
		out = append(out, "--http-listen=")
	}
	return out
}
