package bench

import (
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/cmdline"
)

func printBenchHeader(w io.Writer, o *benchOptions, la []float64) {
	idem := "idempotent"
	if !o.idempotent {
		idem = "not idempotent"
	}
	if o.records > 0 {
		fmt.Fprintf(w, "sluice bench: %s records of %d B to topic %q (%d partition%s), acks=%s, compression=%s, %s, batch %d B, linger %s\n",
			commas(o.records), o.recordSize, o.topic, o.partitions, cmdline.Plural(o.partitions), o.acks, o.compression, idem, o.batchBytes, o.linger)
	} else {
		fmt.Fprintf(w, "sluice bench: topic %q (%d partition%s), %d B records, acks=%s, compression=%s, %s\n",
			o.topic, o.partitions, cmdline.Plural(o.partitions), o.recordSize, o.acks, o.compression, idem)
	}
	if o.txnRecords > 0 {
		fmt.Fprintf(w, "produce phase in transactions of %s records, each flushed and committed before the next\n", commas(o.txnRecords))
	}
	if o.producers > 1 {
		fmt.Fprintf(w, "produce phase: %d producers\n", o.producers)
	}
	if o.fsync {
		fmt.Fprintln(w, "topic flush.messages=1: every batch fsynced before its ack")
	}
	if o.rate > 0 {
		fmt.Fprintf(w, "latency phase: %s records/s for %s\n", commas(int64(o.rate)), o.duration)
	}
	if len(o.brokerSets) > 0 {
		fmt.Fprintf(w, "broker settings: %s\n", strings.Join(o.brokerSets, " "))
	}
	var load []string
	if o.idleConns > 0 {
		load = append(load, fmt.Sprintf("%s idle connection%s", commas(int64(o.idleConns)), cmdline.Plural(o.idleConns)))
	}
	if o.extraPartitions > 0 {
		load = append(load, fmt.Sprintf("topic %q with %s partition%s of one record each", o.extraTopic(), commas(int64(o.extraPartitions)), cmdline.Plural(o.extraPartitions)))
	}
	if len(load) > 0 {
		fmt.Fprintf(w, "idle load held through every phase: %s\n", strings.Join(load, ", "))
	}
	if o.compareBaseline {
		if len(load) > 0 {
			fmt.Fprintf(w, "each broker runs twice: a baseline without the idle load, then with it\n")
		} else {
			fmt.Fprintf(w, "each broker runs twice, identically (no idle load asked for)\n")
		}
	}
	fmt.Fprintf(w, "load average at start: %s\n", fmtLoad(la))
}

func printThroughput(w io.Writer, phase string, t *throughputResult) {
	fmt.Fprintf(w, "  %-12s %13s records  %10.1f MB  %8.3f s  %8.1f MB/s  %11s records/s\n",
		phase, commas(t.Records), float64(t.Bytes)/1e6, t.Seconds, t.MBPerSec, commas(int64(t.RecordsPerSec)))
	if t.AckLatency != nil {
		printSummary(w, "ack", t.AckLatency)
	}
	if t.Broker != nil {
		printBroker(w, t.Broker)
	}
	printClient(w, t.ClientCPUSeconds, t.Seconds)
}

func printClient(w io.Writer, cpu, sec float64) {
	if cpu > 0 && sec > 0 {
		fmt.Fprintf(w, "    %-10s CPU %.3f s  %.0f%% of a core\n", "client", cpu, 100*cpu/sec)
	}
}

func printLatency(w io.Writer, l *latencyResult) {
	fmt.Fprintf(w, "  %-12s %s records/s for %.1f s (%.1f/s achieved): sent %s, acked %s, received %s\n",
		"latency", commas(int64(l.Rate)), l.Seconds, l.AchievedRate, commas(l.Sent), commas(l.Acked), commas(l.Received))
	if l.EndToEnd != nil {
		printSummary(w, "end-to-end", l.EndToEnd)
	}
	if l.Ack != nil {
		printSummary(w, "ack", l.Ack)
	}
	if l.Broker != nil {
		printBroker(w, l.Broker)
	}
	printClient(w, l.ClientCPUSeconds, l.Seconds)
}

func printSummary(w io.Writer, label string, s *latencySummary) {
	fmt.Fprintf(w, "    %-10s p50 %8.3f ms  p99 %8.3f ms  p99.9 %8.3f ms  max %8.3f ms  mean %8.3f ms\n",
		label, s.P50, s.P99, s.P999, s.Max, s.Mean)
}

func printBroker(w io.Writer, b *brokerUsage) {
	perGB := ""
	if b.CPUSecondsPerGB > 0 {
		perGB = fmt.Sprintf("  %.3f s/GB", b.CPUSecondsPerGB)
	}
	fmt.Fprintf(w, "    %-10s CPU %.3f s%s  %.0f%% of a core  RSS %.1f MiB  peak RSS %.1f MiB\n",
		"broker", b.CPUSeconds, perGB, b.CPUPercent, float64(b.RSSBytes)/(1<<20), float64(b.PeakRSSBytes)/(1<<20))
}

