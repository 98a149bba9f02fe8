package objlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// Batches of 20 partitions appended within one flush interval go into ONE
// object and ONE commit; each partition reads back its batches at their
// offsets, byte for byte as acknowledged, through a second broker too;
// nothing is readable or acknowledged before the interval passed.
func TestRoundTripManyPartitions(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	const parts, perPart = 20, 3
	ps := make([]*Partition, parts)
	var comps [parts][perPart]*Completion
	var sent [parts][perPart][]byte
	for i := range ps {
		ps[i] = acquire(t, b, tpN(1, int32(i)))
		if ps[i].Epoch() != 0 || ps[i].HighWatermark() != 0 {
			t.Fatalf("new partition: epoch %d hw %d", ps[i].Epoch(), ps[i].HighWatermark())
		}
	}
	for j := range perPart {
		for i, p := range ps {
			sent[i][j] = mkBatch(fmt.Sprintf("p%d-b%d", i, j), j+1, clock.Now().UnixMilli())
			comps[i][j] = mustAppend(t, p, sent[i][j])
		}
	}
	clock.waitWaiter(t)
	clock.advance(DefaultFlushInterval - time.Millisecond)
	for i := range ps {
		if isDone(comps[i][0]) || ps[i].HighWatermark() != 0 {
			t.Fatalf("partition %d acknowledged before the flush interval", i)
		}
		if got, err := ps[i].Read(ctxT(t), 0, 1<<20); err != nil || len(got) != 0 {
			t.Fatalf("partition %d readable before the flush: %d bytes, %v", i, len(got), err)
		}
	}
	changed := ps[0].Changed()
	clock.advance(time.Millisecond)
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("Changed not closed when the hw moved")
	}
	for i := range ps {
		next := int64(0)
		for j := range perPart {
			r := mustAck(t, comps[i][j])
			if r.BaseOffset != next || r.LastOffset != next+int64(j) || r.LogAppendTime != -1 {
				t.Fatalf("partition %d batch %d: %+v, want base %d", i, j, r, next)
			}
			h, _ := log.ParseBatchHeader(sent[i][j])
			if h.BaseOffset != r.BaseOffset || h.PartitionLeaderEpoch != 0 {
				t.Fatalf("batch header not assigned: %+v", h)
			}
			next = r.LastOffset + 1
		}
		if hw := ps[i].HighWatermark(); hw != next {
			t.Fatalf("partition %d hw %d, want %d", i, hw, next)
		}
	}
	if objs := objectNames(t, b.client); len(objs) != 1 {
		t.Fatalf("objects after one flush: %v", objs)
	}
	check := func(p *Partition, i int) {
		t.Helper()
		got, err := p.Read(ctxT(t), 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Join(sent[i][:], nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("partition %d: read %d bytes, want the %d acknowledged", i, len(got), len(want))
		}
		// From the middle of the second batch: that batch on.
		got, err = p.Read(ctxT(t), 2, 1<<20)
		if err != nil || !bytes.Equal(got, bytes.Join(sent[i][1:], nil)) {
			t.Fatalf("partition %d from offset 2: %d bytes, %v", i, len(got), err)
		}
		// maxBytes smaller than a batch: still one whole batch.
		got, err = p.Read(ctxT(t), 0, 1)
		if err != nil || !bytes.Equal(got, sent[i][0]) {
			t.Fatalf("partition %d with maxBytes 1: %d bytes, %v", i, len(got), err)
		}
		if got, err := p.Read(ctxT(t), 6, 100); err != nil || len(got) != 0 {
			t.Fatalf("read at hw: %d bytes, %v", len(got), err)
		}
		if _, err := p.Read(ctxT(t), 7, 100); ErrorCode(err) != kerr.OffsetOutOfRange.Code {
			t.Fatalf("read past hw: %v", err)
		}
	}
	for i, p := range ps {
		check(p, i)
	}
	// Another broker takes the partitions over and reads the same.
	for _, p := range ps {
		if err := p.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Append(mkBatch("late", 1, 0)); ErrorCode(err) != kerr.NotLeaderForPartition.Code {
			t.Fatalf("append after resigning: %v", err)
		}
	}
	b2 := startBroker(t, e, store, brokerOpts{node: 2})
	for i := range ps {
		p := acquire(t, b2, tpN(1, int32(i)))
		if p.Epoch() != 1 || p.HighWatermark() != 6 {
			t.Fatalf("taken over: epoch %d hw %d", p.Epoch(), p.HighWatermark())
		}
		check(p, i)
	}
}

