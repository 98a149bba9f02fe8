package log

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// crash abandons l the way a killed process would: its files are closed
// with nothing flushed, no snapshot and no clean-shutdown marker.
func crash(l *Log) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.busy.Wait()
	l.closeFiles()
}

func idem(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	s := plain(n)
	s.pid, s.epoch, s.seq = pid, epoch, seq
	return build(t, s)
}

func TestIdempotentProducer(t *testing.T) {
	o := testOpts(t, DefaultConfig())
	l := mustOpen(t, o)
	defer func() { l.Close() }()

	type step struct {
		name      string
		pid       int64
		epoch     int16
		seq       int32
		n         int
		want      error
		dup       bool
		wantBase  int64 // for duplicates
		wantCount int64 // records in the log afterwards
	}
	steps := []step{
		{"first batch of unknown producer may start anywhere", 1, 0, 40, 5, nil, false, 0, 5},
		{"next in sequence", 1, 0, 45, 5, nil, false, 0, 10},
		{"retry of the last batch", 1, 0, 45, 5, nil, true, 5, 10},
		{"retry of an earlier batch", 1, 0, 40, 5, nil, true, 0, 10},
		{"gap", 1, 0, 51, 1, ErrOutOfOrderSequence, false, 0, 10},
		{"overlap that is no cached batch", 1, 0, 44, 3, ErrOutOfOrderSequence, false, 0, 10},
		{"other producer is independent", 2, 3, 0, 2, nil, false, 0, 12},
		{"new epoch must start at 0", 1, 1, 50, 1, ErrOutOfOrderSequence, false, 0, 12},
		{"new epoch from 0", 1, 1, 0, 2, nil, false, 0, 14},
		{"stale epoch", 1, 0, 50, 1, ErrInvalidProducerEpoch, false, 0, 14},
		{"old epoch's batch is no duplicate now", 1, 0, 45, 5, ErrInvalidProducerEpoch, false, 0, 14},
		{"sequence continues in new epoch", 1, 1, 2, 1, nil, false, 0, 15},
		{"non-idempotent batches are not tracked", -1, 0, -1, 1, nil, false, 0, 16},
	}
	for _, s := range steps {
		r, err := l.Append(idem(t, s.pid, s.epoch, s.seq, s.n))
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
		if r.Duplicate != s.dup || (s.dup && (r.BaseOffset != s.wantBase || r.LastOffset != s.wantBase+int64(s.n)-1)) {
			t.Fatalf("%s: %+v", s.name, r)
		}
		if got := l.HighWatermark(); got != s.wantCount {
			t.Fatalf("%s: high watermark %d, want %d", s.name, got, s.wantCount)
		}
	}
}

