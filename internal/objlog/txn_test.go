package objlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
)

// txnBatch is a transactional batch of n records of producer pid at
// epoch, its first sequence seq.
func txnBatch(tag string, n int, ts, pid int64, epoch int16, seq int32) []byte {
	b := mkBatch(tag, n, ts)
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
	setProducer(b, pid, epoch, seq) // recomputes the CRC
	return b
}

func mustMarker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool) *Completion {
	t.Helper()
	c, err := p.AppendMarker(pid, epoch, commit, 3)
	if err != nil {
		t.Fatalf("marker of producer %d: %v", pid, err)
	}
	return c
}

// flushAck flushes and waits for every completion to be acknowledged.
func flushAck(t *testing.T, clock *manualClock, cs ...*Completion) []AppendResult {
	t.Helper()
	flushNow(t, clock)
	out := make([]AppendResult, len(cs))
	for i, c := range cs {
		out[i] = mustAck(t, c)
	}
	return out
}

// readCommitted reads at read_committed from offset to the LSO: records
// by offset (data records only) and the aborted transactions reported.
func readCommitted(t *testing.T, p *Partition, from int64) (map[int64]string, []log.AbortedTxn, int64) {
	t.Helper()
	r, err := p.ReadCommitted(ctxT(t), from, 1<<20)
	if err != nil {
		t.Fatalf("read_committed at %d: %v", from, err)
	}
	got := map[int64]string{}
	for b := r.Batches; len(b) > 0; {
		h, err := log.CheckStoredBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset >= r.LastStableOffset {
			t.Fatalf("read_committed returned a batch at %d, LSO %d", h.BaseOffset, r.LastStableOffset)
		}
		if !h.Control() {
			for o, v := range records(t, b[:h.Size()]) {
				if o >= from {
					got[o] = v
				}
			}
		}
		b = b[h.Size():]
	}
	return got, r.Aborted, r.LastStableOffset
}

func checkLSO(t *testing.T, p *Partition, want int64) {
	t.Helper()
	if got := p.LastStableOffset(); got != want {
		t.Fatalf("LSO %d, want %d (hw %d)", got, want, p.HighWatermark())
	}
}

