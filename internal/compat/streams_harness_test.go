package compat

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The harness of the tests that run the streams examples' binaries
// against the real broker: worker processes and a paced producer.

// appProc is one worker process of a streams example binary.
type appProc struct {
	t      *testing.T
	bin    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	logs   bytes.Buffer
}

func (p *appProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *appProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.exited = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
}

func (p *appProc) signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		p.t.Errorf("worker did not exit within 60 s of %v:\n%s", sig, p.output())
	}
}

// waitLog waits until the worker logged s.
func (p *appProc) waitLog(s string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.exited:
			p.t.Fatalf("worker exited before logging %q:\n%s", s, p.output())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("worker did not log %q within 90 s:\n%s", s, p.output())
		}
		time.Sleep(20 * time.Millisecond) // polls a condition with a deadline
	}
}

func (p *appProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startApp starts a worker of bin with args; the test's cleanup stops
// it with SIGTERM (if still running) and logs its output on failure.
func startApp(t *testing.T, name, bin string, args ...string) *appProc {
	t.Helper()
	p := &appProc{t: t, bin: bin, args: args}
	p.start()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.signal(syscall.SIGTERM)
		}
		if t.Failed() {
			t.Logf("worker %s output:\n%s", name, p.output())
		}
	})
	return p
}

// pacedProducer produces the batches next returns, one every 50 ms,
// while the test kills and restarts workers and the broker.
type pacedProducer struct {
	t        *testing.T
	ctx      context.Context
	produced atomic.Int64
	stop     chan struct{}
	done     chan error
}

func startPaced(t *testing.T, ctx context.Context, cl *kgo.Client, next func() []*kgo.Record) *pacedProducer {
	p := &pacedProducer{t: t, ctx: ctx, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for {
			select {
			case <-p.stop:
				p.done <- nil
				return
			default:
			}
			rs := next()
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				p.done <- err
				return
			}
			p.produced.Add(int64(len(rs)))
			time.Sleep(50 * time.Millisecond) // paces the load
		}
	}()
	return p
}

// after waits until n more records are acknowledged.
func (p *pacedProducer) after(n int64) {
	p.t.Helper()
	target := p.produced.Load() + n
	for p.produced.Load() < target {
		select {
		case err := <-p.done:
			p.t.Fatalf("producer stopped: %v", err)
		case <-p.ctx.Done():
			p.t.Fatal("records not produced in time")
		case <-time.After(5 * time.Millisecond): // polls a condition with a deadline
		}
	}
}

// finish stops producing and fails the test if producing failed.
func (p *pacedProducer) finish() {
	p.t.Helper()
	close(p.stop)
	if err := <-p.done; err != nil {
		p.t.Fatalf("producer: %v", err)
	}
}
