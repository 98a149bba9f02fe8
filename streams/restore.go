package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func newChangelogRecord(topic string, p int32, k, v []byte, del bool) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: p, Key: k}
	if !del {
		r.Value = v
		if r.Value == nil {
			r.Value = []byte{} // an empty value is a value, not a tombstone
		}
	}
	return r
}

// restoreBatch is how many changelog records go into one store apply.
const restoreBatch = 4096

// restore brings st up to the end of partition p of tc's changelog: from
// the store's checkpoint to the high watermark the partition has when the
// restore starts. Under ExactlyOnce it reads with read_committed, so it
// restores no aborted write and, when a transaction (a zombie's) is still
// open below the high watermark, it waits for that transaction to end
// rather than stopping at the last stable offset and missing committed
// writes after it. A restore of restoreBulkMin offsets or more into a store
// that loads chunks (Pebble) is a bulk restore (restore_bulk.go); a shorter
// one applies batches.
func (w *worker) restore(ctx context.Context, tc *tableCore, p int32, st store) error {
	start := time.Now()
	from, err := st.checkpoint()
	if err != nil {
		return err
	}
	var logStart, end int64
	err = w.retry(ctx, "listing the changelog's offsets", func() error {
		var err error
		if logStart, end, err = w.tr.offsets(ctx, tc.changelog, p); err != nil {
			return fmt.Errorf("streams: table %s: changelog: %w", tc.name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case from > end:
		// The store is ahead of its changelog's high watermark: the topic
		// was recreated or truncated. The changelog wins.
		w.log.Warn("streams: local store ahead of its changelog; rebuilding it", "table", tc.name, "partition", p, "checkpoint", from, "end", end)
		if err := st.wipe(); err != nil {
			return err
		}
		from = 0
	case from > 0 && from < logStart:
		// Records the store has not seen were deleted (DeleteRecords, or
		// a recreated topic): what the store holds cannot be trusted.
		w.log.Warn("streams: local store behind its changelog's start; rebuilding it", "table", tc.name, "partition", p, "checkpoint", from, "start", logStart)
		if err := st.wipe(); err != nil {
			return err
		}
		from = 0
	}
	if from < logStart {
		from = logStart
	}
	if from >= end {
		w.log.Debug("streams: table partition up to date", "table", tc.name, "partition", p, "offset", from)
		return nil
	}
	bl, bulk := st.(bulkLoader)
	bulk = bulk && end-from >= restoreBulkMin
	w.log.Info("streams: restoring table partition", "table", tc.name, "partition", p, "from", from, "to", end, "bulk", bulk)
	prog := w.app.metrics.startRestore(tc.name, from, end)
	defer prog.done()
	var n int64
	if bulk {
		n, err = w.restoreBulk(ctx, tc, p, bl, from, end, prog)
	} else {
		n, err = w.restoreBatches(ctx, tc, p, st, from, end, prog)
	}
	if err != nil {
		return fmt.Errorf("streams: table %s partition %d: %w", tc.name, p, err)
	}
	w.app.restored.Add(n)
	w.app.metrics.addRestored(tc.name, n)
	w.log.Info("streams: table partition restored", "table", tc.name, "partition", p, "from", from, "to", end, "records", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreBatches restores st from offset from to end in batches of
// restoreBatch records; it returns the number of records restored.
func (w *worker) restoreBatches(ctx context.Context, tc *tableCore, p int32, st store, from, end int64, prog *restoreProgress) (int64, error) {
	// The store applies one batch while the next is read: restore runs
	// at the speed of the slower of the two, not of their sum.
	type chunk struct {
		ws   []kv
		next int64
	}
	chunks := make(chan chunk, 2)
	failed := make(chan struct{}) // closed when an apply fails
	var aerr error                // read after applied is closed
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for c := range chunks {
			if aerr == nil {
				if aerr = st.apply(c.ws, c.next); aerr != nil {
					close(failed)
				} else {
					prog.applied(c.next)
				}
			}
		}
	}()
	ws := make([]kv, 0, restoreBatch)
	var n int64
	errApply := errors.New("store apply failed")
	err := w.tr.read(ctx, tc.changelog, p, from, end, func(r *kgo.Record) error {
		ws = append(ws, kv{k: r.Key, v: r.Value, del: r.Value == nil})
		n++
		if len(ws) >= restoreBatch {
			select {
			case chunks <- chunk{ws, r.Offset + 1}:
			case <-failed:
				return errApply
			}
			ws = make([]kv, 0, restoreBatch)
		}
		return nil
	})
	if err == nil {
		chunks <- chunk{ws, end}
	}
	close(chunks)
	<-applied
	if aerr != nil {
		err = aerr
	}
	return n, err
}

// retry runs f until it succeeds, ctx ends, or it fails with an error
// that waiting cannot fix (a topology error): a broker restarting under a
// worker is a pause, not the end of the worker.
func (w *worker) retry(ctx context.Context, what string, f func() error) error {
	backoff := 250 * time.Millisecond
	for {
		err := f()
		if err == nil || errors.Is(err, ErrTopology) || ctx.Err() != nil {
			return err
		}
		w.log.Warn("streams: retrying "+what, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
