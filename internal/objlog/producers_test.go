package objlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
)

// idemBatch is a batch of n records of producer pid at epoch, its first
// sequence seq.
func idemBatch(tag string, n int, ts, pid int64, epoch int16, seq int32) []byte {
	b := mkBatch(tag, n, ts)
	setProducer(b, pid, epoch, seq)
	return b
}

// setProducer gives batch b a producer id, epoch and first sequence.
func setProducer(b []byte, pid int64, epoch int16, seq int32) {
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// flushNow advances the manual clock past the flush interval once the
// flusher waits on it.
func flushNow(t *testing.T, clock *manualClock) {
	t.Helper()
	clock.waitWaiter(t)
	clock.advance(DefaultFlushInterval)
}

// Idempotent appends on one leader: sequences checked, a retry of a
// pending batch shares the original's completion, a retry of a
// committed one gets its offsets without a second append, epochs fence;
// then a new leader loads the committed state from etcd and still
// recognises the retry.
func TestIdempotentAppendsAndFailover(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(9, 0)
	p := acquire(t, a, tp)
	now := clock.Now().UnixMilli()

	first := mustAppend(t, p, idemBatch("s0", 3, now, 7, 0, 0))
	second := mustAppend(t, p, idemBatch("s3", 2, now, 7, 0, 3))
	// A retry of a batch still waiting for its flush: the same completion.
	retry, err := p.Append(idemBatch("s3", 2, now, 7, 0, 3))
	if err != nil || retry != second {
		t.Fatalf("retry of a pending batch: %v (same completion: %v)", err, retry == second)
	}
	// A gap.
	if _, err := p.Append(idemBatch("gap", 1, now, 7, 0, 9)); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap: %v", err)
	}
	flushNow(t, clock)
	if r := mustAck(t, first); r.BaseOffset != 0 || r.LastOffset != 2 {
		t.Fatalf("first batch at %+v", r)
	}
	if r := mustAck(t, second); r.BaseOffset != 3 || r.LastOffset != 4 {
		t.Fatalf("second batch at %+v", r)
	}
	// A retry of a committed batch: its offsets at once, nothing appended.
	c, err := p.Append(idemBatch("s0", 3, now, 7, 0, 0))
	if err != nil || !isDone(c) {
		t.Fatalf("retry of a committed batch: %v", err)
	}
	if r := mustAck(t, c); r.BaseOffset != 0 || r.LastOffset != 2 {
		t.Fatalf("retry answered %+v", r)
	}
	if p.HighWatermark() != 5 {
		t.Fatalf("hw %d after a retry", p.HighWatermark())
	}
	// A new epoch must start at sequence 0; then the old epoch is fenced.
	if _, err := p.Append(idemBatch("e1", 1, now, 7, 1, 5)); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at sequence 5: %v", err)
	}
	e1 := mustAppend(t, p, idemBatch("e1", 1, now, 7, 1, 0))
	if _, err := p.Append(idemBatch("old", 1, now, 7, 0, 5)); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after a new one: %v", err)
	}
	// Another producer and a batch without one share the flush.
	other := mustAppend(t, p, idemBatch("p8", 2, now, 8, 0, 0))
	plain := mustAppend(t, p, mkBatch("plain", 1, now))
	flushNow(t, clock)
	for _, c := range []*Completion{e1, other, plain} {
		mustAck(t, c)
	}
	if st, hw, err := a.client.Producers(ctxT(t), tp); err != nil || st == nil || hw != 9 {
		t.Fatalf("producer state in etcd: %d bytes at hw %d, %v", len(st), hw, err)
	}

	// The leader goes; the successor loads the state with the offsets.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	a.f.Close(ended)
	if err := a.member.Close(); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2, cfg: Config{Clock: clock}})
	q := acquire(t, b, tp)
	c, err = q.Append(idemBatch("p8", 2, now, 8, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if r := mustAck(t, c); r.BaseOffset != 6 || r.LastOffset != 7 {
		t.Fatalf("retry at the new leader answered %+v, want [6, 7]", r)
	}
	if _, err := q.Append(idemBatch("old", 1, now, 7, 0, 1)); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("fenced epoch at the new leader: %v", err)
	}
	if _, err := q.Append(idemBatch("gap", 1, now, 8, 0, 5)); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("gap at the new leader: %v", err)
	}
	next := mustAppend(t, q, idemBatch("p8b", 1, now, 8, 0, 2))
	flushNow(t, clock)
	if r := mustAck(t, next); r.BaseOffset != 9 {
		t.Fatalf("next batch at %d, want 9", r.BaseOffset)
	}
	if got := readAll(t, q, 0); len(got) != 10 {
		t.Fatalf("the log holds %d records, want 10: %v", len(got), got)
	}
}

