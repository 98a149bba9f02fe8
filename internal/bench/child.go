package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// childBroker is a broker bench started as a child process of its own
// executable ('sluice serve' or 'sluice kfake').
type childBroker struct {
	cmd     *exec.Cmd
	addr    string
	pid     int
	dir     string // temporary data directory to remove, if any
	exited  chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

// startChildBroker runs this executable with args plus --listen on a free
// loopback port (and --data-dir in a new temporary directory when withDir)
// and waits until the port accepts connections.
func startChildBroker(ctx context.Context, args []string, withDir bool, dataParent string, stderr io.Writer) (*childBroker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	c := &childBroker{addr: addr, exited: make(chan struct{})}
	args = append(args, "--listen", addr)
	if withDir {
		if c.dir, err = os.MkdirTemp(dataParent, "sluice-bench-"); err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", c.dir)
	}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Stdout = stderr // keep stdout for the report
	c.cmd.Stderr = stderr
	if err := c.cmd.Start(); err != nil {
		c.removeDir()
		return nil, err
	}
	c.pid = c.cmd.Process.Pid
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.exited:
			c.removeDir()
			return nil, fmt.Errorf("%s %s exited before accepting connections: %v", exe, args[0], c.waitErr)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s %s: %s not accepting connections after 30s", exe, args[0], addr)
		}
	}
}

// exitError reports why the child exited, or nil while it runs.
func (c *childBroker) exitError() error {
	select {
	case <-c.exited:
		if c.waitErr == nil {
			return errors.New("exit status 0")
		}
		return c.waitErr
	default:
		return nil
	}
}

// stop sends SIGTERM, waits (SIGKILL after 30s) and removes the data
// directory. It reports an unclean exit; calling it again is a no-op.
func (c *childBroker) stop() error {
	c.once.Do(func() {
		select {
		case <-c.exited:
			c.stopErr = c.exitError()
		default:
			c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
				c.stopErr = c.waitErr
			case <-time.After(30 * time.Second):
				c.cmd.Process.Kill()
				<-c.exited
				c.stopErr = errors.New("did not exit within 30s of SIGTERM; killed")
			}
		}
		c.removeDir()
	})
	return c.stopErr
}

func (c *childBroker) removeDir() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
