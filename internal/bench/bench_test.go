package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
)

// exactQuantile is the reference: the smallest value with at least q of
// the sorted values at or below it.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestBenchHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seq := func(n int, f func(i int) int64) []int64 {
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return vs
	}
	tests := []struct {
		name  string
		vals  []int64
		exact bool // all values are below 256, so no bucketing error
	}{
		{"one value", []int64{42}, true},
		{"1 to 100", seq(100, func(i int) int64 { return int64(i + 1) }), true},
		{"small with zeros", seq(1000, func(i int) int64 { return int64(i % 7) }), true},
		{"negative clamps to 0", []int64{-5, -1, 0}, true},
		{"constant", seq(500, func(int) int64 { return 123_456 }), false},
		{"uniform to 1s", seq(20_000, func(int) int64 { return rng.Int64N(1e9) }), false},
		{"log-uniform", seq(20_000, func(int) int64 { return int64(math.Exp(rng.Float64() * 25)) }), false},
		{"bimodal with outliers", seq(10_000, func(i int) int64 {
			switch {
			case i%1000 == 0:
				return 50_000_000
			case i%2 == 0:
				return 200_000
			default:
				return 1_500_000
			}
		}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, v := range tc.vals {
				h.record(v)
			}
			sorted := slices.Clone(tc.vals)
			for i := range sorted {
				sorted[i] = max(sorted[i], 0)
			}
			slices.Sort(sorted)
			for _, q := range []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.quantile(q), exactQuantile(sorted, q)
				if tc.exact {
					if got != want {
						t.Errorf("q%v = %d, want %d", q, got, want)
					}
					continue
				}
				if diff := math.Abs(float64(got - want)); diff > 0.005*float64(want)+1 {
					t.Errorf("q%v = %d, want %d within 0.5%%", q, got, want)
				}
			}
			if h.max != sorted[len(sorted)-1] || h.min != sorted[0] || h.n != int64(len(sorted)) {
				t.Errorf("min/max/n = %d/%d/%d, want %d/%d/%d", h.min, h.max, h.n, sorted[0], sorted[len(sorted)-1], len(sorted))
			}
		})
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.summary() != nil {
		t.Error("empty histogram: want 0 and a nil summary")
	}
}

func TestBenchHistogramBuckets(t *testing.T) {
	// Every bucket index maps back to a value inside the bucket, and
	// indexes grow with values.
	prev := -1
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := histIndex(v)
		if i < prev {
			t.Errorf("histIndex(%d) = %d, below the previous %d", v, i, prev)
		}
		prev = i
		if histIndex(histValue(i)) != i {
			t.Errorf("histValue(%d) = %d is outside its bucket", i, histValue(i))
		}
		if got := histValue(i); math.Abs(float64(got-v)) > float64(v)/256+1 {
			t.Errorf("histValue(histIndex(%d)) = %d: too far", v, got)
		}
	}
	if n := (64 - histSubBits) << histSubBits; histIndex(math.MaxInt64) >= n {
		t.Errorf("histIndex(MaxInt64) = %d, beyond %d buckets", histIndex(math.MaxInt64), n)
	}
}