// A flush that fails (nothing applied) resets the working state: the
// client's retry of the failed batch is appended, not answered as a
// duplicate of offsets that were never committed.
func TestIdempotentStateResetOnFailedFlush(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(10, 0)
	p := acquire(t, a, tp)
	now := clock.Now().UnixMilli()
	mustAck(t, func() *Completion {
		c := mustAppend(t, p, idemBatch("a", 2, now, 3, 0, 0))
		flushNow(t, clock)
		return c
	}())
	// The next commit is refused before it is sent: nothing applied.
	a.f.commit = func(context.Context, []cluster.PartitionAppend, cluster.ObjectMeta) error {
		return cluster.ErrInvalid
	}
	c := mustAppend(t, p, idemBatch("b", 2, now, 3, 0, 2))
	flushNow(t, clock)
	if _, err := waitResult(t, c); err == nil {
		t.Fatal("append of a refused commit acknowledged")
	}
	a.f.commit = a.member.Commit
	c = mustAppend(t, p, idemBatch("b", 2, now, 3, 0, 2))
	if isDone(c) {
		t.Fatal("the retry of a failed batch was answered as a duplicate")
	}
	flushNow(t, clock)
	if r := mustAck(t, c); r.BaseOffset != 2 {
		t.Fatalf("retry at %d, want 2", r.BaseOffset)
	}
}

// Producers expire after producer.id.expiration.ms: the successor does
// not load them.
func TestIdempotentExpiry(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(11, 0)
	p := acquire(t, a, tp)
	c := mustAppend(t, p, idemBatch("a", 1, clock.Now().UnixMilli(), 4, 0, 0))
	flushNow(t, clock)
	mustAck(t, c)
	clock.advance(25 * time.Hour)
	a.f.Close(context.Background())
	if err := a.member.Close(); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2, cfg: Config{Clock: clock}})
	q := acquire(t, b, tp)
	// Unknown now: any sequence is taken (Kafka since KIP-360).
	c = mustAppend(t, q, idemBatch("b", 1, clock.Now().UnixMilli(), 4, 0, 0))
	flushNow(t, clock)
	if r := mustAck(t, c); r.BaseOffset != 1 {
		t.Fatalf("expired producer's batch at %d, want 1 (appended again)", r.BaseOffset)
	}
}

