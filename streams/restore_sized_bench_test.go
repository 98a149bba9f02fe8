package streams

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
)

// The large restore measurement of issues #15 and #16 (not part of the
// test command: it runs only with SLUICE_RESTORE_BYTES set):
//
//	SLUICE_RESTORE_BYTES=1073741824 go test -run '^$' -bench 'BenchmarkRestoreSized' -benchtime 1x -timeout 60m ./streams/
//
// fills a one-partition changelog with SLUICE_RESTORE_BYTES of record keys
// and values (13-byte keys over a quarter as many distinct keys, 100-byte
// values), then reads it once with a plain franz-go consumer (keeping
// nothing) and once with a table restore into a Pebble store, each timed
// alone, and reports records/s and CPU-ns/record (of the whole process, the
// embedded broker included) of both, and the restore's speed as a share of
// the plain consumer's.
//
// Measured on the 2-core dev machine (shared with other jobs), 1 GB
// (9,502,140 records), bulk restore (restore_bulk.go):
//
//	load avg  plain                        restore into Pebble          share
//	~2        3.0 s, 3.20 M rec/s, 373 ns   3.5 s, 2.73 M rec/s, 643 ns   85%
//	~2        3.2 s, 2.99 M rec/s, 426 ns   3.9 s, 2.41 M rec/s, 686 ns   81%
//	~2        3.2 s, 3.02 M rec/s, 442 ns   3.8 s, 2.50 M rec/s, 698 ns   83%
//	~2        3.8 s, 2.51 M rec/s, 546 ns   4.8 s, 1.98 M rec/s, 904 ns   79%
//	~1        3.4 s, 2.76 M rec/s, 483 ns   6.2 s, 1.53 M rec/s, 893 ns   55%
//	~5.5      4.5 s, 2.11 M rec/s, 406 ns   6.0 s, 1.58 M rec/s, 660 ns   75%
//	~5.5      4.5 s, 2.13 M rec/s, 404 ns   6.4 s, 1.49 M rec/s, 608 ns   70%
//	~5.5      6.5 s, 1.47 M rec/s, 385 ns  12.2 s, 0.78 M rec/s, 723 ns   53%
//	~6        4.8 s, 1.97 M rec/s, 463 ns   7.5 s, 1.26 M rec/s, 773 ns   64%
//	~6        4.5 s, 2.10 M rec/s, 406 ns  13.8 s, 0.69 M rec/s, 770 ns   33%
//
// (ns: CPU-ns/record of the whole process, embedded broker included). The
// restore takes about 1.7 times the plain consumer's CPU per record (the
// sstable writes, Pebble's background compactions of the overlapping
// chunks, the copy into chunks) and waits on an fsync per chunk, so when
// other jobs take the cores its share falls towards the CPU ratio. At
// 300,000 records (BenchmarkRestore/pebble against
// BenchmarkPlainChangelogRead, load ~2) the share is 58-61%: the restore
// is 6 chunks, each costing its fsyncs and ingest whatever its size. Before
// the bulk restore (batches through the memtable): 31.5 s, 327 k rec/s,
// 2223 CPU-ns/record, 24%.

// sizedRecordBytes is a record's key and value size.
const sizedRecordBytes = 13 + 100

func sizedRestoreRecords(b *testing.B) int {
	s := os.Getenv("SLUICE_RESTORE_BYTES")
	if s == "" {
		b.Skip("set SLUICE_RESTORE_BYTES (e.g. 1073741824) to run the sized restore measurement")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < sizedRecordBytes {
		b.Fatalf("SLUICE_RESTORE_BYTES=%q: want a byte count >= %d", s, sizedRecordBytes)
	}
	return int(n / sizedRecordBytes)
}

// fillChangelog produces n records to the one-partition topic "cl".
func fillChangelog(b *testing.B, addr string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic("cl"),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<17))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "cl"); err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 100)
	keys := max(1, n/4)
	var failed error
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%09d", i%keys), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if failed != nil {
		b.Fatal(failed)
	}
}

func BenchmarkRestoreSized(b *testing.B) {
	n := sizedRestoreRecords(b)
	addr := embed.ForTest(b)
	fillStart := time.Now()
	fillChangelog(b, addr, n)
	b.Logf("changelog: %d records, %d MB of keys and values, filled in %v", n, int64(n)*sizedRecordBytes>>20, time.Since(fillStart).Round(time.Millisecond))
	var plainRate, restoreRate float64
	b.Run("plain", func(b *testing.B) {
		for range b.N {
			start, cpu := time.Now(), processCPU()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"cl": {0: kgo.NewOffset().AtStart()}}), kgo.FetchMaxBytes(64<<20))
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for got < n {
				got += cl.PollFetches(context.Background()).NumRecords()
			}
			cl.Close()
			plainRate = sizedReport(b, "plain", n, start, cpu)
		}
	})
	b.Run("pebble", func(b *testing.B) {
		for range b.N {
			app, err := NewApp("bench", Brokers(addr), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))), StateDir(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			w := &worker{app: app, cfg: app.cfg, log: app.cfg.logger}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				b.Fatal(err)
			}
			w.tr = &kafkaTransport{w: w, cl: cl}
			st, err := openPebbleStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			start, cpu := time.Now(), processCPU()
			if err := w.restore(context.Background(), &tableCore{app: app, name: "t", changelog: "cl"}, 0, st); err != nil {
				b.Fatal(err)
			}
			restoreRate = sizedReport(b, "restore", n, start, cpu)
			if ck, _ := st.checkpoint(); ck != int64(n) {
				b.Fatalf("restored to %d, want %d", ck, n)
			}
			st.close()
			cl.Close()
		}
	})
	if plainRate > 0 && restoreRate > 0 {
		b.Logf("restore at %.0f%% of the plain consumer's records/s (target >= 65%%)", 100*restoreRate/plainRate)
	}
}

// sizedReport reports and logs the rate of n records since start.
func sizedReport(b *testing.B, what string, n int, start time.Time, cpu time.Duration) float64 {
	took := time.Since(start)
	rate := float64(n) / took.Seconds()
	cpuPer := float64(processCPU()-cpu) / float64(n)
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(cpuPer, "cpu-ns/record")
	b.ReportMetric(float64(int64(n)*sizedRecordBytes)/(1<<20)/took.Seconds(), "MB/s")
	b.Logf("%s: %d records in %v: %.0f records/s, %.0f CPU-ns/record", what, n, took.Round(time.Millisecond), rate, cpuPer)
	return rate
}
