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
// the store's checkpoint to the high watermark (AtLeastOnce) or the last
// stable offset (ExactlyOnce, read_committed, so aborted writes are never
// restored).
func (w *worker) restore(ctx context.Context, tc *tableCore, p int32, st store) error {
	start := time.Now()
	from, err := st.checkpoint()
	if err != nil {
		return err
	}
	logStart, end, err := w.tr.offsets(ctx, tc.changelog, p)
	if err != nil {
		return fmt.Errorf("streams: table %s: changelog: %w", tc.name, err)
	}
	if from > end {
		// The store is ahead of its changelog: the topic was recreated
		// or truncated. The changelog wins.
		w.log.Warn("streams: local store ahead of its changelog; rebuilding it", "table", tc.name, "partition", p, "checkpoint", from, "end", end)
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
				}
			}
		}
	}()
	ws := make([]kv, 0, restoreBatch)
	var n int64
	errApply := errors.New("store apply failed")
	err = w.tr.read(ctx, tc.changelog, p, from, end, func(r *kgo.Record) error {
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
	if err != nil {
		return fmt.Errorf("streams: table %s partition %d: %w", tc.name, p, err)
	}
	w.log.Info("streams: table partition restored", "table", tc.name, "partition", p, "from", from, "to", end, "records", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
