package objlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/objstore/faultproxy"
)

// retriable reports whether err is one of the Kafka errors a producer
// retries on.
func retriable(err error) bool {
	switch ErrorCode(err) {
	case kerr.RequestTimedOut.Code, kerr.KafkaStorageError.Code, kerr.NotLeaderForPartition.Code:
		return true
	}
	return false
}

// An object store that refuses writes: the appends fail with
// REQUEST_TIMED_OUT after the retry bound (or KAFKA_STORAGE_ERROR at once
// for a permanent refusal), nothing is acknowledged or committed, and
// once the store is back the partition continues at its hw by itself.
func TestStoreErrorsFailRetriablyAndRecover(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	endpoint, proxy := faultyS3(t)
	store := openStore(t, endpoint)
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{RetryTimeout: 2 * time.Second, RetryBackoff: 10 * time.Millisecond}})
	tp := tpN(10, 0)
	p := acquire(t, b, tp)
	l := newLedger()
	appendAndRecord := func(tag string) error {
		c, err := p.Append(mkBatch(tag, 2, time.Now().UnixMilli()))
		if err != nil {
			return err
		}
		r, err := waitResult(t, c)
		if rerr := l.record(tag, 2, r, err); rerr != nil {
			t.Fatal(rerr)
		}
		return err
	}
	// Until acknowledged, as a producer retries (a loaded machine may
	// time a commit out).
	appendRetrying := func(tag string) {
		for i := range 10 {
			if err := appendAndRecord(fmt.Sprintf("%s-try%d", tag, i)); err == nil {
				return
			} else if !retriable(err) {
				t.Fatal(err)
			}
			awaitLeading(p)
		}
		t.Fatalf("%s: not acknowledged in 10 tries", tag)
	}
	appendRetrying("ok0")
	hw := p.HighWatermark()
	objs := objectNames(t, b.client)

	proxy.SetRules(faultproxy.Rule{Ops: []string{"put"}, ErrorRate: 1})
	var cs []*Completion
	for i := range 3 {
		cs = append(cs, mustAppend(t, p, mkBatch(fmt.Sprintf("fail%d", i), 2, time.Now().UnixMilli())))
	}
	for _, c := range cs {
		if _, err := waitResult(t, c); ErrorCode(err) != kerr.RequestTimedOut.Code {
			t.Fatalf("append while the store fails: %v, want REQUEST_TIMED_OUT", err)
		}
	}
	if p.HighWatermark() != hw {
		t.Fatalf("hw moved to %d without a durable flush", p.HighWatermark())
	}
	if etcdHW, err := b.client.HW(ctxT(t), tp); err != nil || etcdHW != hw {
		t.Fatalf("etcd hw %d, %v", etcdHW, err)
	}
	if now := objectNames(t, b.client); len(now) != len(objs) {
		t.Fatalf("object records %v, before %v", now, objs)
	}
	if s := proxy.Stats(); s.Errors == 0 {
		t.Fatal("no fault injected")
	}

	proxy.SetRules(faultproxy.Rule{Ops: []string{"put"}, ErrorRate: 1, Status: 403})
	start := time.Now()
	if _, err := waitResult(t, mustAppend(t, p, mkBatch("denied", 1, time.Now().UnixMilli()))); ErrorCode(err) != kerr.KafkaStorageError.Code {
		t.Fatalf("append while the store denies access: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("a permanent error was retried for %v", d)
	}

	proxy.SetRules()
	appendRetrying("ok1")
	l.check(t, p)
	if _, ok := l.acked[hw]; !ok {
		t.Fatalf("after recovery offset %d (the hw before the faults) is not acknowledged: %v", hw, l.acked)
	}
}

// A slow object store makes appends wait, not fail, within the retry
// bound; reads wait too and return the data.
func TestSlowStoreWaits(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	endpoint, proxy := faultyS3(t)
	store := openStore(t, endpoint)
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{RetryTimeout: 20 * time.Second}})
	p := acquire(t, b, tpN(11, 0))
	const delay = 300 * time.Millisecond
	proxy.SetRules(faultproxy.Rule{DelayRate: 1, Delay: delay})
	start := time.Now()
	r := mustAck(t, mustAppend(t, p, mkBatch("slow", 3, time.Now().UnixMilli())))
	if d := time.Since(start); d < delay || r.BaseOffset != 0 {
		t.Fatalf("acknowledged after %v at %d: before the store answered", d, r.BaseOffset)
	}
	// A fresh leader elsewhere reads through its own (empty) cache.
	if err := p.Resign(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, e, store, brokerOpts{node: 2})
	q := acquire(t, b2, tpN(11, 0))
	start = time.Now()
	got := readAll(t, q, 0)
	if d := time.Since(start); len(got) != 3 || got[2] != "slow-2" || d < delay {
		t.Fatalf("read %v in %v", got, d)
	}
}

