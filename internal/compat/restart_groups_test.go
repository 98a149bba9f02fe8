package compat

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupLedger is what a test knows about a group's progress: the committed
// offsets the broker acknowledged, and every record a member consumed. A
// member that consumes a record below an acknowledged committed offset has
// consumed a committed record again.
type groupLedger struct {
	t        *testing.T
	mu       sync.Mutex
	acked    map[int32]int64  // partition → highest acknowledged commit
	consumed map[[2]int64]int // (partition, offset) → times consumed
	again    []string         // committed records consumed again
	gate     sync.RWMutex     // held for reading by a member around poll+commit
	paused   atomic.Bool
}

func newLedger(t *testing.T) *groupLedger {
	return &groupLedger{t: t, acked: map[int32]int64{}, consumed: map[[2]int64]int{}}
}

// member consumes with franz-go and commits each polled batch
// synchronously before polling again; rebalances wait until the batch is
// committed (BlockRebalanceOnPoll), so a member never commits a partition
// it no longer owns.
func (l *groupLedger) member(addr, group, topic, name string, opts ...kgo.Opt) (stop func()) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(10 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RetryTimeout(60 * time.Second)}, opts...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			l.gate.RLock()
			if l.paused.Load() {
				l.gate.RUnlock()
				time.Sleep(10 * time.Millisecond)
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := cl.PollFetches(pctx)
			pcancel()
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				recs = append(recs, r)
				l.mu.Lock()
				k := [2]int64{int64(r.Partition), r.Offset}
				l.consumed[k]++
				if r.Offset < l.acked[r.Partition] {
					l.again = append(l.again, fmt.Sprintf("%s consumed %d/%d below the acknowledged commit %d", name, r.Partition, r.Offset, l.acked[r.Partition]))
				}
				l.mu.Unlock()
			})
			if len(recs) > 0 {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				err := cl.CommitRecords(cctx, recs...)
				ccancel()
				if err == nil {
					l.mu.Lock()
					for _, r := range recs {
						if r.Offset+1 > l.acked[r.Partition] {
							l.acked[r.Partition] = r.Offset + 1
						}
					}
					l.mu.Unlock()
				}
			}
			cl.AllowRebalance()
			l.gate.RUnlock()
		}
	}()
	return func() {
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		cl.LeaveGroupContext(cctx)
		cl.Close()
	}
}

// pause stops every member between polls (no commit in flight) and
// returns the acknowledged commits.
func (l *groupLedger) pause() map[int32]int64 {
	l.paused.Store(true)
	l.gate.Lock() // wait until every member is between polls
	defer l.gate.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int64{}
	for p, o := range l.acked {
		out[p] = o
	}
	return out
}

// committed is the number of records below the acknowledged commits (the
// partitions' offsets start at 0).
func (l *groupLedger) committed() (n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.acked {
		n += o
	}
	return n
}

func (l *groupLedger) total() (distinct int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.consumed)
}

func produceN(t *testing.T, addr, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))})
	}
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKill9GroupMidGeneration runs two group members committing as they
// consume, kills the broker with SIGKILL while the group is in a
// generation, restarts it on the same data, and checks that the committed
// offsets are exactly the acknowledged ones, that the members carry on
// (rejoining as needed) and that no committed record is consumed again,
// including when one member leaves and the other takes its partitions.
func TestKill9GroupMidGeneration(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"classic-cooperative-sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}},
		{"classic-range", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
		{"kip848", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", "--set", "group.initial.rebalance.delay.ms=0")
			const topic, group = "gk", "gk-group"
			adm, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			ka := kadm.NewClient(adm)
			if _, err := ka.CreateTopic(ctxT(t, 10*time.Second), 4, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceN(t, s.addr, topic, 0, 400)
			l := newLedger(t)
			stopA := l.member(s.addr, group, topic, "A", tc.opts...)
			stopB := l.member(s.addr, group, topic, "B", tc.opts...)
			waitFor(t, 60*time.Second, "400 records consumed", func() bool { return l.total() == 400 })
			produceN(t, s.addr, topic, 400, 600)
			waitFor(t, 60*time.Second, "a commit of the new records", func() bool { return l.committed() > 400 })

			acked := l.pause()
			s.kill9()
			s.start()
			fetched, err := ka.FetchOffsets(ctxT(t, 30*time.Second), group)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 4; p++ {
				o, ok := fetched.Lookup(topic, p)
				want, wantOK := acked[p]
				if ok != wantOK || (ok && o.At != want) {
					t.Fatalf("partition %d after kill -9: committed %v (%v), acknowledged %d (%v)", p, o.At, ok, want, wantOK)
				}
			}
			l.paused.Store(false)
			produceN(t, s.addr, topic, 600, 800)
			waitFor(t, 90*time.Second, "800 records consumed after the restart", func() bool { return l.total() == 800 })

			// A leaves: B takes its partitions from the committed offsets.
			stopA()
			produceN(t, s.addr, topic, 800, 1000)
			waitFor(t, 90*time.Second, "1000 records consumed by the remaining member", func() bool { return l.total() == 1000 })
			l.pause()
			stopB()
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.again) > 0 {
				t.Fatalf("committed records consumed again:\n%v", l.again)
			}
		})
	}
}