func TestProducerSequenceWraps(t *testing.T) {
	l := mustOpen(t, testOpts(t, DefaultConfig()))
	defer l.Close()
	mustAppend(t, l, idem(t, 5, 0, math.MaxInt32-1, 2)) // MaxInt32-1, MaxInt32
	mustAppend(t, l, idem(t, 5, 0, 0, 3))               // wraps to 0
	if _, err := l.Append(idem(t, 5, 0, 4, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after wrap: %v", err)
	}
	mustAppend(t, l, idem(t, 5, 0, 3, 1))
	// A batch spanning the wrap: MaxInt32 then 0, 1.
	mustAppend(t, l, idem(t, 6, 0, math.MaxInt32, 3))
	if r := mustAppend(t, l, idem(t, 6, 0, math.MaxInt32, 3)); !r.Duplicate {
		t.Fatal("retry of a wrapping batch not recognised")
	}
	mustAppend(t, l, idem(t, 6, 0, 2, 1))
}

func TestOnlyFiveBatchesCached(t *testing.T) {
	l := mustOpen(t, testOpts(t, DefaultConfig()))
	defer l.Close()
	for i := range 6 {
		mustAppend(t, l, idem(t, 1, 0, int32(i), 1))
	}
	if r := mustAppend(t, l, idem(t, 1, 0, 1, 1)); !r.Duplicate || r.BaseOffset != 1 {
		t.Fatalf("5th newest batch: %+v", r)
	}
	if _, err := l.Append(idem(t, 1, 0, 0, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("6th newest batch: %v", err)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, mode := range []string{"clean", "crash", "crash without snapshots", "corrupt snapshot"} {
		t.Run(mode, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 800 // several rolls, so several snapshots
			o := testOpts(t, cfg)
			l := mustOpen(t, o)
			var last [3]AppendResult
			for i := range 40 {
				pid := int64(i % 3)
				last[pid] = mustAppend(t, l, idem(t, pid, 2, int32(i/3*2), 2))
			}
			if l.NumSegments() < 3 {
				t.Fatalf("%d segments", l.NumSegments())
			}
			switch mode {
			case "clean":
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			default:
				crash(l)
			}
			snaps := globExt(t, o.Dir, snapshotExt)
			switch mode {
			case "crash without snapshots":
				for _, s := range snaps {
					removeFile(t, s)
				}
			case "corrupt snapshot":
				flipByte(t, snaps[len(snaps)-1], 12)
			}
			l = mustOpen(t, o)
			defer l.Close()
			// Retries of the last batch of each producer are duplicates,
			// with their original offsets.
			for pid := range int64(3) {
				i := 39 - (39-pid)%3
				r, err := l.Append(idem(t, pid, 2, int32(i/3*2), 2))
				if err != nil || !r.Duplicate || r.BaseOffset != last[pid].BaseOffset {
					t.Fatalf("producer %d retry: %+v %v (original %+v)", pid, r, err, last[pid])
				}
				if _, err := l.Append(idem(t, pid, 1, 0, 1)); !errors.Is(err, ErrInvalidProducerEpoch) {
					t.Fatalf("producer %d stale epoch: %v", pid, err)
				}
				if _, err := l.Append(idem(t, pid, 2, int32(i/3*2)+3, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
					t.Fatalf("producer %d gap: %v", pid, err)
				}
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	p := producerState{}
	for i := range 20 {
		h := BatchHeader{ProducerID: int64(i % 4), ProducerEpoch: 1, BaseSequence: int32(i), BaseOffset: int64(i * 10),
			LastOffsetDelta: 2, MaxTimestamp: int64(i)}
		p.update(&h)
	}
	b := encodeSnapshot(p, &txnState{})
	q, _, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(p) {
		t.Fatalf("%d producers, want %d", len(q), len(p))
	}
	for id, e := range p {
		if *q[id] != *e {
			t.Fatalf("producer %d: %+v, want %+v", id, *q[id], *e)
		}
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if _, _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, _, err := decodeSnapshot(b[:len(b)-1]); err == nil {
		t.Fatal("truncated snapshot accepted")
	}
}

// TestSnapshotBeyondTruncationDiscarded: a snapshot newer than the
// recovered end describes batches that are gone, so it must not be used.
func TestSnapshotBeyondTruncationDiscarded(t *testing.T) {
	o := testOpts(t, DefaultConfig())
	l := mustOpen(t, o)
	for i := range 10 {
		mustAppend(t, l, idem(t, 1, 0, int32(i), 1))
	}
	size := l.Size()
	per := size / 10
	if err := l.Close(); err != nil { // snapshot at offset 10
		t.Fatal(err)
	}
	removeFile(t, filepath.Join(o.Dir, cleanShutdownFile))
	// Lose the last three batches.
	if err := os.Truncate(filepath.Join(o.Dir, fileName(0, logExt)), 7*per); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	defer l.Close()
	if l.HighWatermark() != 7 {
		t.Fatalf("high watermark %d", l.HighWatermark())
	}
	if n := len(globExt(t, o.Dir, snapshotExt)); n != 0 {
		t.Fatalf("%d snapshots left", n)
	}
	// Sequence 7 was lost: it is new again, not a duplicate.
	r, err := l.Append(idem(t, 1, 0, 7, 1))
	if err != nil || r.Duplicate || r.BaseOffset != 7 {
		t.Fatalf("resend of a lost batch: %+v %v", r, err)
	}
}

// TestExpireProducers: producer.id.expiration.ms forgets a producer whose
// last batch is older, so its retry is no longer a duplicate; a producer
// with an open transaction is kept.
func TestExpireProducers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProducerIDExpirationMs = 60_000
	l := mustOpen(t, testOpts(t, cfg))
	defer func() { l.Close() }()
	b := idem(t, 7, 0, 0, 1) // timestamp 1000
	mustAppend(t, l, slices.Clone(b))
	mustAppend(t, l, txnBatch(t, 8, 0, 0, 1))
	if n := l.ExpireProducers(time.UnixMilli(1000 + 59_999)); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := l.ExpireProducers(time.UnixMilli(1000 + 60_000)); n != 1 {
		t.Fatalf("expired %d, want 1 (the one without an open transaction)", n)
	}
	if res := mustAppend(t, l, slices.Clone(b)); res.Duplicate || res.BaseOffset != 2 {
		t.Fatalf("retry of an expired producer: %+v", res)
	}
	if ps := l.Producers(); len(ps) != 2 || ps[1].ProducerID != 8 || ps[1].TxnStart != 1 {
		t.Fatalf("producers: %+v", ps)
	}
}