// Random store faults (errors, resets, cut responses) under a short retry
// bound: every append is acknowledged or fails retriably, and the log
// holds the acknowledged records at their offsets and nothing else but
// records of appends that timed out; reads under faults return the right
// bytes or a retriable error.
func TestRandomStoreFaults(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	endpoint, proxy := faultyS3(t)
	store := openStore(t, endpoint)
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{RetryTimeout: 200 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, FlushInterval: 5 * time.Millisecond}})
	proxy.SetRules(faultproxy.Rule{Ops: []string{"put"}, ErrorRate: 0.75, ResetRate: 0.1, TruncateRate: 0.05})
	ps := make([]*Partition, 4)
	ls := make([]*ledger, len(ps))
	for i := range ps {
		ps[i] = acquire(t, b, tpN(12, int32(i)))
		ls[i] = newLedger()
	}
	var nAcked, nFailed int
	for round := range 15 {
		type pend struct {
			part int
			tag  string
			c    *Completion
		}
		var pends []pend
		for i, p := range ps {
			for j := range 2 {
				tag := fmt.Sprintf("r%d-p%d-b%d", round, i, j)
				c, err := p.Append(mkBatch(tag, 2, time.Now().UnixMilli()))
				if err != nil {
					if !retriable(err) {
						t.Fatalf("append refused with %v", err)
					}
					nFailed++
					continue
				}
				pends = append(pends, pend{i, tag, c})
			}
		}
		for _, pd := range pends {
			r, err := waitResult(t, pd.c)
			if rerr := ls[pd.part].record(pd.tag, 2, r, err); rerr != nil {
				t.Fatal(rerr)
			}
			if err != nil {
				nFailed++
			} else {
				nAcked++
			}
		}
		for _, p := range ps {
			awaitLeading(p)
		}
	}
	t.Logf("%d acknowledged, %d failed; proxy %+v", nAcked, nFailed, proxy.Stats())
	// Reads under faults, through a fresh broker's empty cache: the
	// right bytes or a retriable error.
	proxy.SetRules(faultproxy.Rule{Ops: []string{"get"}, ErrorRate: 0.5, ResetRate: 0.1, TruncateRate: 0.1})
	for _, p := range ps {
		if err := p.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	b2 := startBroker(t, e, store, brokerOpts{node: 2})
	var readOK, readFailed int
	for i := range ps {
		ps[i] = acquire(t, b2, tpN(12, int32(i)))
		for off := range ps[i].HighWatermark() {
			want, ok := ls[i].acked[off]
			if !ok {
				continue
			}
			got, err := ps[i].Read(ctxT(t), off, 1)
			if err != nil {
				if !retriable(err) {
					t.Fatalf("read under faults: %v", err)
				}
				readFailed++
				continue
			}
			readOK++
			if m := records(t, got); m[off] != want {
				t.Fatalf("partition %d offset %d reads %q, acknowledged %q", i, off, m[off], want)
			}
		}
	}
	t.Logf("reads under faults: %d ok, %d failed retriably", readOK, readFailed)
	proxy.SetRules()
	for i, p := range ps {
		ls[i].check(t, p)
	}
	if nAcked == 0 || readOK == 0 {
		t.Fatal("nothing acknowledged or read")
	}
}

// etcd stopped: appends fail with REQUEST_TIMED_OUT (the commit's outcome
// unknown, the partition then refuses appends until etcd answers), reads
// of committed data go on; etcd restarted: the partition resyncs by itself
// and continues at the hw.
func TestEtcdRestart(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{RetryTimeout: 3 * time.Second, RetryBackoff: 20 * time.Millisecond}})
	p := acquire(t, b, tpN(13, 0))
	mustAck(t, mustAppend(t, p, mkBatch("before", 2, time.Now().UnixMilli())))

	e.Stop()
	_, err := waitResult(t, mustAppend(t, p, mkBatch("down", 2, time.Now().UnixMilli())))
	if ErrorCode(err) != kerr.RequestTimedOut.Code {
		t.Fatalf("append with etcd down: %v", err)
	}
	waitState(t, p, resyncing)
	if _, err := p.Append(mkBatch("down2", 1, 0)); !errors.Is(err, ErrBusy) || !retriable(err) {
		t.Fatalf("append while resyncing: %v", err)
	}
	if got := readAll(t, p, 0); len(got) != 2 || got[1] != "before-1" {
		t.Fatalf("read with etcd down: %v", got)
	}

	e.Restart()
	waitState(t, p, leading)
	r := mustAck(t, mustAppend(t, p, mkBatch("after", 2, time.Now().UnixMilli())))
	if r.BaseOffset != 2 {
		t.Fatalf("after etcd's restart appended at %d, want 2", r.BaseOffset)
	}
	got := readAll(t, p, 0)
	if len(got) != 4 || got[2] != "after-0" {
		t.Fatalf("log %v", got)
	}
}