func compare(t, k *targetResult) *comparison {
	c := &comparison{Target: runLabel(t.Name, t.Variant), Against: runLabel(k.Name, k.Variant)}
	ratio := func(a, b float64) float64 {
		if a <= 0 || b <= 0 {
			return 0
		}
		return a / b
	}
	if t.Produce != nil && k.Produce != nil {
		c.ProduceMBPerSec = ratio(t.Produce.MBPerSec, k.Produce.MBPerSec)
		c.ProduceRecordsPerS = ratio(t.Produce.RecordsPerSec, k.Produce.RecordsPerSec)
		if t.Produce.Broker != nil && k.Produce.Broker != nil {
			c.ProduceCPUPerGB = ratio(t.Produce.Broker.CPUSecondsPerGB, k.Produce.Broker.CPUSecondsPerGB)
		}
	}
	if t.Consume != nil && k.Consume != nil {
		c.ConsumeMBPerSec = ratio(t.Consume.MBPerSec, k.Consume.MBPerSec)
		c.ConsumeRecordsPerS = ratio(t.Consume.RecordsPerSec, k.Consume.RecordsPerSec)
		if t.Consume.Broker != nil && k.Consume.Broker != nil {
			c.ConsumeCPUPerGB = ratio(t.Consume.Broker.CPUSecondsPerGB, k.Consume.Broker.CPUSecondsPerGB)
		}
	}
	if t.Latency != nil && k.Latency != nil && t.Latency.EndToEnd != nil && k.Latency.EndToEnd != nil {
		c.EndToEndP50 = ratio(t.Latency.EndToEnd.P50, k.Latency.EndToEnd.P50)
		c.EndToEndP99 = ratio(t.Latency.EndToEnd.P99, k.Latency.EndToEnd.P99)
	}
	if t.PID != k.PID { // one process's peak spans both runs
		c.BrokerPeakRSSMemory = ratio(float64(t.BrokerPeakRSSBytes), float64(k.BrokerPeakRSSBytes))
	}
	return c
}

func printComparison(w io.Writer, c *comparison) {
	fmt.Fprintf(w, "\n%s / %s (throughput: higher is better; latency, CPU and memory: lower is better)\n", c.Target, c.Against)
	line := func(label string, v float64) {
		if v > 0 {
			fmt.Fprintf(w, "  %-24s %7.2fx\n", label, v)
		}
	}
	line("produce MB/s", c.ProduceMBPerSec)
	line("produce records/s", c.ProduceRecordsPerS)
	line("consume MB/s", c.ConsumeMBPerSec)
	line("consume records/s", c.ConsumeRecordsPerS)
	line("end-to-end p50", c.EndToEndP50)
	line("end-to-end p99", c.EndToEndP99)
	line("broker CPU/GB produced", c.ProduceCPUPerGB)
	line("broker CPU/GB consumed", c.ConsumeCPUPerGB)
	line("broker peak RSS", c.BrokerPeakRSSMemory)
}

func fmtLoad(la []float64) string {
	if la == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", la[0], la[1], la[2])
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func nextPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

func printPageCache(w io.Writer, p *pageCacheResult) {
	ratio := ""
	if p.BrokerRatio > 0 {
		ratio = fmt.Sprintf("  broker at %.2fx it", p.BrokerRatio)
	}
	fmt.Fprintf(w, "    %-10s CPU %.3f s  %.3f s/GB writing %.1f MB in 1 MiB writes to a new file (%.2f s, %s)%s\n",
		"page cache", p.CPUSeconds, p.CPUSecondsPerGB, float64(p.Bytes)/1e6, p.Seconds, p.Dir, ratio)
}

func printSyncLatency(w io.Writer, s *syncLatencyResult) {
	if s.Sync == nil {
		return
	}
	fmt.Fprintf(w, "    disk's own fdatasync of %d B appends to %d files, %s/s in all (%s):\n", s.Size, s.Files, commas(int64(s.Rate)), s.Dir)
	printSummary(w, "fdatasync", s.Sync)
}

func printDisk(w io.Writer, d *diskResult) {
	if d == nil {
		return
	}
	ratio := ""
	if d.ProduceRatio > 0 {
		ratio = fmt.Sprintf("  produce at %.0f%% of it", 100*d.ProduceRatio)
	}
	fmt.Fprintf(w, "    %-10s %.1f MB/s writing 1 MiB chunks with fdatasync each (%d in %.2f s, %s)%s\n",
		"disk", d.MBPerSec, d.Chunks, d.Seconds, d.Dir, ratio)
}