// Transactional appends, then commit and abort markers: the LSO stays at
// the first offset of the earliest open transaction until its marker is
// committed; aborted transactions are listed; markers of old epochs are
// refused and new ones fence; a new leader loads all of it.
func TestTxnMarkersAndLSO(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(40, 0)
	p := acquire(t, a, tp)
	now := clock.Now().UnixMilli()

	// Producers may not write control batches.
	if _, err := p.Append(log.ControlBatch(5, 1, true, 0, now)); !errors.Is(err, log.ErrInvalidRecord) {
		t.Fatalf("a client's control batch: %v", err)
	}
	flushAck(t, clock,
		mustAppend(t, p, mkBatch("plain", 2, now)),        // [0, 1]
		mustAppend(t, p, txnBatch("t5", 2, now, 5, 1, 0)), // [2, 3] opens 5 at 2
		mustAppend(t, p, txnBatch("t6", 1, now, 6, 0, 0))) // [4] opens 6 at 4
	checkLSO(t, p, 2)
	got, aborted, lso := readCommitted(t, p, 0)
	if len(got) != 2 || got[0] != "plain-0" || got[1] != "plain-1" || len(aborted) != 0 || lso != 2 {
		t.Fatalf("read_committed from 0: %v %v LSO %d", got, aborted, lso)
	}
	if got, _, _ := readCommitted(t, p, 2); len(got) != 0 {
		t.Fatalf("read_committed at the LSO: %v", got)
	}
	if got := readAll(t, p, 0); len(got) != 5 {
		t.Fatalf("read_uncommitted holds %d records, want 5", len(got))
	}
	// A retry of a transactional batch is a duplicate as for idempotence.
	if c, err := p.Append(txnBatch("t5", 2, now, 5, 1, 0)); err != nil || !isDone(c) {
		t.Fatalf("retry of a committed transactional batch: %v", err)
	} else if r := mustAck(t, c); r.BaseOffset != 2 {
		t.Fatalf("retry answered %+v", r)
	}

	more := mustAppend(t, p, txnBatch("t5b", 1, now, 5, 1, 2)) // [5]
	abort := mustMarker(t, p, 5, 1, false)                     // [6]
	// Not committed yet: the LSO and the aborted list stay.
	checkLSO(t, p, 2)
	if a := p.AbortedTxns(0, 100); len(a) != 0 {
		t.Fatalf("aborted before the marker committed: %v", a)
	}
	if r := flushAck(t, clock, more, abort); r[1].BaseOffset != 6 || r[1].LastOffset != 6 {
		t.Fatalf("abort marker at %+v, want 6", r[1])
	}
	checkLSO(t, p, 4) // producer 6 is still open at 4
	want := []log.AbortedTxn{{ProducerID: 5, FirstOffset: 2, LastOffset: 6}}
	if a := p.AbortedTxns(0, 100); !slices.Equal(a, want) {
		t.Fatalf("aborted %v, want %v", a, want)
	}
	if a := p.AbortedTxns(7, 100); len(a) != 0 {
		t.Fatalf("aborted from 7: %v", a)
	}
	// An old epoch's marker is refused; the batch above stays the last.
	if _, err := p.AppendMarker(5, 0, true, 3); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an old epoch: %v", err)
	}

	flushAck(t, clock, mustMarker(t, p, 6, 0, true)) // [7]
	checkLSO(t, p, 8)
	got, aborted, lso = readCommitted(t, p, 0)
	if len(got) != 6 || got[4] != "t6-0" || got[5] != "t5b-0" || !slices.Equal(aborted, want) || lso != 8 {
		t.Fatalf("read_committed after both markers: %v aborted %v LSO %d", got, aborted, lso)
	}
	// The marker bytes are Kafka's EndTransactionMarker.
	r, err := p.ReadCommitted(ctxT(t), 7, 1<<20)
	if err != nil || log.MarkerType(r.Batches) != log.MarkerCommit {
		t.Fatalf("the commit marker at 7: %v", err)
	}

	// A marker of a newer epoch with no open transaction is written,
	// fences the producer and changes nothing else.
	flushAck(t, clock, mustMarker(t, p, 6, 1, false)) // [8]
	checkLSO(t, p, 9)
	if _, err := p.Append(txnBatch("fenced", 1, now, 6, 0, 1)); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("producer fenced by a marker: %v", err)
	}
	if a := p.AbortedTxns(0, 100); !slices.Equal(a, want) {
		t.Fatalf("aborted after a marker with no transaction: %v", a)
	}
	// One transaction left open across the leader change.
	flushAck(t, clock, mustAppend(t, p, txnBatch("t7", 2, now, 7, 0, 0))) // [9, 10]
	checkLSO(t, p, 9)
	infos := p.Producers()
	if len(infos) != 3 || infos[2].ProducerID != 7 || infos[2].TxnStart != 9 || infos[0].TxnStart != -1 {
		t.Fatalf("producers %+v", infos)
	}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	a.f.Close(ended)
	if err := a.member.Close(); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2, cfg: Config{Clock: clock}})
	q := acquire(t, b, tp)
	checkLSO(t, q, 9)
	if a := q.AbortedTxns(0, 100); !slices.Equal(a, want) {
		t.Fatalf("aborted at the new leader: %v", a)
	}
	if _, err := q.AppendMarker(6, 0, true, 3); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("old-epoch marker at the new leader: %v", err)
	}
	flushAck(t, clock, mustMarker(t, q, 7, 0, false)) // [11]
	checkLSO(t, q, 12)
	want = append(want, log.AbortedTxn{ProducerID: 7, FirstOffset: 9, LastOffset: 11})
	got, aborted, _ = readCommitted(t, q, 3)
	if !slices.Equal(aborted, want) || len(got) != 5 {
		t.Fatalf("read_committed at the new leader: %v aborted %v", got, aborted)
	}
	if a, _, _ := readCommitted(t, q, 12); len(a) != 0 {
		t.Fatalf("read_committed at the hw: %v", a)
	}
}

