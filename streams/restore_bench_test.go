package streams

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
)

// benchChangelog fills a one-partition changelog topic with n records of
// 100-byte values over n/4 keys, and returns the broker's address.
func benchChangelog(b *testing.B, n int) string {
	b.Helper()
	addr := embed.ForTest(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic("cl"))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "cl"); err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 100)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%09d", i%max(1, n/4)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return addr
}

func benchRestore(b *testing.B, disk bool) {
	addr := benchChangelog(b, b.N)
	app, err := NewApp("bench", Brokers(addr), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))), StateDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	w := &worker{app: app, cfg: app.cfg, log: app.cfg.logger}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	w.tr = &kafkaTransport{w: w, cl: cl}
	tc := &tableCore{app: app, name: "t", changelog: "cl"}
	var st store = newMemStore()
	if disk {
		if st, err = openPebbleStore(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	defer st.close()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	if err := w.restore(context.Background(), tc, 0, st); err != nil {
		b.Fatal(err)
	}
	reportRate(b, start, cpu)
	b.StopTimer()
	if ck, _ := st.checkpoint(); ck != int64(b.N) {
		b.Fatalf("restored to %d, want %d", ck, b.N)
	}
}

// BenchmarkRestore restores a table partition from its changelog into the
// in-memory store and into pebble; compare with BenchmarkPlainChangelogRead.
func BenchmarkRestore(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchRestore(b, false) })
	b.Run("pebble", func(b *testing.B) { benchRestore(b, true) })
}

// BenchmarkPlainChangelogRead reads the same changelog with a plain
// franz-go consumer, keeping nothing.
func BenchmarkPlainChangelogRead(b *testing.B) {
	addr := benchChangelog(b, b.N)
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"cl": {0: kgo.NewOffset().AtStart()}}), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for n < b.N {
		n += cl.PollFetches(context.Background()).NumRecords()
	}
	reportRate(b, start, cpu)
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports records/s and the process's CPU nanoseconds per
// record (broker included: it runs in the process) since start. On a
// loaded machine records/s swings with the load; CPU per record does not,
// so the two benchmarks compare by it too.
func reportRate(b *testing.B, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/record")
}