// lostReply wraps a flusher's commit: the first `apply` calls reach etcd
// but report ErrUnavailable (the reply lost); after that, calls fail
// without reaching etcd while failing is set.
type lostReply struct {
	f       *Flusher
	apply   atomic.Int32
	failing atomic.Bool
	calls   atomic.Int32
}

func (l *lostReply) commit(ctx context.Context, apps []cluster.PartitionAppend, obj cluster.ObjectMeta) error {
	l.calls.Add(1)
	if l.apply.Add(-1) >= 0 {
		if err := l.f.member.Commit(ctx, apps, obj); err != nil {
			return err
		}
		return fmt.Errorf("%w: reply lost (test)", cluster.ErrUnavailable)
	}
	if l.failing.Load() {
		return fmt.Errorf("%w: etcd unreachable (test)", cluster.ErrUnavailable)
	}
	return l.f.member.Commit(ctx, apps, obj)
}

// A commit applied whose reply was lost: the retry finds the flush's own
// object record, which proves it applied: acknowledged once, stored once.
func TestLostCommitReplyRetried(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{RetryBackoff: 10 * time.Millisecond}})
	l := &lostReply{f: b.f}
	b.f.commit = l.commit
	b.f.Start(context.Background())
	ps := []*Partition{acquire(t, b, tpN(14, 0)), acquire(t, b, tpN(14, 1))}
	mustAck(t, mustAppend(t, ps[0], mkBatch("first", 1, time.Now().UnixMilli())))
	l.apply.Store(1)
	c0 := mustAppend(t, ps[0], mkBatch("p0", 2, time.Now().UnixMilli()))
	c1 := mustAppend(t, ps[1], mkBatch("p1", 3, time.Now().UnixMilli()))
	if r := mustAck(t, c0); r.BaseOffset != 1 {
		t.Fatalf("p0 at %d", r.BaseOffset)
	}
	if r := mustAck(t, c1); r.BaseOffset != 0 {
		t.Fatalf("p1 at %d", r.BaseOffset)
	}
	if n := l.calls.Load(); n != 3 {
		t.Fatalf("%d commit calls, want 3 (first, lost reply, retry)", n)
	}
	if ps[0].HighWatermark() != 3 || ps[1].HighWatermark() != 3 {
		t.Fatalf("hw %d %d", ps[0].HighWatermark(), ps[1].HighWatermark())
	}
	if got := readAll(t, ps[1], 0); len(got) != 3 || got[2] != "p1-2" {
		t.Fatalf("p1 holds %v", got)
	}
	if r := mustAck(t, mustAppend(t, ps[0], mkBatch("next", 1, time.Now().UnixMilli()))); r.BaseOffset != 3 {
		t.Fatalf("next append at %d", r.BaseOffset)
	}
}

// A commit applied whose reply was lost, then etcd unreachable until the
// retry bound: the append fails (REQUEST_TIMED_OUT, never acknowledged);
// the partition resyncs from etcd's hw, finds the flush applied, serves
// its records and continues after them.
func TestLostCommitReplyResynced(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{RetryTimeout: time.Second, RetryBackoff: 10 * time.Millisecond}})
	l := &lostReply{f: b.f}
	b.f.commit = l.commit
	b.f.Start(context.Background())
	p := acquire(t, b, tpN(15, 0))
	l.apply.Store(1)
	l.failing.Store(true)
	_, err := waitResult(t, mustAppend(t, p, mkBatch("applied", 2, time.Now().UnixMilli())))
	if ErrorCode(err) != kerr.RequestTimedOut.Code {
		t.Fatalf("append whose outcome stayed unknown: %v", err)
	}
	waitState(t, p, leading)
	if p.HighWatermark() != 2 {
		t.Fatalf("after resync hw %d, want 2 (the flush was applied)", p.HighWatermark())
	}
	if got := readAll(t, p, 0); len(got) != 2 || got[0] != "applied-0" {
		t.Fatalf("log %v", got)
	}
	l.failing.Store(false)
	if r := mustAck(t, mustAppend(t, p, mkBatch("next", 1, time.Now().UnixMilli()))); r.BaseOffset != 2 {
		t.Fatalf("next append at %d, want 2", r.BaseOffset)
	}
}

// randomCommits wraps a flusher's commit with seeded random failures:
// applied with the reply lost, or refused before reaching etcd.
type randomCommits struct {
	f   *Flusher
	mu  sync.Mutex
	rng *rand.Rand
	on  atomic.Bool
}