// A flush starts before the interval once cluster.flush.max.bytes wait,
// and carries at most that many bytes; one starts once as many
// partitions wait as one etcd commit may carry (max-txn-ops 13: 4).
func TestFlushBounds(t *testing.T) {
	e := etcdtest.Start(t, 13) // (13-1)/3: 4 partitions per commit
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	batch := mkBatch("x", 10, clock.Now().UnixMilli())
	b := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock, FlushMaxBytes: 3 * len(batch)}})
	if b.f.cfg.MaxPartitionsPerFlush != 4 {
		t.Fatalf("max partitions per flush %d, want 4", b.f.cfg.MaxPartitionsPerFlush)
	}
	p := acquire(t, b, tpN(2, 0))
	var cs []*Completion
	for range 6 {
		cs = append(cs, mustAppend(t, p, bytes.Clone(batch)))
	}
	// Two full flushes, no clock movement.
	for _, c := range cs {
		mustAck(t, c)
	}
	if objs := objectNames(t, b.client); len(objs) != 2 {
		t.Fatalf("6 batches at 3 per flush: objects %v", objs)
	}
	ps := make([]*Partition, 10)
	cs = cs[:0]
	for i := range ps {
		ps[i] = acquire(t, b, tpN(3, int32(i)))
	}
	for _, q := range ps {
		cs = append(cs, mustAppend(t, q, mkBatch("y", 1, clock.Now().UnixMilli())))
	}
	for _, c := range cs[:8] {
		mustAck(t, c)
	}
	if objs := objectNames(t, b.client); len(objs) != 4 {
		t.Fatalf("10 partitions at 4 per flush: objects %v", objs)
	}
	if isDone(cs[8]) || isDone(cs[9]) {
		t.Fatal("the last 2 partitions flushed before the interval")
	}
	clock.advance(DefaultFlushInterval)
	mustAck(t, cs[8])
	mustAck(t, cs[9])
}

// A leader that stops without flushing loses only what it did not
// acknowledge: its successor (epoch+1) continues at the hw with every
// acknowledged record readable at its offset, and writes its own epoch.
func TestFailoverKeepsAcknowledged(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	tp := tpN(4, 0)
	p := acquire(t, a, tp)
	acked := map[int64]string{}
	for round := range 3 {
		var cs []*Completion
		for j := range 4 {
			cs = append(cs, mustAppend(t, p, mkBatch(fmt.Sprintf("a-r%d-b%d", round, j), 3, clock.Now().UnixMilli())))
		}
		clock.waitWaiter(t)
		clock.advance(DefaultFlushInterval)
		for j, c := range cs {
			r := mustAck(t, c)
			for k := range 3 {
				acked[r.BaseOffset+int64(k)] = fmt.Sprintf("a-r%d-b%d-%d", round, j, k)
			}
		}
	}
	hw := p.HighWatermark()
	// Appended, never flushed.
	var lost []*Completion
	for j := range 5 {
		lost = append(lost, mustAppend(t, p, mkBatch(fmt.Sprintf("unacked-%d", j), 2, clock.Now().UnixMilli())))
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	a.f.Close(ended)
	for _, c := range lost {
		if _, err := waitResult(t, c); ErrorCode(err) != kerr.NotLeaderForPartition.Code {
			t.Fatalf("unflushed append at close: %v", err)
		}
	}
	if err := a.member.Close(); err != nil {
		t.Fatal(err)
	}

	b := startBroker(t, e, store, brokerOpts{node: 2})
	q := acquire(t, b, tp)
	if q.Epoch() != 1 || q.HighWatermark() != hw {
		t.Fatalf("successor: epoch %d hw %d, want 1 and %d", q.Epoch(), q.HighWatermark(), hw)
	}
	got := readAll(t, q, 0)
	if len(got) != len(acked) {
		t.Fatalf("successor reads %d records, %d were acknowledged", len(got), len(acked))
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d: %q, acknowledged %q", off, got[off], v)
		}
	}
	batch := mkBatch("b", 2, time.Now().UnixMilli())
	r := mustAck(t, mustAppend(t, q, batch))
	if r.BaseOffset != hw {
		t.Fatalf("successor appends at %d, want hw %d", r.BaseOffset, hw)
	}
	if h, _ := log.ParseBatchHeader(batch); h.PartitionLeaderEpoch != 1 {
		t.Fatalf("successor's batch epoch %d", h.PartitionLeaderEpoch)
	}
}