// A flush that fails (nothing applied) resets the working state with its
// transactions: a transaction its batch opened is not open, a marker it
// carried did not close one; the committed LSO never moved.
func TestTxnStateResetOnFailedFlush(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(41, 0)
	p := acquire(t, a, tp)
	now := clock.Now().UnixMilli()
	flushAck(t, clock, mustAppend(t, p, txnBatch("a", 2, now, 3, 0, 0))) // [0, 1]
	checkLSO(t, p, 0)

	a.f.commit = func(context.Context, []cluster.PartitionAppend, cluster.ObjectMeta) error {
		return cluster.ErrInvalid
	}
	marker := mustMarker(t, p, 3, 0, true)
	opened := mustAppend(t, p, txnBatch("b", 1, now, 4, 0, 0))
	p.mu.Lock()
	open := p.prod.Open()
	p.mu.Unlock()
	if len(open) != 1 || open[4] != 3 {
		t.Fatalf("working state before the flush: open %v, want producer 4 at 3", open)
	}
	flushNow(t, clock)
	for _, c := range []*Completion{marker, opened} {
		if _, err := waitResult(t, c); err == nil {
			t.Fatal("append of a refused commit acknowledged")
		}
	}
	p.mu.Lock()
	open = p.prod.Open()
	p.mu.Unlock()
	if len(open) != 1 || open[3] != 0 {
		t.Fatalf("working state after the failed flush: open %v, want producer 3 at 0 only", open)
	}
	checkLSO(t, p, 0)

	a.f.commit = a.member.Commit
	flushAck(t, clock, mustMarker(t, p, 3, 0, false)) // [2]
	checkLSO(t, p, 3)
	want := []log.AbortedTxn{{ProducerID: 3, FirstOffset: 0, LastOffset: 2}}
	if a := p.AbortedTxns(0, 10); !slices.Equal(a, want) {
		t.Fatalf("aborted %v, want %v", a, want)
	}
	st, hw, err := a.client.Producers(ctxT(t), tp)
	p.mu.Lock()
	mine, _ := p.committed.MarshalBinary()
	p.mu.Unlock()
	if err != nil || hw != 3 || !bytes.Equal(st, mine) {
		t.Fatalf("state in etcd at hw %d (%v) differs from memory", hw, err)
	}
}

// An aborted transaction whose marker falls below the log start is
// pruned when the state is next committed; the new leader does not see
// it. The LSO never falls below the log start.
func TestTxnAbortedPrunedBelowLogStart(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(42, 0)
	p := acquire(t, a, tp)
	now := clock.Now().UnixMilli()
	flushAck(t, clock,
		mustAppend(t, p, txnBatch("a", 2, now, 3, 0, 0)), // [0, 1]
		mustMarker(t, p, 3, 0, false),                    // [2]
		mustAppend(t, p, txnBatch("b", 1, now, 4, 0, 0)), // [3]
		mustMarker(t, p, 4, 0, false))                    // [4]
	if a := p.AbortedTxns(0, 10); len(a) != 2 {
		t.Fatalf("aborted %v, want 2", a)
	}
	if ls, err := p.DeleteRecords(ctxT(t), 3); err != nil || ls != 3 {
		t.Fatalf("DeleteRecords(3) = %d, %v", ls, err)
	}
	flushAck(t, clock, mustAppend(t, p, idemBatch("c", 1, now, 5, 0, 0))) // [5]
	want := []log.AbortedTxn{{ProducerID: 4, FirstOffset: 3, LastOffset: 4}}
	if a := p.AbortedTxns(0, 10); !slices.Equal(a, want) {
		t.Fatalf("aborted after the log start moved %v, want %v", a, want)
	}
	// A log start past an open transaction's start: the LSO is the log
	// start (as Kafka's).
	flushAck(t, clock,
		mustAppend(t, p, txnBatch("d", 2, now, 6, 0, 0)), // [6, 7]
		mustAppend(t, p, mkBatch("e", 1, now)))           // [8]
	checkLSO(t, p, 6)
	if ls, err := p.DeleteRecords(ctxT(t), 7); err != nil || ls != 7 {
		t.Fatalf("DeleteRecords(7) = %d, %v", ls, err)
	}
	checkLSO(t, p, 7)
	if r, err := p.ReadCommitted(ctxT(t), 7, 1<<20); err != nil || r.LastStableOffset != 7 || len(r.Batches) != 0 {
		t.Fatalf("read_committed at the log start: LSO %d, %d bytes, %v", r.LastStableOffset, len(r.Batches), err)
	}
	a.f.Close(context.Background())
	if err := a.member.Close(); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2, cfg: Config{Clock: clock}})
	q := acquire(t, b, tp)
	if a := q.AbortedTxns(0, 10); !slices.Equal(a, want) {
		t.Fatalf("aborted at the new leader %v, want %v", a, want)
	}
	checkLSO(t, q, 7)
}
