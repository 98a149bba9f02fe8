package objlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

const (
	helperEtcdEnv = "SLUICE_OBJLOG_HELPER_ETCD"
	helperS3Env   = "SLUICE_OBJLOG_HELPER_S3"
)

// A leader process killed with SIGKILL under load (8 appenders, flushes
// in flight): once its 2 s lease expires another broker acquires the
// partition at the next epoch, finds every record the dead one
// acknowledged at its offset and no gap, and continues at the hw. Records
// the dead one did not acknowledge may be there (a flush that committed
// just before the kill), nothing else.
func TestLeaderProcessKilled(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	s3 := fakeS3(t)
	store := openStore(t, s3)
	tp := tpN(20, 0)
	b := startBroker(t, e, store, brokerOpts{node: 2, noStart: true})
	b.f.Start(context.Background())
	gone := make(chan struct{})
	var once sync.Once
	sawLeader := false
	w := b.client.WatchLeaders(ctxT(t), func(ch []cluster.LeaderChange, reset bool) {
		for _, x := range ch {
			if x.Partition != tp {
				continue
			}
			if !x.Gone && x.Leader.NodeID == 1 {
				sawLeader = true
			}
			if x.Gone && sawLeader {
				once.Do(func() { close(gone) })
			}
		}
	})
	defer w.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLeaderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEtcdEnv+"="+e.Endpoint, helperS3Env+"="+s3)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	enough := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ACK" {
				continue
			}
			base, _ := strconv.ParseInt(f[1], 10, 64)
			if err := l.record(f[2], 2, AppendResult{BaseOffset: base}, nil); err != nil {
				t.Error(err)
			}
			if n++; n == 300 {
				close(enough)
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	select {
	case <-enough:
	case <-exited:
		t.Fatalf("helper process ended:\n%s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("helper process did not acknowledge 300 appends:\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Fatal("the dead leader's key did not expire")
	}
	p := acquire(t, b, tp)
	if p.Epoch() != 1 {
		t.Fatalf("successor epoch %d", p.Epoch())
	}
	l.allowUnacked = func(v string) bool { return strings.HasPrefix(v, "w") }
	l.check(t, p)
	hw := p.HighWatermark()
	t.Logf("%d records acknowledged by the killed leader, hw %d", len(l.acked), hw)
	if r := mustAck(t, mustAppend(t, p, mkBatch("after", 1, time.Now().UnixMilli()))); r.BaseOffset != hw {
		t.Fatalf("successor appended at %d, hw %d", r.BaseOffset, hw)
	}
}

// TestHelperLeaderProcess is the leader process of TestLeaderProcessKilled
// (skipped unless run by it): it leads one partition and appends from 8
// goroutines, printing "ACK <base offset> <tag>" for each acknowledged
// batch, until killed.
func TestHelperLeaderProcess(t *testing.T) {
	endpoint := os.Getenv(helperEtcdEnv)
	if endpoint == "" {
		t.Skip("helper process of TestLeaderProcessKilled")
	}
	c, err := cluster.Open(cluster.Config{Endpoints: []string{endpoint}, ClusterID: "test", LeaseTTL: 2 * time.Second, MaxTxnOps: 4096, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Register(context.Background(), cluster.BrokerInfo{NodeID: 1, Host: "127.0.0.1", Port: 9093})
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t, os.Getenv(helperS3Env))
	f := NewFlusher(Config{Logger: quiet}, c, m, store, nil)
	f.Start(context.Background())
	p, err := f.Acquire(context.Background(), tpN(20, 0), topicCfg())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				tag := fmt.Sprintf("w%d-n%d", w, n)
				comp, err := p.Append(mkBatch(tag, 2, time.Now().UnixMilli()))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				r, err := comp.Result()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ACK %d %s\n", r.BaseOffset, tag)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Fatal("appenders stopped")
}