// An old leader that still believes it leads cannot make anything
// durable after a takeover: its flush's appends fail with
// NOT_LEADER_OR_FOLLOWER, the partition is lost to it, and neither the
// new leader nor etcd see its records; its object is deleted.
func TestFencedOldLeader(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	a := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(5, 0)
	p := acquire(t, a, tp)
	mustAck(t, mustAppend(t, p, mkBatch("before", 2, time.Now().UnixMilli())))
	// The old leader's key goes (as when its lease expires while it is
	// cut off) and another broker acquires.
	raw := e.Raw(t)
	if _, err := raw.Delete(ctxT(t), "/sluice/test/leaders/"+tp.String()); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, e, store, brokerOpts{node: 2})
	q := acquire(t, b, tp)
	if q.Epoch() != 1 || q.HighWatermark() != 2 {
		t.Fatalf("new leader: epoch %d hw %d", q.Epoch(), q.HighWatermark())
	}
	objsBefore := objectNames(t, b.client)
	_, err := waitResult(t, mustAppend(t, p, mkBatch("fenced", 3, time.Now().UnixMilli())))
	if ErrorCode(err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("old leader's append after takeover: %v", err)
	}
	if _, err := p.Append(mkBatch("again", 1, 0)); ErrorCode(err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("old leader's next append: %v", err)
	}
	if hw, err := b.client.HW(ctxT(t), tp); err != nil || hw != 2 {
		t.Fatalf("hw in etcd %d, %v", hw, err)
	}
	if objs := objectNames(t, b.client); len(objs) != len(objsBefore) {
		t.Fatalf("object records %v, before %v", objs, objsBefore)
	}
	var stored []string
	if err := store.List(ctxT(t), "data/", func(o objstore.ObjectInfo) error { stored = append(stored, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("objects in the store: %v (the fenced one should be deleted)", stored)
	}
	got := readAll(t, q, 0)
	if len(got) != 2 || got[0] != "before-0" || got[1] != "before-1" {
		t.Fatalf("new leader reads %v", got)
	}
	r := mustAck(t, mustAppend(t, q, mkBatch("new", 1, time.Now().UnixMilli())))
	if r.BaseOffset != 2 {
		t.Fatalf("new leader appends at %d", r.BaseOffset)
	}
}

// ListOffsets lookups, DeleteRecords and retention by the index.
func TestOffsetsAndDeleteRecords(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	b := startBroker(t, e, store, brokerOpts{node: 1})
	tp := tpN(6, 0)
	p := acquire(t, b, tp)
	// Five flushes of one 2-record batch each, timestamps 1000, 2000...;
	// batch 3 has the largest timestamp (9000).
	ts := []int64{1000, 2000, 9000, 4000, 5000}
	for i, t0 := range ts {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprintf("b%d", i), 2, t0)))
	}
	if len(p.index) != 5 {
		t.Fatalf("index entries %d, want one per flush", len(p.index))
	}
	ctx := ctxT(t)
	for _, c := range []struct{ ts, off, at int64 }{{0, 0, 1000}, {1500, 2, 2000}, {4500, 4, 9000}, {9000, 4, 9000}, {9001, -1, -1}} {
		off, at, err := p.OffsetForTimestamp(ctx, c.ts)
		if err != nil || off != c.off || at != c.at {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", c.ts, off, at, err, c.off, c.at)
		}
	}
	if off, at, err := p.MaxTimestamp(ctx); err != nil || off != 4 || at != 9000 {
		t.Fatalf("MaxTimestamp = %d, %d, %v", off, at, err)
	}
	// DeleteRecords in the middle of the second entry.
	if ls, err := p.DeleteRecords(ctx, 3); err != nil || ls != 3 {
		t.Fatalf("DeleteRecords(3) = %d, %v", ls, err)
	}
	if _, err := p.Read(ctx, 2, 100); ErrorCode(err) != kerr.OffsetOutOfRange.Code {
		t.Fatalf("read below log start: %v", err)
	}
	got := readAll(t, p, 3)
	if len(got) != 7 || got[3] != "b1-1" {
		t.Fatalf("after DeleteRecords: %v", got)
	}
	if off, _, err := p.OffsetForTimestamp(ctx, 0); err != nil || off != 3 {
		t.Fatalf("OffsetForTimestamp after DeleteRecords: %d, %v", off, err)
	}
	if entries, err := b.client.LoadIndex(ctx, tp); err != nil || len(entries) != 4 {
		t.Fatalf("etcd index after DeleteRecords: %d entries, %v", len(entries), err)
	}
	if _, err := p.DeleteRecords(ctx, 11); ErrorCode(err) != kerr.OffsetOutOfRange.Code {
		t.Fatalf("DeleteRecords past hw: %v", err)
	}
	// Retention: retention.ms 3000 at now 7000 drops entries with max ts
	// below 4000 that are not followed by... (entry max ts 2000 -> up to 4);
	// the 9000 entry stops the scan.
	cfg := topicCfg()
	cfg.RetentionMs, cfg.RetentionBytes = 3000, -1
	p.SetConfig(cfg)
	if off := p.RetentionOffset(7000); off != 4 {
		t.Fatalf("retention offset by time %d, want 4", off)
	}
	cfg.RetentionMs, cfg.RetentionBytes = -1, 2*p.index[0].Length
	p.SetConfig(cfg)
	if off := p.RetentionOffset(7000); off != 6 {
		t.Fatalf("retention offset by bytes %d, want 6", off)
	}
	// A successor sees the log start.
	if err := p.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	q := acquire(t, b, tp)
	if q.LogStartOffset() != 3 || q.HighWatermark() != 10 {
		t.Fatalf("successor: log start %d hw %d", q.LogStartOffset(), q.HighWatermark())
	}
	if got := readAll(t, q, 3); len(got) != 7 {
		t.Fatalf("successor reads %v", got)
	}
	if ls, err := q.DeleteRecords(ctx, -1); err != nil || ls != 10 {
		t.Fatalf("DeleteRecords(-1) = %d, %v", ls, err)
	}
	if got, err := q.Read(ctx, 10, 100); err != nil || len(got) != 0 {
		t.Fatalf("read of an emptied log: %d, %v", len(got), err)
	}
	if off, at, err := q.MaxTimestamp(ctx); err != nil || off != -1 || at != -1 {
		t.Fatalf("MaxTimestamp of an emptied log: %d %d %v", off, at, err)
	}
}