func TestBenchFlags(t *testing.T) {
	o, err := parseBenchFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.records != 1_000_000 || o.recordSize != 1024 || o.acks != "all" || !o.idempotent ||
		o.batchBytes != 1<<20 || o.fetchBytes != 64<<20 || o.partitions != 1 || o.topic != "bench" ||
		o.compression != "none" || o.rate != 0 || o.duration != 10*time.Second || len(o.brokers) != 0 {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseBenchFlags([]string{"--records", "10M", "--record-size", "100", "--batch-bytes", "2MiB",
		"--acks", "1", "--rate", "5k", "--brokers", "127.0.0.1:9092,127.0.0.1:9093", "--broker-pid", "7",
		"--compression", "zstd", "--linger", "5ms", "--compare-kfake", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	if o.records != 10_000_000 || o.recordSize != 100 || o.batchBytes != 2<<20 || o.acks != "1" || o.idempotent ||
		o.rate != 5000 || len(o.brokers) != 2 || o.brokerPID != 7 || o.compression != "zstd" ||
		o.linger != 5*time.Millisecond || !o.compareKfake || !o.json {
		t.Errorf("parsed: %+v", o)
	}
	o, err = parseBenchFlags([]string{"--idle-conns", "1k", "--extra-partitions", "2_000", "--compare-baseline"})
	if err != nil || o.idleConns != 1000 || o.extraPartitions != 2000 || !o.compareBaseline || o.extraTopic() != "bench-extra" {
		t.Errorf("idle load flags: %+v, %v", o, err)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--records", "-1"}, "records"},
		{[]string{"--records", "lots"}, "records"},
		{[]string{"--records", "0"}, "nothing to measure"},
		{[]string{"--record-size", "0"}, "record-size"},
		{[]string{"--record-size", "2MiB"}, "record-size"},
		{[]string{"--record-size", "8", "--rate", "100"}, "at least 16"},
		{[]string{"--acks", "2"}, "acks"},
		{[]string{"--acks", "1", "--idempotent"}, "idempotent"},
		{[]string{"--compression", "brotli"}, "compression"},
		{[]string{"--partitions", "0"}, "partitions"},
		{[]string{"--topic", "a/b"}, "topic"},
		{[]string{"--batch-bytes", "100"}, "batch-bytes"},
		{[]string{"--fetch-bytes", "2GiB"}, "fetch-bytes"},
		{[]string{"--linger", "-1s"}, "linger"},
		{[]string{"--rate", "-5"}, "rate"},
		{[]string{"--page-cache", "--records", "0", "--rate", "10"}, "--records above 0"},
		{[]string{"--rate", "1", "--duration", "10ms"}, "no record"},
		{[]string{"--duration", "0s"}, "duration"},
		{[]string{"--brokers", "localhost"}, "brokers"},
		{[]string{"--broker-pid", "12"}, "needs --brokers"},
		{[]string{"--brokers", "127.0.0.1:1", "--broker-set", "a=b"}, "broker-set"},
		{[]string{"--transaction-records", "-1"}, "transaction-records"},
		{[]string{"--transaction-records", "100", "--acks", "1"}, "idempotent"},
		{[]string{"--broker-set", "novalue"}, "NAME=VALUE"},
		{[]string{"--idle-conns", "-1"}, "idle-conns"},
		{[]string{"--idle-conns", "200k"}, "idle-conns"},
		{[]string{"--extra-partitions", "1M"}, "extra-partitions"},
		{[]string{"--topic", strings.Repeat("t", 249), "--extra-partitions", "1"}, "extra-partitions"},
		{[]string{"--compare-baseline", "--compare-kfake"}, "choose one"},
		{[]string{"--producers", "0"}, "producers"},
		{[]string{"--producers", "65"}, "producers"},
		{[]string{"--producers", "2", "--transaction-records", "10"}, "--producers 1"},
		{[]string{"--brokers", "127.0.0.1:1", "--data-dir", "/tmp"}, "data-dir"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tc := range bad {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tc.args, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit 2 and one line about %q", tc.args, code, msg, stdout.String(), tc.want)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "Examples:") || !strings.Contains(stdout.String(), "-compare-kfake") ||
		!strings.Contains(stdout.String(), "-idle-conns") || !strings.Contains(stdout.String(), "-compare-baseline") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout.String())
	}
}

// --fsync makes the topic fsync every append and measures the disk where
// --data-dir says, also with --brokers; --producers splits the records.
func TestBenchDurableFlags(t *testing.T) {
	o, err := parseBenchFlags([]string{"--fsync", "--producers", "4", "--brokers", "127.0.0.1:1", "--data-dir", t.TempDir()})
	if err != nil || !o.fsync || o.producers != 4 {
		t.Fatalf("parsed: %+v, %v", o, err)
	}
	if c := o.topicConfigs(); len(c) != 1 || c["flush.messages"] == nil || *c["flush.messages"] != "1" {
		t.Errorf("topic configs with --fsync: %v", c)
	}
	if o, _ = parseBenchFlags(nil); o.producers != 1 || o.topicConfigs() != nil {
		t.Errorf("defaults: producers %d, topic configs %v", o.producers, o.topicConfigs())
	}
}

func TestBenchHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i := int64(1); i <= 1000; i++ {
		if i%3 == 0 {
			a.record(i * 1000)
		} else {
			b.record(i * 1000)
		}
		all.record(i * 1000)
	}
	var m histogram
	m.merge(&histogram{}) // empty: nothing changes
	m.merge(&a)
	m.merge(&b)
	if got, want := *m.summary(), *all.summary(); got != want {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
}

func TestBenchDurable(t *testing.T) {
	addr := embed.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--brokers", addr, "--records", "999", "--record-size", "64", "--partitions", "4",
		"--producers", "3", "--fsync", "--page-cache", "--rate", "400", "--duration", "1s",
		"--data-dir", dir, "--topic", "durable", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("runBench: exit %d: %s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, stdout.String())
	}
	if len(rep.Runs) != 1 || rep.Settings.Producers != 3 || !rep.Settings.Fsync {
		t.Fatalf("JSON report: %s", stdout.String())
	}
	r := rep.Runs[0]
	if r.Produce == nil || r.Produce.Records != 999 || r.Produce.AckLatency == nil || r.Produce.AckLatency.Count != 999 ||
		r.Consume == nil || r.Consume.Records != 999 {
		t.Fatalf("phases: %s", stdout.String())
	}
	if d := r.Disk; d == nil || d.Dir != dir || d.Chunks < 8 || d.MBPerSec <= 0 || d.ProduceRatio <= 0 {
		t.Fatalf("disk measurement: %+v", r.Disk)
	}
	// --page-cache wrote what the produce phase did, in whole 1 MiB writes.
	if p := r.PageCache; p == nil || p.Dir != dir || p.Bytes != 1<<20 || p.CPUSeconds < 0 || p.Seconds <= 0 {
		t.Fatalf("page cache measurement: %+v", r.PageCache)
	}
	// --rate with --fsync: the disk's own fdatasync latency, 400 a second
	// over 4 files for the 1 s phase.
	if s := r.SyncLatency; s == nil || s.Dir != dir || s.Files != 4 || s.Rate != 400 || s.Size != 64 || s.Sync == nil || s.Sync.Count != 400 || s.Sync.P99 <= 0 {
		t.Fatalf("fdatasync latency measurement: %+v", r.SyncLatency)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the disk measurements left %d files in %s", len(left), dir)
	}
}

func TestBenchProcParsing(t *testing.T) {
	stat := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 125 0 0 20 0 12 0 100 1000000 500 18446744073709551615\n"
	cpu, err := parseProcStat([]byte(stat))
	if err != nil || cpu != 3.75 {
		t.Errorf("parseProcStat = %v, %v; want 3.75 s", cpu, err)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat: want an error")
	}
	status := "Name:\tsluice\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t9\n"
	rss, hwm, err := parseProcStatus([]byte(status))
	if err != nil || rss != 1<<20 || hwm != 2<<20 {
		t.Errorf("parseProcStatus = %d, %d, %v", rss, hwm, err)
	}
	if runtime.GOOS == "linux" {
		if c, err := procCPUSeconds(os.Getpid()); err != nil || c < 0 {
			t.Errorf("procCPUSeconds(self) = %v, %v", c, err)
		}
		if rss, hwm, err := procMemory(os.Getpid()); err != nil || rss <= 0 || hwm < rss {
			t.Errorf("procMemory(self) = %d, %d, %v", rss, hwm, err)
		}
	}
}

// TestBenchAgainstKfake runs every phase, small, against an in-process kfake
// broker; the "broker" pid is this test process.
func TestBenchAgainstKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	o, err := parseBenchFlags([]string{"--brokers", addr, "--records", "2000", "--record-size", "100",
		"--rate", "1000", "--duration", "1s", "--partitions", "2"})
	if err != nil {
		t.Fatal(err)
	}
	o.stallTimeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	pid := 0
	if runtime.GOOS == "linux" {
		pid = os.Getpid()
	}
	tr, err := benchTarget(ctx, o, "kfake", "", addr, pid, &out)
	if err != nil {
		t.Fatalf("benchTarget: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	p := tr.Produce
	if p == nil || p.Records != 2000 || p.Bytes != 200_000 || p.MBPerSec <= 0 || p.RecordsPerSec <= 0 || p.Seconds <= 0 {
		t.Fatalf("produce: %+v", p)
	}
	if a := p.AckLatency; a == nil || a.Count != 2000 || a.P50 <= 0 || a.P99 < a.P50 || a.P999 < a.P99 || a.Max < a.P999 {
		t.Errorf("produce ack latency: %+v", a)
	}
	cs := tr.Consume
	if cs == nil || cs.Records != 2000 || cs.Bytes != 200_000 || cs.MBPerSec <= 0 || cs.RecordsPerSec <= 0 {
		t.Fatalf("consume: %+v", cs)
	}
	l := tr.Latency
	if l == nil || l.Sent != 1000 || l.Acked != 1000 || l.Received != 1000 || l.AchievedRate <= 0 || l.WarmupRecords < 1 {
		t.Fatalf("latency: %+v", l)
	}
	if l.EndToEnd == nil || l.EndToEnd.Count != 1000 || l.EndToEnd.P50 <= 0 || l.Ack == nil || l.Ack.Count != 1000 || l.Ack.P50 <= 0 {
		t.Errorf("latency summaries: e2e %+v ack %+v", l.EndToEnd, l.Ack)
	}
	if pid > 0 {
		for name, u := range map[string]*brokerUsage{"produce": p.Broker, "consume": cs.Broker, "latency": l.Broker} {
			if u == nil || u.CPUSeconds < 0 || u.RSSBytes <= 0 || u.PeakRSSBytes < u.RSSBytes {
				t.Errorf("%s broker usage: %+v", name, u)
			}
		}
		if tr.BrokerPeakRSSBytes <= 0 {
			t.Error("no peak RSS")
		}
	}
	for _, want := range []string{"produce", "consume", "end-to-end", "records/s", "MB/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q", want)
		}
	}

	// The whole command, JSON out, against the same broker.
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--brokers", addr, "--records", "500", "--record-size", "64", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("runBench: exit %d: %s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, stdout.String())
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Produce == nil || rep.Runs[0].Produce.Records != 500 ||
		rep.Runs[0].Consume == nil || rep.Runs[0].Consume.Records != 500 || rep.Settings.RecordSize != 64 || rep.Error != "" {
		t.Errorf("JSON report: %s", stdout.String())
	}
}

// TestBenchIdleLoad holds idle connections and extra partitions through a
// small run against an in-process kfake broker, then runs --compare-baseline.
func TestBenchIdleLoad(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	o, err := parseBenchFlags([]string{"--brokers", addr, "--records", "300", "--record-size", "50",
		"--idle-conns", "20", "--extra-partitions", "10"})
	if err != nil {
		t.Fatal(err)
	}
	o.stallTimeout = 10 * time.Second
	var out bytes.Buffer
	tr, err := benchTarget(ctx, o, "kfake", "", addr, 0, &out)
	if err != nil {
		t.Fatalf("benchTarget: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	l := tr.Load
	if l == nil || l.IdleConns != 20 || l.IdleConnsOpenAtEnd != 20 || l.ExtraPartitions != 10 || l.ExtraTopic != "bench-extra" {
		t.Fatalf("load: %+v", l)
	}
	if tr.Produce == nil || tr.Produce.Records != 300 || tr.Consume == nil || tr.Consume.Records != 300 {
		t.Fatalf("produce %+v consume %+v", tr.Produce, tr.Consume)
	}
	for _, want := range []string{"20 idle connections", `topic "bench-extra": 10 partitions`, "20 of 20 still open"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q", want)
		}
	}

	// The connections answered ApiVersions; closing the broker's side is
	// noticed.
	ic, err := openIdleConns(ctx, []string{addr}, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, conn := range ic.conns {
		if conn == nil {
			t.Fatalf("connection %d not open", i)
		}
	}
	ic.conns[2].(*net.TCPConn).CloseRead() // as if the broker had closed it
	deadline := time.Now().Add(5 * time.Second)
	for ic.lost.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := ic.close(); n != 4 {
		t.Errorf("close() = %d still open, want 4", n)
	}

	// The whole command with --compare-baseline, JSON out.
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--brokers", addr, "--records", "200", "--record-size", "64",
		"--idle-conns", "20", "--extra-partitions", "10", "--compare-baseline", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("runBench: exit %d: %s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, stdout.String())
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Variant != "baseline" || rep.Runs[0].Load != nil ||
		rep.Runs[1].Variant != "loaded" || rep.Runs[1].Load == nil || rep.Runs[1].Load.IdleConnsOpenAtEnd != 20 ||
		rep.Runs[1].Load.ExtraPartitions != 10 || rep.Comparison == nil || rep.Comparison.ProduceMBPerSec <= 0 ||
		rep.Comparison.ConsumeMBPerSec <= 0 || !rep.Settings.CompareBaseline || rep.Settings.IdleConns != 20 {
		t.Errorf("JSON report: %s", stdout.String())
	}

	// Both topics are gone again.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("bench") || topics.Has("bench-extra") {
		t.Errorf("topics left behind: %v", topics.Names())
	}
}

// TestBenchTransactions: --transaction-records produces in committed
// transactions of that many records (the last one shorter): every record
// is acknowledged and consumed, and the transactional id's last
// transaction committed.
func TestBenchTransactions(t *testing.T) {
	addr := embed.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--brokers", addr, "--records", "1050", "--record-size", "64",
		"--transaction-records", "100", "--topic", "txbench", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("runBench: exit %d: %s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, stdout.String())
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Produce == nil || rep.Runs[0].Produce.Records != 1050 ||
		rep.Runs[0].Consume == nil || rep.Runs[0].Consume.Records != 1050 || rep.Settings.TxnRecords != 100 {
		t.Fatalf("JSON report: %s", stdout.String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The topic is deleted after the run; the transaction log remains.
	txns, err := kadm.NewClient(cl).DescribeTransactions(ctx, fmt.Sprintf("sluice-bench-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := txns[fmt.Sprintf("sluice-bench-%d", os.Getpid())]
	if !ok || d.Err != nil || d.State != "CompleteCommit" || d.ProducerEpoch < 1 {
		t.Fatalf("the bench's transactional id: %+v", d)
	}
}

// TestShippedBinaryHasNoKfake keeps franz-go's fake broker out of the
// sluice binary: it is linked only with the kfake build tag.
func TestShippedBinaryHasNoKfake(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/sluice-io/sluice/cmd/sluice").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/sluice-io/sluice/internal/bench") {
		t.Fatalf("go list -deps output does not list internal/bench:\n%s", out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "franz-go/pkg/kfake") {
			t.Errorf("cmd/sluice links %s; it belongs behind the kfake build tag", dep)
		}
	}
}