// Commits whose replies are lost or that time out, at random, under
// idempotent producers that resend what failed in order (as Kafka
// producers do, 3 batches in flight): every batch is in the log exactly
// once, at the offsets its acknowledgements gave, and the producer state
// in memory is etcd's.
func TestIdempotentRandomCommitOutcomes(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1, noStart: true, cfg: Config{
		RetryTimeout: 40 * time.Millisecond, RetryBackoff: 5 * time.Millisecond, FlushInterval: 2 * time.Millisecond}})
	rc := &randomCommits{f: b.f, rng: rand.New(rand.NewPCG(3, 4))}
	rc.on.Store(true)
	b.f.commit = rc.commit
	b.f.Start(context.Background())
	const batches, window = 60, 3
	ps := make([]*Partition, 3)
	acked := make([]map[int]int64, len(ps)) // batch -> base offset
	for i := range ps {
		ps[i] = acquire(t, b, tpN(18, int32(i)))
		acked[i] = map[int]int64{}
	}
	var resent, shared atomic.Int32
	var wg sync.WaitGroup
	for i, p := range ps {
		pid := int64(100 + i)
		wg.Go(func() {
			next := 0
			for next < batches {
				var cs []*Completion
				for k := next; k < min(next+window, batches); k++ {
					batch := idemBatch(fmt.Sprintf("b%d", k), 2, time.Now().UnixMilli(), pid, 0, int32(2*k))
					c, err := p.Append(batch)
					if err == nil && k%5 == 0 {
						// A retry at once, while the batch most likely
						// waits (then it shares its completion); whatever
						// it gets, the log must hold the batch once.
						if again, aerr := p.Append(idemBatch(fmt.Sprintf("b%d", k), 2, time.Now().UnixMilli(), pid, 0, int32(2*k))); aerr == nil && again == c {
							shared.Add(1)
						}
					}
					if err != nil {
						if errors.Is(err, ErrBusy) {
							if err := awaitLeading(p); err != nil {
								t.Error(err)
								return
							}
						} else if !errors.Is(err, log.ErrOutOfOrderSequence) {
							t.Errorf("partition %d batch %d: append refused: %v", i, k, err)
							return
						}
						break // resend from the first batch not acknowledged
					}
					cs = append(cs, c)
				}
				failed := false
				for j, c := range cs {
					k := next + j
					r, err := c.Wait(ctxT(t))
					if err != nil {
						if ErrorCode(err) != kerr.RequestTimedOut.Code {
							t.Errorf("partition %d batch %d: %v", i, k, err)
							return
						}
						failed = true
						continue
					}
					if failed {
						t.Errorf("partition %d batch %d acknowledged after an earlier one failed", i, k)
						return
					}
					if prev, ok := acked[i][k]; ok && prev != r.BaseOffset {
						t.Errorf("partition %d batch %d acknowledged at %d and at %d", i, k, prev, r.BaseOffset)
						return
					}
					acked[i][k] = r.BaseOffset
				}
				for next < batches {
					if _, ok := acked[i][next]; !ok {
						break
					}
					next++
				}
				if failed || len(cs) < min(window, batches-next) {
					resent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	rc.on.Store(false)
	t.Logf("%d resends, %d immediate retries shared the original's completion", resent.Load(), shared.Load())
	if resent.Load() == 0 {
		t.Fatal("no flush failed: the test exercised nothing")
	}
	for i, p := range ps {
		waitState(t, p, leading)
		got := readAll(t, p, 0)
		if len(got) != 2*batches {
			t.Fatalf("partition %d holds %d records, want %d", i, len(got), 2*batches)
		}
		for k := range batches {
			off := acked[i][k]
			if got[off] != fmt.Sprintf("b%d-0", k) || got[off+1] != fmt.Sprintf("b%d-1", k) {
				t.Fatalf("partition %d batch %d acknowledged at %d, the log has %q %q there", i, k, off, got[off], got[off+1])
			}
		}
		st, hw, err := b.client.Producers(ctxT(t), p.tp)
		if err != nil || hw != p.HighWatermark() {
			t.Fatalf("partition %d: state at hw %d (%v), in memory hw %d", i, hw, err, p.HighWatermark())
		}
		p.mu.Lock()
		mine, _ := p.committed.MarshalBinary()
		p.mu.Unlock()
		if !bytes.Equal(st, mine) {
			t.Fatalf("partition %d: producer state in etcd differs from memory", i)
		}
	}
}

// A flush carries at most maxCommitStateBytes of producer state (always
// at least one append); batches without a producer add none.
func TestTakeBoundsProducerState(t *testing.T) {
	f := &Flusher{queueParts: map[*Partition]int{}}
	f.cfg.setDefaults(100)
	big, other, plain := &Partition{}, &Partition{}, &Partition{}
	big.stateBytes.Store(maxCommitStateBytes)
	other.stateBytes.Store(maxCommitStateBytes / 2)
	plain.stateBytes.Store(maxCommitStateBytes)
	pa := func(p *Partition, pid int64) *pendingAppend {
		a := &pendingAppend{p: p, batch: make([]byte, 100)}
		a.h.ProducerID = pid
		f.queue = append(f.queue, a)
		f.queueBytes += 100
		f.queueParts[p]++
		return a
	}
	a1, a2 := pa(big, 1), pa(big, 2)
	pa(other, 1)
	if got := f.take(); len(got) != 2 || got[0] != a1 || got[1] != a2 {
		t.Fatalf("first flush took %d appends, want the 2 of the partition whose state fills a commit", len(got))
	}
	pa(plain, -1)
	if got := f.take(); len(got) != 2 {
		t.Fatalf("second flush took %d appends, want 2 (the plain batch adds no state)", len(got))
	}
}