// Bad batches are refused before taking an offset; LogAppendTime topics
// get the broker's time.
func TestAppendValidatesAndStamps(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	b := startBroker(t, e, openStore(t, fakeS3(t)), brokerOpts{node: 1})
	p := acquire(t, b, tpN(7, 0))
	bad := mkBatch("x", 2, 0)
	bad[len(bad)-1] ^= 0xFF // CRC mismatch
	if _, err := p.Append(bad); !log.IsCorruption(err) {
		t.Fatalf("corrupt batch: %v", err)
	}
	if _, err := p.Append(nil); err == nil {
		t.Fatal("empty batch accepted")
	}
	r := mustAck(t, mustAppend(t, p, mkBatch("ok", 1, 0)))
	if r.BaseOffset != 0 || r.LogAppendTime != -1 {
		t.Fatalf("first good batch: %+v", r)
	}
	// A LogAppendTime topic: the broker's clock stamps the batch.
	cfg := topicCfg()
	cfg.TimestampType = log.LogAppendTime
	p.SetConfig(cfg)
	before := time.Now().UnixMilli()
	batch := mkBatch("lat", 2, 5)
	r = mustAck(t, mustAppend(t, p, batch))
	if r.LogAppendTime < before || r.LogAppendTime > time.Now().UnixMilli() || r.BaseOffset != 1 {
		t.Fatalf("LogAppendTime append: %+v (appended at %d)", r, before)
	}
	got, err := p.Read(ctxT(t), 1, 1<<20)
	if err != nil || !bytes.Equal(got, batch) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	h, _ := log.ParseBatchHeader(got)
	if !h.LogAppendTime() || h.MaxTimestamp != r.LogAppendTime {
		t.Fatalf("stored header %+v", h)
	}
	recs, err := log.DecodeRecords(got)
	if err != nil || recs[1].Timestamp != r.LogAppendTime {
		t.Fatalf("records %+v, %v (CRC or timestamps wrong)", recs, err)
	}
	if off, ts, err := p.OffsetForTimestamp(ctxT(t), r.LogAppendTime); err != nil || off != 1 || ts != r.LogAppendTime {
		t.Fatalf("OffsetForTimestamp(append time) = %d, %d, %v", off, ts, err)
	}
}

