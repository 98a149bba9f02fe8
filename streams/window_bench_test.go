package streams

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// BenchmarkWindowedCount counts b.N events of 1000 keys in tumbling
// windows of 1 s with final results, on the in-memory Driver (its log,
// batches of 10000, the worker's own batch cycle), and reports events/s:
//
//	go test -run '^$' -bench WindowedCount -benchtime 1000000x ./streams/
//
// Event time advances 1 ms every 10 events: a window closes every 10000
// events, with about 10 events per key and window.
func BenchmarkWindowedCount(b *testing.B) {
	for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
		b.Run(g.String(), func(b *testing.B) {
			app, err := NewApp("bench", InMemoryState(), ProcessingGuarantee(g), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			in := EventTime(NewTopic(app, "in", codec.String(), codec.JSON[int64](), Partitions(4)),
				func(_ string, ts int64, _ time.Time) time.Time { return time.UnixMilli(ts) })
			out := NewTopic(app, "out", codec.String(), codec.JSON[finalRec](), Partitions(4))
			table := NewWindowedTable(app, "counts", in, codec.String(), codec.JSON[int64](), TumblingWindows(time.Second).Grace(0),
				FinalResults(func(ctx context.Context, key string, w Window, n int64) error {
					return out.Send(ctx, key, finalRec{w.Start.UnixMilli(), w.End.UnixMilli(), n})
				}))
			NewAgent(app, "count", in, func(ctx context.Context, s *Stream[string, int64]) error {
				for ev := range s.Events() {
					if err := table.Update(ctx, ev.Partition, ev.Key, ev.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
						return err
					}
				}
				return nil
			}, Concurrency(4))
			d, err := NewDriver(app)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprintf("page-%d", i)
			}
			for i := range b.N {
				if err := in.Send(ctx, keys[i%len(keys)], int64(i/10)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			if err := d.Process(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkWindowedTableMemory puts 1M keys, one window each, in a
// windowed table and reports the Go heap the table's partitions hold per
// million keys: the heap in use with the partitions open, less the heap
// once they are closed (the Driver's in-memory log stays in both):
//
//	go test -run '^$' -bench WindowedTableMemory -benchtime 1x ./streams/
//
// memory: the in-memory store and the window index; pebble: the window
// index only (Pebble's memtables and cache are outside the Go heap).
func BenchmarkWindowedTableMemory(b *testing.B) {
	const keys = 1_000_000
	for _, st := range []string{"memory", "pebble"} {
		b.Run(st, func(b *testing.B) {
			for range b.N {
				opts := []Option{ProcessingGuarantee(AtLeastOnce), Logger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
				if st == "memory" {
					opts = append(opts, InMemoryState())
				} else {
					opts = append(opts, StateDir(b.TempDir()))
				}
				app, err := NewApp("mem", opts...)
				if err != nil {
					b.Fatal(err)
				}
				in := EventTime(NewTopic(app, "in", codec.String(), codec.JSON[int64](), Partitions(4)),
					func(_ string, ts int64, _ time.Time) time.Time { return time.UnixMilli(ts) })
				table := NewWindowedTable(app, "counts", in, codec.String(), codec.JSON[int64](), TumblingWindows(time.Hour).Grace(0))
				NewAgent(app, "count", in, func(ctx context.Context, s *Stream[string, int64]) error {
					for ev := range s.Events() {
						if err := table.Update(ctx, ev.Partition, ev.Key, ev.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
							return err
						}
					}
					return nil
				}, Concurrency(4))
				d, err := NewDriver(app)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				for i := range keys {
					if err := in.Send(ctx, fmt.Sprintf("page-%07d", i), int64(i%1000)); err != nil {
						b.Fatal(err)
					}
					if i%100_000 == 99_999 {
						if err := d.Process(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := d.Process(); err != nil {
					b.Fatal(err)
				}
				n := 0
				for p := range int32(4) {
					for range table.Keys(p) {
						n++
					}
				}
				if n != keys {
					b.Fatalf("%d keys in the table, want %d", n, keys)
				}
				open := heapInUse()
				d.w.requeueTables() // closes the stores
				table.wc.mu.Lock()
				table.wc.parts = nil // and drops the index
				table.wc.mu.Unlock()
				closed := heapInUse()
				b.ReportMetric(float64(int64(open)-int64(closed))/(1<<20), "MiB/Mkeys")
				d.Close()
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
