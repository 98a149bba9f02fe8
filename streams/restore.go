package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
// writes after it.
func (w *worker) restore(ctx context.Context, tc *tableCore, p int32, st store) error {
	start := time.Now()
	from, err := st.checkpoint()
	if err != nil {
		return err
	}
	adm := kadm.NewClient(w.cl)
	var ends, starts kadm.ListedOffsets
	err = w.retry(ctx, "listing the changelog's offsets", func() error {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, tc.changelog); err == nil {
			err = ends.Error()
		}
		if err == nil {
			if starts, err = adm.ListStartOffsets(ctx, tc.changelog); err == nil {
				err = starts.Error()
			}
		}
		if err != nil {
			return fmt.Errorf("streams: table %s: changelog offsets: %w", tc.name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	end, ok := ends.Lookup(tc.changelog, p)
	if !ok {
		return fmt.Errorf("streams: table %s: changelog %s has no partition %d", tc.name, tc.changelog, p)
	}
	logStart, _ := starts.Lookup(tc.changelog, p)
	switch {
	case from > end.Offset:
		// The store is ahead of its changelog's high watermark: the topic
		// was recreated or truncated. The changelog wins.
		w.log.Warn("streams: local store ahead of its changelog; rebuilding it", "table", tc.name, "partition", p, "checkpoint", from, "end", end.Offset)
		if err := st.wipe(); err != nil {
			return err
		}
		from = 0
	case from > 0 && from < logStart.Offset:
		// Records the store has not seen were deleted (DeleteRecords, or
		// a recreated topic): what the store holds cannot be trusted.
		w.log.Warn("streams: local store behind its changelog's start; rebuilding it", "table", tc.name, "partition", p, "checkpoint", from, "start", logStart.Offset)
		if err := st.wipe(); err != nil {
			return err
		}
		from = 0
	}
	if from < logStart.Offset {
		from = logStart.Offset
	}
	if from >= end.Offset {
		w.log.Debug("streams: table partition up to date", "table", tc.name, "partition", p, "offset", from)
		return nil
	}
	w.log.Info("streams: restoring table partition", "table", tc.name, "partition", p, "from", from, "to", end.Offset)
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.brokers...)}
	opts = append(opts, w.cfg.kopts...)
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tc.changelog: {p: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Control records too, so the offset before the target is always
		// seen: the active segment, which holds it, is never compacted.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)
	if w.sess != nil {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("streams: restore client: %w", err)
	}
	defer cl.Close()
	var ws []kv
	var n int64
	next := from
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				return fe.Err
			}
			w.log.Warn("streams: restore fetch error", "table", tc.name, "partition", p, "err", fe.Err)
		}
		var applyErr error
		fs.EachRecord(func(r *kgo.Record) {
			if applyErr != nil || r.Offset < next {
				return
			}
			// Records past the target are applied too: under
			// read_committed they are committed, and the checkpoint
			// covers them.
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			ws = append(ws, kv{k: r.Key, v: r.Value, del: r.Value == nil})
			n++
			if len(ws) >= restoreBatch {
				applyErr = st.apply(ws, next)
				ws = ws[:0]
			}
		})
		if applyErr != nil {
			return fmt.Errorf("streams: table %s partition %d: %w", tc.name, p, applyErr)
		}
	}
	if err := st.apply(ws, next); err != nil {
		return fmt.Errorf("streams: table %s partition %d: %w", tc.name, p, err)
	}
	w.log.Info("streams: table partition restored", "table", tc.name, "partition", p, "from", from, "to", next, "records", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
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