// A broker whose lease ends (here revoked behind its back, as when it
// expires) loses its partitions: its waiting appends fail with
// NOT_LEADER_OR_FOLLOWER and never become durable; another broker takes
// over at the next epoch with the acknowledged records.
func TestLeaseLostFailsWaitingAppends(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, ttl: 3 * time.Second, cfg: Config{Clock: clock}})
	tp := tpN(8, 0)
	p := acquire(t, a, tp)
	c := mustAppend(t, p, mkBatch("acked", 2, clock.Now().UnixMilli()))
	clock.waitWaiter(t)
	clock.advance(DefaultFlushInterval)
	mustAck(t, c)
	waiting := mustAppend(t, p, mkBatch("waiting", 2, clock.Now().UnixMilli()))
	if _, err := e.Raw(t).Revoke(ctxT(t), clientv3.LeaseID(a.member.Info().Lease)); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, lost)
	if _, err := waitResult(t, waiting); ErrorCode(err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("waiting append after the lease ended: %v", err)
	}
	clock.advance(DefaultFlushInterval) // nothing left to flush
	b := startBroker(t, e, store, brokerOpts{node: 2})
	q := acquire(t, b, tp)
	if q.Epoch() != 1 || q.HighWatermark() != 2 {
		t.Fatalf("successor: epoch %d hw %d", q.Epoch(), q.HighWatermark())
	}
	if got := readAll(t, q, 0); len(got) != 2 || got[1] != "acked-1" {
		t.Fatalf("successor reads %v", got)
	}
}

// Close with time to spare flushes what waits without waiting for the
// interval; the flusher then takes nothing more. A flusher whose Start
// context ends refuses appends too.
func TestCloseFlushesWaiting(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	store := openStore(t, fakeS3(t))
	clock := newManualClock()
	a := startBroker(t, e, store, brokerOpts{node: 1, cfg: Config{Clock: clock}})
	p := acquire(t, a, tpN(9, 0))
	c := mustAppend(t, p, mkBatch("w", 2, clock.Now().UnixMilli()))
	a.f.Close(ctxT(t))
	if r := mustAck(t, c); r.LastOffset != 1 {
		t.Fatalf("flushed at close: %+v", r)
	}
	if _, err := p.Append(mkBatch("late", 1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}

	b := startBroker(t, e, store, brokerOpts{node: 2, noStart: true})
	ctx, cancel := context.WithCancel(context.Background())
	b.f.Start(ctx)
	q := acquire(t, b, tpN(9, 1))
	cancel()
	<-b.f.done
	if _, err := q.Append(mkBatch("late", 1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after the flusher's context ended: %v", err)
	}
}

// Concurrent DeleteRecords calls (a client's and retention's) do not
// mistake each other for a new leader.
func TestConcurrentDeleteRecords(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	b := startBroker(t, e, openStore(t, fakeS3(t)), brokerOpts{node: 1})
	p := acquire(t, b, tpN(17, 0))
	for i := range 8 {
		mustAck(t, mustAppend(t, p, mkBatch(fmt.Sprint(i), 1, 0)))
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.DeleteRecords(ctxT(t), int64(i+1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("DeleteRecords(%d): %v", i+1, err)
		}
	}
	if p.Err() != nil || p.LogStartOffset() != 8 {
		t.Fatalf("after concurrent DeleteRecords: %v, log start %d", p.Err(), p.LogStartOffset())
	}
	if ls, err := b.client.LogStartOffset(ctxT(t), p.tp); err != nil || ls != 8 {
		t.Fatalf("etcd log start %d, %v", ls, err)
	}
}

// The flush buffer is bounded: past MaxPendingBytes appends are refused
// with a retriable error, and taken again once a flush made room.
func TestPendingBytesBound(t *testing.T) {
	e := etcdtest.Start(t, 4096)
	clock := newManualClock()
	batch := mkBatch("x", 5, clock.Now().UnixMilli())
	b := startBroker(t, e, openStore(t, fakeS3(t)), brokerOpts{node: 1, cfg: Config{Clock: clock, MaxPendingBytes: int64(2 * len(batch))}})
	p := acquire(t, b, tpN(18, 0))
	c1 := mustAppend(t, p, bytes.Clone(batch))
	c2 := mustAppend(t, p, bytes.Clone(batch))
	_, err := p.Append(bytes.Clone(batch))
	if !errors.Is(err, ErrBusy) || ErrorCode(err) != kerr.RequestTimedOut.Code {
		t.Fatalf("append past the buffer bound: %v", err)
	}
	clock.waitWaiter(t)
	clock.advance(DefaultFlushInterval)
	mustAck(t, c1)
	mustAck(t, c2)
	c3 := mustAppend(t, p, bytes.Clone(batch))
	clock.waitWaiter(t)
	clock.advance(DefaultFlushInterval)
	if r := mustAck(t, c3); r.BaseOffset != 10 {
		t.Fatalf("after the refused append: %+v", r)
	}
}