func (r *randomCommits) commit(ctx context.Context, apps []cluster.PartitionAppend, obj cluster.ObjectMeta) error {
	mode := 2
	if r.on.Load() {
		r.mu.Lock()
		// 20% applied with the reply lost, 50% lost, 30% fine.
		mode = []int{0, 0, 1, 1, 1, 1, 1, 2, 2, 2}[r.rng.IntN(10)]
		r.mu.Unlock()
	}
	switch mode {
	case 0: // applied, reply lost
		if err := r.f.member.Commit(ctx, apps, obj); err != nil {
			return err
		}
		return fmt.Errorf("%w: reply lost (test)", cluster.ErrUnavailable)
	case 1: // never reached etcd
		return fmt.Errorf("%w: unreachable (test)", cluster.ErrUnavailable)
	}
	return r.f.member.Commit(ctx, apps, obj)
}

// Commits whose replies are lost or that time out, at random, under
// concurrent appends to several partitions: every acknowledged record is
// at its offset, the log has no gap, only appends that failed with
// REQUEST_TIMED_OUT may have become durable unacknowledged, and memory
// agrees with etcd afterwards.
func TestRandomCommitOutcomes(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{
		RetryTimeout: 40 * time.Millisecond, RetryBackoff: 5 * time.Millisecond, FlushInterval: 2 * time.Millisecond}})
	rc := &randomCommits{f: b.f, rng: rand.New(rand.NewPCG(1, 2))}
	rc.on.Store(true)
	b.f.commit = rc.commit
	b.f.Start(context.Background())
	ps := make([]*Partition, 3)
	for i := range ps {
		ps[i] = acquire(t, b, tpN(16, int32(i)))
	}
	ls := make([]*ledger, len(ps))
	var wg sync.WaitGroup
	var nAcked, nTimedOut, nBusy atomic.Int32
	for i, p := range ps {
		ls[i] = newLedger()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 40 {
				var cs []*Completion
				var tags []string
				for j := range 3 {
					tag := fmt.Sprintf("r%d-b%d", round, j)
					c, err := p.Append(mkBatch(tag, 2, time.Now().UnixMilli()))
					if err != nil {
						if !errors.Is(err, ErrBusy) {
							t.Errorf("append refused: %v", err)
							return
						}
						nBusy.Add(1)
						if err := awaitLeading(p); err != nil {
							t.Error(err)
							return
						}
						continue
					}
					cs, tags = append(cs, c), append(tags, tag)
				}
				for k, c := range cs {
					r, err := c.Wait(ctxT(t))
					if rerr := ls[i].record(tags[k], 2, r, err); rerr != nil {
						t.Errorf("partition %d: %v", i, rerr)
						return
					}
					switch {
					case err == nil:
						nAcked.Add(1)
					case ErrorCode(err) == kerr.RequestTimedOut.Code:
						nTimedOut.Add(1)
					default:
						t.Errorf("append failed: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d acknowledged, %d timed out, %d refused while resyncing", nAcked.Load(), nTimedOut.Load(), nBusy.Load())
	rc.on.Store(false)
	for i, p := range ps {
		// The final append may still miss the test's 40 ms retry
		// timeout when etcd is slow on a loaded machine: a retriable
		// failure is recorded like the others and the append repeated.
		var r AppendResult
		var err error
		for try := 0; ; try++ {
			waitState(t, p, leading)
			tag := fmt.Sprintf("final-%d", try)
			r, err = waitResult(t, mustAppend(t, p, mkBatch(tag, 1, time.Now().UnixMilli())))
			if rerr := ls[i].record(tag, 1, r, err); rerr != nil {
				t.Fatalf("final append: %v", rerr)
			}
			if err == nil || try == 20 {
				break
			}
		}
		if err != nil || r.BaseOffset != p.HighWatermark()-1 {
			t.Fatalf("final append: %+v, %v", r, err)
		}
		ls[i].check(t, p)
		hw := p.HighWatermark()
		etcdHW, err := b.client.HW(ctxT(t), p.tp)
		if err != nil || etcdHW != hw {
			t.Fatalf("partition %d: etcd hw %d (%v), in memory %d", i, etcdHW, err, hw)
		}
		idx, err := b.client.LoadIndex(ctxT(t), p.tp)
		if err != nil || !slices.Equal(idx, p.index) {
			t.Fatalf("partition %d: etcd index %+v (%v), in memory %+v", i, idx, err, p.index)
		}
	}
	if nAcked.Load() == 0 || nTimedOut.Load() == 0 {
		t.Fatal("the mix did not exercise both outcomes")
	}
}

// awaitLeading waits (30 s at most) until p takes appends again.
func awaitLeading(p *Partition) error {
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		st, ch := p.state, p.changed
		p.mu.Unlock()
		if st == leading {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("%s: not leading after 30 s (state %d)", p.tp, st)
		}
	}
}
