package objlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/twmb/franz-go/pkg/kerr"
)

// lateApply wraps a flusher's commit like an etcd that queues the FIRST
// flush's txn and applies it only later, after that flush gave up (its
// attempts all report ErrUnavailable): at the first attempt of the next
// flush (another object), before that attempt is answered. That attempt
// then reports ErrUnavailable without reaching etcd; later attempts of
// the second flush reach etcd unless stuck is set.
type lateApply struct {
	f     *Flusher
	mu    sync.Mutex
	held  string // the first flush's object
	apps  []cluster.PartitionAppend
	meta  cluster.ObjectMeta
	fired bool // the held txn was applied
	stuck bool // the second flush's attempts never reach etcd
	off   bool // pass everything through
}

func (l *lateApply) commit(ctx context.Context, apps []cluster.PartitionAppend, obj cluster.ObjectMeta) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.off {
		return l.f.member.Commit(ctx, apps, obj)
	}
	if l.held == "" {
		l.held, l.apps, l.meta = obj.Name, apps, obj
	}
	if obj.Name == l.held {
		return fmt.Errorf("%w: txn queued in etcd (test)", cluster.ErrUnavailable)
	}
	if !l.fired {
		l.fired = true
		if err := l.f.member.Commit(context.Background(), l.apps, l.meta); err != nil {
			return fmt.Errorf("applying the held txn (test): %w", err)
		}
		return fmt.Errorf("%w: slow etcd (test)", cluster.ErrUnavailable)
	}
	if l.stuck {
		return fmt.Errorf("%w: slow etcd (test)", cluster.ErrUnavailable)
	}
	return l.f.member.Commit(ctx, apps, obj)
}

func (l *lateApply) stop() {
	l.mu.Lock()
	l.off = true
	l.mu.Unlock()
}

// checkLateApply: after flush "first" [0,2) timed out, the partition
// resynced at 0 and flush "second" [0,2) failed too, "first" applied
// late: "second" was not acknowledged, the leader serves "first" at
// [0,2) with etcd's index in memory, and so does a successor.
func checkLateApply(t *testing.T, e *etcdtest.Server, b *broker, l *lateApply, p *Partition, err2 error) {
	t.Helper()
	if err2 == nil || ErrorCode(err2) != kerr.RequestTimedOut.Code {
		t.Fatalf("second flush (another flush's records stored at its offsets): %v, want REQUEST_TIMED_OUT", err2)
	}
	waitState(t, p, leading)
	l.stop()
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("hw %d, want 2", hw)
	}
	if got := readAll(t, p, 0); len(got) != 2 || got[0] != "first-0" || got[1] != "first-1" {
		t.Fatalf("leader serves %v", got)
	}
	idx, err := b.client.LoadIndex(ctxT(t), p.tp)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	mem := append([]cluster.IndexEntry(nil), p.index...)
	p.mu.Unlock()
	if len(idx) != 1 || len(mem) != 1 || idx[0] != mem[0] || idx[0].Object != l.held {
		t.Fatalf("etcd index %+v, memory %+v, first flush's object %s", idx, mem, l.held)
	}
	r := mustAck(t, mustAppend(t, p, mkBatch("third", 1, time.Now().UnixMilli())))
	if r.BaseOffset != 2 {
		t.Fatalf("next append at %d, want 2", r.BaseOffset)
	}
	if err := p.Resign(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, e, b.f.store, brokerOpts{node: 2})
	q := acquire(t, b2, p.tp)
	if got := readAll(t, q, 0); len(got) != 3 || got[0] != "first-0" || got[2] != "third-0" {
		t.Fatalf("successor reads %v", got)
	}
}

// The late txn applies during the second flush's first attempt; its retry
// finds etcd's hw at exactly its own end, which does not prove it applied:
// it is refused (the object record is absent) and the partition reloads.
func TestLateApplyOfEarlierFlushNotAckedAsRetry(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{RetryTimeout: time.Second, RetryBackoff: 10 * time.Millisecond}})
	l := &lateApply{f: b.f}
	b.f.commit = l.commit
	b.f.Start(context.Background())
	p := acquire(t, b, tpN(40, 0))
	if _, err := waitResult(t, mustAppend(t, p, mkBatch("first", 2, time.Now().UnixMilli()))); ErrorCode(err) != kerr.RequestTimedOut.Code {
		t.Fatalf("first flush: %v", err)
	}
	waitState(t, p, leading)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("resynced at %d, want 0 (the first flush's txn not applied yet)", hw)
	}
	_, err := waitResult(t, mustAppend(t, p, mkBatch("second", 2, time.Now().UnixMilli())))
	checkLateApply(t, e, b, l, p, err)
}

// The late txn applies and the second flush's outcome stays unknown: the
// resync finds etcd's hw at the second flush's end, but the index entry
// there is the first flush's: the partition reloads instead of adopting
// the second flush's entry.
func TestLateApplyOfEarlierFlushNotAdoptedByResync(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{RetryTimeout: 200 * time.Millisecond, RetryBackoff: 10 * time.Millisecond}})
	l := &lateApply{f: b.f, stuck: true}
	b.f.commit = l.commit
	b.f.Start(context.Background())
	p := acquire(t, b, tpN(41, 0))
	if _, err := waitResult(t, mustAppend(t, p, mkBatch("first", 2, time.Now().UnixMilli()))); ErrorCode(err) != kerr.RequestTimedOut.Code {
		t.Fatalf("first flush: %v", err)
	}
	waitState(t, p, leading)
	_, err := waitResult(t, mustAppend(t, p, mkBatch("second", 2, time.Now().UnixMilli())))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("second flush: %v", err)
	}
	checkLateApply(t, e, b, l, p, err)
}

// appliedThenErr wraps a flusher's commit: the first call reaches etcd and
// is applied, but reports an error no class covers (a reply cut off).
type appliedThenErr struct {
	f    *Flusher
	mu   sync.Mutex
	done bool
}

func (a *appliedThenErr) commit(ctx context.Context, apps []cluster.PartitionAppend, obj cluster.ObjectMeta) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.f.member.Commit(ctx, apps, obj); err != nil || a.done {
		return err
	}
	a.done = true
	return errors.New("rpc error: stream reset (test)")
}

// An unclassified commit error may come after etcd applied the txn: the
// object is kept (the index points at it) and the partition resyncs,
// finds the flush applied and serves it.
func TestUnclassifiedCommitErrorKeepsObject(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true})
	a := &appliedThenErr{f: b.f}
	b.f.commit = a.commit
	b.f.Start(context.Background())
	p := acquire(t, b, tpN(42, 0))
	_, err := waitResult(t, mustAppend(t, p, mkBatch("applied", 2, time.Now().UnixMilli())))
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("append: %v", err)
	}
	waitState(t, p, leading)
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("hw %d, want 2 (the flush was applied)", hw)
	}
	if got := readAll(t, p, 0); len(got) != 2 || got[0] != "applied-0" {
		t.Fatalf("log %v", got)
	}
	// The object is still in the store (read it past the cache).
	idx, err := b.client.LoadIndex(ctxT(t), p.tp)
	if err != nil || len(idx) != 1 {
		t.Fatalf("index %+v %v", idx, err)
	}
	if _, err := store.Get(ctxT(t), idx[0].Object, idx[0].Position, idx[0].Length); err != nil {
		t.Fatalf("the committed object: %v", err)
	}
}
