package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const benchUsage = `Usage: sluice bench [flags]

Produces --records records to a freshly created topic, consumes them back,
and reports throughput (MB/s, records/s), produce ack latency percentiles
and, when the broker's process is known, broker CPU seconds per GB and its
resident memory (current and peak). With --rate it then measures end-to-end
latency: a producer sends at a steady rate while a consumer polls, and each
value carries its send time.

By default bench starts its own broker ('sluice serve' on a free loopback
port, with a temporary data directory and --log-level warn) and stops it at
the end; --brokers benchmarks one that is already running instead (add
--broker-pid for CPU and memory figures). --compare-kfake also runs the
identical benchmark against franz-go's in-memory fake broker kfake, in a child
process, and prints the ratio. --broker-set applies only to the started
sluice broker.

Idle load: before producing, --idle-conns opens that many extra TCP
connections to the broker, completes one ApiVersions on each and keeps them
open and silent through every phase; --extra-partitions creates the topic
<topic>-extra with that many partitions and writes one small record to each.
The benchmark's clients never touch either, and both are removed at the end.
--compare-baseline benchmarks the broker twice, without the idle load and
then with it (the same started broker, or the one --brokers names), and
prints the ratios; without --idle-conns or --extra-partitions the two runs
are identical, which shows run-to-run noise.

MB and GB are 10^6 and 10^9 bytes of record values; latencies are in
milliseconds. Produce-phase ack latency runs from Produce to the ack while
the producer keeps many batches queued, so it is mostly time queued in the
client; the --rate phase measures latency without a backlog. Broker CPU and
memory come from /proc/PID (Linux). Counts take k, M and G suffixes
(powers of 1000), sizes KiB, MiB and GiB (or K, M, G).

Examples:
  sluice bench
  sluice bench --compare-kfake
  sluice bench --idle-conns 1000 --extra-partitions 1000 --compare-baseline
  sluice bench --record-size 100 --records 10M
  sluice bench --rate 5000 --duration 10s --records 0
  sluice bench --rate 5000 --records 0 --broker-set log.flush.interval.messages=1
  sluice bench --records 10M --skip-consume --json
  sluice bench --transaction-records 100 --skip-consume
  sluice bench --brokers 127.0.0.1:9092 --broker-pid "$(pgrep -n sluice)"

Flags:
`

// benchOptions are the parsed and validated flags of sluice bench.
type benchOptions struct {
	brokers      []string
	brokerPID    int
	compareKfake bool
	brokerSets   []string
	dataDir      string
	topic        string
	partitions   int
	records      int64
	recordSize   int
	acks         string // "all", "1" or "0"
	compression  string
	idempotent   bool
	batchBytes   int
	fetchBytes   int
	linger       time.Duration
	txnRecords   int64 // records per transaction in the produce phase; 0: none
	rate         int
	duration     time.Duration
	skipConsume  bool
	json         bool

	idleConns       int  // silent connections held open through the run
	extraPartitions int  // partitions of <topic>-extra, one record each
	compareBaseline bool // run twice: without, then with the idle load

	stallTimeout time.Duration // a phase fails after this long without progress
}

func newBenchFlagSet(o *benchOptions) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	brokers := fs.String("brokers", "", "benchmark the already running broker at HOST:PORT (comma-separated seeds) instead of starting one")
	fs.IntVar(&o.brokerPID, "broker-pid", 0, "with --brokers: the broker's process id, for CPU and memory figures")
	fs.BoolVar(&o.compareKfake, "compare-kfake", false, "also benchmark franz-go's kfake fake broker and print the ratio")
	fs.Func("idle-conns", "before producing, open this many more connections, do one ApiVersions on each and hold them idle until the end (default 0)", func(s string) error {
		v, err := parseQuantity(s, false)
		if err == nil && v > maxIdleLoad {
			err = errors.New("at most 100k")
		}
		o.idleConns = int(v)
		return err
	})
	fs.Func("extra-partitions", "before producing, create topic <topic>-extra with this many partitions and one record in each (default 0)", func(s string) error {
		v, err := parseQuantity(s, false)
		if err == nil && v > maxIdleLoad {
			err = errors.New("at most 100k")
		}
		o.extraPartitions = int(v)
		return err
	})
	fs.BoolVar(&o.compareBaseline, "compare-baseline", false, "benchmark the broker twice, without then with --idle-conns and --extra-partitions, and print the ratio")
	fs.Var((*multiFlag)(&o.brokerSets), "broker-set", "NAME=VALUE passed to the started broker as --set (repeatable)")
	fs.StringVar(&o.dataDir, "data-dir", "", "parent directory for the started broker's temporary data directory (default the system temp dir)")
	fs.StringVar(&o.topic, "topic", "bench", "topic to create (deleted and recreated if it exists)")
	fs.IntVar(&o.partitions, "partitions", 1, "partitions of the topic")
	fs.Func("records", "records to produce and consume; 0 skips both and needs --rate (default 1M)", func(s string) error {
		v, err := parseQuantity(s, false)
		o.records = v
		return err
	})
	fs.Func("record-size", "bytes in each record value (default 1KiB)", func(s string) error {
		v, err := parseQuantity(s, true)
		if err == nil && v > math.MaxInt32 {
			err = errors.New("too large")
		}
		o.recordSize = int(v)
		return err
	})
	fs.StringVar(&o.acks, "acks", "all", "produce acks: all, 1 or 0")
	fs.StringVar(&o.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd (values are random, so incompressible)")
	fs.BoolVar(&o.idempotent, "idempotent", true, "idempotent producer (needs --acks all; off by default with other acks)")
	fs.Func("batch-bytes", "producer batch limit per partition (default 1MiB)", func(s string) error {
		v, err := parseQuantity(s, true)
		if err == nil && v > math.MaxInt32 {
			err = errors.New("too large")
		}
		o.batchBytes = int(v)
		return err
	})
	fs.DurationVar(&o.linger, "linger", 0, "producer linger")
	fs.Func("transaction-records", "produce in transactions of this many records, each flushed and committed before the next begins (default 0: no transactions)", func(s string) error {
		v, err := parseQuantity(s, false)
		o.txnRecords = v
		return err
	})
	fs.Func("fetch-bytes", "consumer fetch limit per request and per partition (default 64MiB)", func(s string) error {
		v, err := parseQuantity(s, true)
		if err == nil && v > math.MaxInt32 {
			err = errors.New("too large")
		}
		o.fetchBytes = int(v)
		return err
	})
	fs.Func("rate", "records/s for the end-to-end latency phase; 0 skips it", func(s string) error {
		v, err := parseQuantity(s, false)
		if err == nil && v > 100_000_000 {
			err = errors.New("at most 100M")
		}
		o.rate = int(v)
		return err
	})
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the latency phase")
	fs.BoolVar(&o.skipConsume, "skip-consume", false, "skip the consume phase")
	fs.BoolVar(&o.json, "json", false, "print one JSON object with every figure instead of text")
	return fs, brokers
}

// parseBenchFlags parses and validates sluice bench's flags. It returns
// flag.ErrHelp for --help.
func parseBenchFlags(args []string) (*benchOptions, error) {
	o := &benchOptions{records: 1_000_000, recordSize: 1024, batchBytes: 1 << 20, fetchBytes: 64 << 20, stallTimeout: 30 * time.Second}
	fs, brokers := newBenchFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *brokers != "" {
		for _, b := range strings.Split(*brokers, ",") {
			b = strings.TrimSpace(b)
			if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
				return nil, fmt.Errorf("--brokers %q: want HOST:PORT[,HOST:PORT...]", *brokers)
			}
			o.brokers = append(o.brokers, b)
		}
	}
	switch {
	case o.brokerPID < 0:
		return nil, fmt.Errorf("--broker-pid %d: want a process id", o.brokerPID)
	case o.brokerPID > 0 && len(o.brokers) == 0:
		return nil, errors.New("--broker-pid needs --brokers (a started broker is measured anyway)")
	case len(o.brokerSets) > 0 && len(o.brokers) > 0:
		return nil, errors.New("--broker-set applies to a broker bench starts; it cannot be combined with --brokers")
	case set["data-dir"] && len(o.brokers) > 0:
		return nil, errors.New("--data-dir applies to a broker bench starts; it cannot be combined with --brokers")
	}
	for _, s := range o.brokerSets {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return nil, fmt.Errorf("--broker-set %q: want NAME=VALUE", s)
		}
	}
	if err := validTopicName(o.topic); err != nil {
		return nil, fmt.Errorf("--topic %q: %v", o.topic, err)
	}
	if o.extraPartitions > 0 {
		if err := validTopicName(o.extraTopic()); err != nil {
			return nil, fmt.Errorf("--topic %q with --extra-partitions: %q: %v", o.topic, o.extraTopic(), err)
		}
	}
	if o.compareBaseline && o.compareKfake {
		return nil, errors.New("--compare-baseline and --compare-kfake: choose one comparison")
	}
	if o.partitions < 1 || o.partitions > 10000 {
		return nil, fmt.Errorf("--partitions %d: want 1 to 10000", o.partitions)
	}
	if o.records < 0 {
		return nil, fmt.Errorf("--records %d: want 0 or more", o.records)
	}
	if o.records == 0 && o.rate == 0 {
		return nil, errors.New("--records 0 without --rate: nothing to measure")
	}
	if o.batchBytes < 1024 || o.batchBytes > 1<<30 {
		return nil, fmt.Errorf("--batch-bytes %d: want 1KiB to 1GiB", o.batchBytes)
	}
	if o.fetchBytes < 1024 || o.fetchBytes > 1<<30 {
		return nil, fmt.Errorf("--fetch-bytes %d: want 1KiB to 1GiB", o.fetchBytes)
	}
	if o.recordSize < 1 {
		return nil, fmt.Errorf("--record-size %d: want at least 1 byte", o.recordSize)
	}
	if o.recordSize > o.batchBytes-128 {
		return nil, fmt.Errorf("--record-size %d: a record and its batch overhead must fit in --batch-bytes %d", o.recordSize, o.batchBytes)
	}
	if o.rate > 0 && o.recordSize < latencyHeader {
		return nil, fmt.Errorf("--record-size %d: the latency phase (--rate) needs at least %d bytes", o.recordSize, latencyHeader)
	}
	if o.rate < 0 {
		return nil, fmt.Errorf("--rate %d: want 0 or more", o.rate)
	}
	if o.duration <= 0 || o.duration > 24*time.Hour {
		return nil, fmt.Errorf("--duration %s: want more than 0 and at most 24h", o.duration)
	}
	if o.rate > 0 && float64(o.rate)*o.duration.Seconds() < 1 {
		return nil, fmt.Errorf("--rate %d for --duration %s sends no record", o.rate, o.duration)
	}
	if o.linger < 0 || o.linger > time.Minute {
		return nil, fmt.Errorf("--linger %s: want 0 to 1m", o.linger)
	}
	switch o.acks {
	case "all", "-1":
		o.acks = "all"
	case "1", "0":
		if set["idempotent"] && o.idempotent {
			return nil, fmt.Errorf("--idempotent needs --acks all, not %s", o.acks)
		}
		o.idempotent = false
	default:
		return nil, fmt.Errorf("--acks %q: want all, 1 or 0", o.acks)
	}
	if _, err := compressionCodec(o.compression); err != nil {
		return nil, err
	}
	if o.txnRecords < 0 {
		return nil, fmt.Errorf("--transaction-records %d: want 0 or more", o.txnRecords)
	}
	if o.txnRecords > 0 && !o.idempotent {
		return nil, errors.New("--transaction-records needs an idempotent producer with --acks all")
	}
	return o, nil
}

// maxIdleLoad bounds --idle-conns and --extra-partitions.
const maxIdleLoad = 100_000

// extraTopic is the topic --extra-partitions creates.
func (o *benchOptions) extraTopic() string { return o.topic + "-extra" }

func validTopicName(t string) error {
	if t == "" || t == "." || t == ".." {
		return errors.New("invalid topic name")
	}
	if len(t) > 249 {
		return errors.New("longer than 249 characters")
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("character %q: want letters, digits, '.', '_' and '-'", c)
		}
	}
	return nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// parseQuantity parses a non-negative integer with an optional suffix: k, M
// and G are powers of 1000 for counts; for sizes (binary) K, M, G, KiB, MiB,
// GiB (and KB, MB, GB) are powers of 1024 and a trailing B is allowed.
// Underscores may separate digits.
func parseQuantity(s string, binary bool) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	mult := int64(1)
	if binary {
		t = strings.TrimSuffix(strings.TrimSuffix(t, "iB"), "B")
	}
	if n := len(t); n > 0 {
		var base int64 = 1000
		if binary {
			base = 1024
		}
		switch t[n-1] {
		case 'k', 'K':
			mult = base
		case 'M':
			mult = base * base
		case 'G':
			mult = base * base * base
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative integer", s)
	}
	if v > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return v * mult, nil
}

func printBenchHelp(w io.Writer) {
	fmt.Fprint(w, benchUsage)
	fs, _ := newBenchFlagSet(&benchOptions{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// ---- results ----

type benchReport struct {
	Settings     benchSettings   `json:"settings"`
	LoadAvgStart []float64       `json:"load_avg_start,omitempty"`
	LoadAvgEnd   []float64       `json:"load_avg_end,omitempty"`
	Runs         []*targetResult `json:"runs"`
	Comparison   *comparison     `json:"comparison,omitempty"`
	Error        string          `json:"error,omitempty"`
}

type benchSettings struct {
	Topic        string   `json:"topic"`
	Partitions   int      `json:"partitions"`
	Records      int64    `json:"records"`
	RecordSize   int      `json:"record_size"`
	Acks         string   `json:"acks"`
	Compression  string   `json:"compression"`
	Idempotent   bool     `json:"idempotent"`
	BatchBytes   int      `json:"batch_bytes"`
	FetchBytes   int      `json:"fetch_bytes"`
	LingerMs     float64  `json:"linger_ms"`
	TxnRecords   int64    `json:"transaction_records,omitempty"`
	Rate         int      `json:"rate,omitempty"`
	DurationSec  float64  `json:"duration_sec,omitempty"`
	SkipConsume  bool     `json:"skip_consume,omitempty"`
	BrokerSets   []string `json:"broker_sets,omitempty"`
	CompareKfake bool     `json:"compare_kfake,omitempty"`

	IdleConns       int  `json:"idle_conns,omitempty"`
	ExtraPartitions int  `json:"extra_partitions,omitempty"`
	CompareBaseline bool `json:"compare_baseline,omitempty"`
}

type targetResult struct {
	Name string `json:"name"` // sluice, kfake or external
	// Variant tells --compare-baseline's runs apart: baseline (without the
	// idle load), loaded (with it) or repeat (a second identical run).
	Variant string            `json:"variant,omitempty"`
	Addr    string            `json:"addr"`
	PID     int               `json:"pid,omitempty"`
	Load    *loadResult       `json:"load,omitempty"`
	Produce *throughputResult `json:"produce,omitempty"`
	Consume *throughputResult `json:"consume,omitempty"`
	Latency *latencyResult    `json:"latency,omitempty"`
	// BrokerPeakRSSBytes is the broker's VmHWM at the end: its peak resident
	// memory over its whole life.
	BrokerPeakRSSBytes int64 `json:"broker_peak_rss_bytes,omitempty"`
}

// loadResult describes the idle load held through a run.
type loadResult struct {
	// IdleConns connections each completed an ApiVersions and then stayed
	// silent; IdleConnsOpenAtEnd of them were still open after the last
	// phase (the broker had not closed them).
	IdleConns          int     `json:"idle_conns"`
	IdleConnsOpenAtEnd int     `json:"idle_conns_open_at_end"`
	IdleSetupSeconds   float64 `json:"idle_setup_seconds,omitempty"`
	// ExtraTopic has ExtraPartitions partitions holding one record each.
	ExtraTopic        string  `json:"extra_topic,omitempty"`
	ExtraPartitions   int     `json:"extra_partitions"`
	ExtraSetupSeconds float64 `json:"extra_setup_seconds,omitempty"`
	// The broker's resident memory before and after setting the load up.
	BrokerRSSBeforeBytes int64 `json:"broker_rss_before_bytes,omitempty"`
	BrokerRSSAfterBytes  int64 `json:"broker_rss_after_bytes,omitempty"`
}

type throughputResult struct {
	Records       int64           `json:"records"`
	Bytes         int64           `json:"bytes"`
	Seconds       float64         `json:"seconds"`
	MBPerSec      float64         `json:"mb_per_sec"`
	RecordsPerSec float64         `json:"records_per_sec"`
	AckLatency    *latencySummary `json:"ack_latency_ms,omitempty"`
	Broker        *brokerUsage    `json:"broker,omitempty"`
	// ClientCPUSeconds is the CPU time of this bench process in the phase.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
}

type latencyResult struct {
	Rate          int             `json:"rate"`
	Seconds       float64         `json:"seconds"`
	Sent          int64           `json:"sent"`
	Acked         int64           `json:"acked"`
	Received      int64           `json:"received"`
	AchievedRate  float64         `json:"achieved_rate"`
	WarmupRecords int64           `json:"warmup_records"`
	EndToEnd      *latencySummary `json:"end_to_end_ms"`
	Ack           *latencySummary `json:"ack_ms"`
	Broker        *brokerUsage    `json:"broker,omitempty"`
	// ClientCPUSeconds is the CPU time of this bench process in the phase.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
}

type latencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

type brokerUsage struct {
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb,omitempty"`
	CPUPercent      float64 `json:"cpu_percent"` // of one core over the phase
	RSSBytes        int64   `json:"rss_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
}

// comparison holds target / against ratios (the first target / kfake, or
// loaded / baseline): above 1 is faster for throughput, below 1 is faster
// for latency.
type comparison struct {
	Target              string  `json:"target"`
	Against             string  `json:"against"`
	ProduceMBPerSec     float64 `json:"produce_mb_per_sec,omitempty"`
	ProduceRecordsPerS  float64 `json:"produce_records_per_sec,omitempty"`
	ConsumeMBPerSec     float64 `json:"consume_mb_per_sec,omitempty"`
	ConsumeRecordsPerS  float64 `json:"consume_records_per_sec,omitempty"`
	EndToEndP50         float64 `json:"end_to_end_p50,omitempty"`
	EndToEndP99         float64 `json:"end_to_end_p99,omitempty"`
	ProduceCPUPerGB     float64 `json:"produce_cpu_per_gb,omitempty"`
	ConsumeCPUPerGB     float64 `json:"consume_cpu_per_gb,omitempty"`
	BrokerPeakRSSMemory float64 `json:"broker_peak_rss,omitempty"`
}

func (o *benchOptions) settings() benchSettings {
	s := benchSettings{
		Topic: o.topic, Partitions: o.partitions, Records: o.records, RecordSize: o.recordSize,
		Acks: o.acks, Compression: o.compression, Idempotent: o.idempotent, BatchBytes: o.batchBytes, FetchBytes: o.fetchBytes,
		LingerMs: ms(o.linger.Nanoseconds()), TxnRecords: o.txnRecords, SkipConsume: o.skipConsume, BrokerSets: o.brokerSets,
		CompareKfake: o.compareKfake, IdleConns: o.idleConns, ExtraPartitions: o.extraPartitions,
		CompareBaseline: o.compareBaseline,
	}
	if o.rate > 0 {
		s.Rate, s.DurationSec = o.rate, o.duration.Seconds()
	}
	return s
}

// ---- command ----

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseBenchFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printBenchHelp(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench: %v\n", err)
		return 2
	}
	rep := &benchReport{Settings: o.settings(), LoadAvgStart: loadAvg()}
	var out io.Writer
	if !o.json {
		out = stdout
		printBenchHeader(out, o, rep.LoadAvgStart)
	}

	names := []string{"sluice"}
	if len(o.brokers) > 0 {
		names[0] = "external"
	}
	if o.compareKfake {
		names = append(names, "kfake")
	}
	for _, name := range names {
		trs, err := benchOne(ctx, o, name, out, stderr)
		rep.Runs = append(rep.Runs, trs...)
		if err != nil {
			rep.Error = fmt.Sprintf("%s: %v", name, err)
			break
		}
	}
	if len(rep.Runs) == 2 {
		if o.compareBaseline {
			rep.Comparison = compare(rep.Runs[1], rep.Runs[0])
		} else {
			rep.Comparison = compare(rep.Runs[0], rep.Runs[1])
		}
	}
	rep.LoadAvgEnd = loadAvg()

	if o.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "sluice bench: %v\n", err)
			return 1
		}
	} else {
		if rep.Comparison != nil {
			printComparison(out, rep.Comparison)
		}
		fmt.Fprintf(out, "\nload average at end: %s\n", fmtLoad(rep.LoadAvgEnd))
	}
	if rep.Error != "" {
		fmt.Fprintf(stderr, "sluice bench: %s\n", rep.Error)
		return 1
	}
	return 0
}

// benchOne starts the named target if bench owns it, benchmarks it (twice
// with --compare-baseline: without, then with the idle load) and stops it
// again.
func benchOne(ctx context.Context, o *benchOptions, name string, out, stderr io.Writer) ([]*targetResult, error) {
	var (
		addr = strings.Join(o.brokers, ",")
		pid  = o.brokerPID
		ch   *childBroker
		err  error
	)
	switch name {
	case "sluice":
		args := []string{"serve", "--log-level", "warn"}
		for _, s := range o.brokerSets {
			args = append(args, "--set", s)
		}
		ch, err = startChildBroker(ctx, args, true, o.dataDir, stderr)
	case "kfake":
		ch, err = startChildBroker(ctx, []string{"kfake"}, false, "", stderr)
	}
	if err != nil {
		return nil, fmt.Errorf("starting broker: %w", err)
	}
	if ch != nil {
		defer ch.stop()
		addr, pid = ch.addr, ch.pid
	}
	type run struct {
		variant string
		o       *benchOptions
	}
	runs := []run{{"", o}}
	if o.compareBaseline {
		base := *o
		base.idleConns, base.extraPartitions = 0, 0
		second := "loaded"
		if o.idleConns == 0 && o.extraPartitions == 0 {
			second = "repeat"
		}
		runs = []run{{"baseline", &base}, {second, o}}
	}
	var trs []*targetResult
	for _, r := range runs {
		var tr *targetResult
		tr, err = benchTarget(ctx, r.o, name, r.variant, addr, pid, out)
		if tr != nil {
			trs = append(trs, tr)
		}
		if err != nil {
			break
		}
	}
	if err != nil && ch != nil {
		if exitErr := ch.exitError(); exitErr != nil {
			err = fmt.Errorf("%w (broker exited: %v)", err, exitErr)
		}
	}
	if ch != nil {
		if stopErr := ch.stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stopping broker: %w", stopErr)
		}
	}
	return trs, err
}

// runLabel names a run in text output: the target, and the variant with
// --compare-baseline.
func runLabel(name, variant string) string {
	switch variant {
	case "":
		return name
	case "loaded":
		return name + " (with idle load)"
	}
	return name + " (" + variant + ")"
}

// benchTarget runs every phase against the broker at addr (comma-separated
// seeds), with the idle load o asks for set up first and removed at the
// end. pid, when not 0, is the broker's process for CPU and memory
// figures. Progress goes to out as text when out is not nil.
func benchTarget(ctx context.Context, o *benchOptions, name, variant, addr string, pid int, out io.Writer) (*targetResult, error) {
	tr := &targetResult{Name: name, Variant: variant, Addr: addr, PID: pid}
	if out != nil {
		if pid > 0 {
			fmt.Fprintf(out, "\n%s  %s  pid %d\n", runLabel(name, variant), addr, pid)
		} else {
			fmt.Fprintf(out, "\n%s  %s\n", runLabel(name, variant), addr)
		}
	}
	seeds := strings.Split(addr, ",")
	if err := dialAny(ctx, seeds); err != nil {
		return tr, err
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return tr, err
	}
	defer adm.Close()
	if err := createTopic(ctx, kadm.NewClient(adm), o.topic, o.partitions); err != nil {
		return tr, fmt.Errorf("creating topic %q: %w", o.topic, err)
	}
	idle, cleanup, err := setUpIdleLoad(ctx, o, tr, seeds, kadm.NewClient(adm), pid, out)
	defer cleanup()
	if err != nil {
		return tr, err
	}
	meter := &brokerMeter{pid: pid}
	defer func() {
		if pid > 0 {
			if _, hwm, err := procMemory(pid); err == nil {
				tr.BrokerPeakRSSBytes = hwm
			}
		}
	}()

	var acked int64
	if o.records > 0 {
		tr.Produce, err = producePhase(ctx, o, seeds, meter)
		if tr.Produce != nil {
			acked = tr.Produce.Records
			if out != nil {
				printThroughput(out, "produce", tr.Produce)
			}
		}
		if err != nil {
			return tr, fmt.Errorf("produce: %w", err)
		}
		if !o.skipConsume {
			tr.Consume, err = consumePhase(ctx, o, seeds, acked, meter)
			if err != nil {
				return tr, fmt.Errorf("consume: %w", err)
			}
			if out != nil {
				printThroughput(out, "consume", tr.Consume)
			}
		}
	}
	if o.rate > 0 {
		tr.Latency, err = latencyPhase(ctx, o, seeds, kadm.NewClient(adm), meter)
		if err != nil {
			return tr, fmt.Errorf("latency: %w", err)
		}
		if out != nil {
			printLatency(out, tr.Latency)
		}
	}
	if idle != nil {
		tr.Load.IdleConnsOpenAtEnd = idle.close()
		if out != nil {
			fmt.Fprintf(out, "  %-12s %s of %s still open after the last phase\n",
				"idle conns", commas(int64(tr.Load.IdleConnsOpenAtEnd)), commas(int64(tr.Load.IdleConns)))
		}
	}
	if name == "external" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		kadm.NewClient(adm).DeleteTopic(dctx, o.topic) // best effort: do not leave gigabytes behind
		cancel()
	}
	return tr, nil
}

// dialAny fails fast, unlike a Kafka client's retries, when no seed
// broker accepts connections.
func dialAny(ctx context.Context, seeds []string) error {
	var errs []error
	d := net.Dialer{Timeout: 5 * time.Second}
	for _, s := range seeds {
		conn, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			conn.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ---- idle load ----

// setUpIdleLoad creates and fills o's extra topic and opens its idle
// connections, recording both in tr.Load. It returns the connections (nil
// without --idle-conns) and a cleanup, to call even on error, that closes
// them and deletes the extra topic.
func setUpIdleLoad(ctx context.Context, o *benchOptions, tr *targetResult, seeds []string, adm *kadm.Client, pid int, out io.Writer) (*idleConnSet, func(), error) {
	if o.idleConns == 0 && o.extraPartitions == 0 {
		return nil, func() {}, nil
	}
	load := &loadResult{}
	tr.Load = load
	if pid > 0 {
		load.BrokerRSSBeforeBytes, _, _ = procMemory(pid)
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if o.extraPartitions > 0 {
		topic := o.extraTopic()
		cleanups = append(cleanups, func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			adm.DeleteTopic(dctx, topic) // best effort
			cancel()
		})
		start := time.Now()
		if err := fillExtraTopic(ctx, adm, seeds, topic, o.extraPartitions); err != nil {
			return nil, cleanup, fmt.Errorf("extra partitions: %w", err)
		}
		load.ExtraTopic, load.ExtraPartitions, load.ExtraSetupSeconds = topic, o.extraPartitions, time.Since(start).Seconds()
		if out != nil {
			fmt.Fprintf(out, "  %-12s topic %q: %s partition%s with one record each, set up in %.3f s\n",
				"idle load", topic, commas(int64(load.ExtraPartitions)), plural(load.ExtraPartitions), load.ExtraSetupSeconds)
		}
	}
	var idle *idleConnSet
	if o.idleConns > 0 {
		start := time.Now()
		var err error
		if idle, err = openIdleConns(ctx, seeds, o.idleConns); err != nil {
			return nil, cleanup, fmt.Errorf("idle connections: %w", err)
		}
		cleanups = append(cleanups, func() { idle.close() })
		load.IdleConns, load.IdleSetupSeconds = o.idleConns, time.Since(start).Seconds()
		if out != nil {
			fmt.Fprintf(out, "  %-12s %s idle connection%s, one ApiVersions each, opened in %.3f s\n",
				"idle load", commas(int64(load.IdleConns)), plural(load.IdleConns), load.IdleSetupSeconds)
		}
	}
	if pid > 0 {
		load.BrokerRSSAfterBytes, _, _ = procMemory(pid)
		if out != nil && load.BrokerRSSBeforeBytes > 0 && load.BrokerRSSAfterBytes > 0 {
			fmt.Fprintf(out, "    %-10s RSS %.1f MiB before the idle load, %.1f MiB after\n", "broker",
				float64(load.BrokerRSSBeforeBytes)/(1<<20), float64(load.BrokerRSSAfterBytes)/(1<<20))
		}
	}
	return idle, cleanup, nil
}

// fillExtraTopic creates topic with the given partitions and writes one
// small record to each, checking every partition's end offset.
func fillExtraTopic(ctx context.Context, adm *kadm.Client, seeds []string, topic string, partitions int) error {
	if err := createTopic(ctx, adm, topic, partitions); err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("sluice-bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	val := []byte("sluice bench: a record in an idle partition")
	recs := make([]*kgo.Record, partitions)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i), Value: val}
	}
	pctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing to topic %q: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(pctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of topic %q: %w", topic, err)
	}
	filled := 0
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Topic == topic && lo.Offset >= 1 {
			filled++
		}
	})
	if filled != partitions {
		return fmt.Errorf("topic %q: %d of %d partitions hold a record", topic, filled, partitions)
	}
	return nil
}

// idleConnSet holds connections that each completed one ApiVersions and
// then stay silent. A goroutine per connection, blocked in Read, notices
// the broker closing one (or, unexpectedly, sending on it).
type idleConnSet struct {
	conns   []net.Conn
	lost    atomic.Int64 // closed by the broker (or sent on) while idle
	closing atomic.Bool
	wg      sync.WaitGroup
	once    sync.Once
	open    int
}

// openIdleConns opens n connections, round robin over seeds, a few at a
// time.
func openIdleConns(ctx context.Context, seeds []string, n int) (*idleConnSet, error) {
	s := &idleConnSet{conns: make([]net.Conn, n)}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("sluice-bench-idle"))
	var (
		next   atomic.Int64
		failed atomic.Bool
		errMu  sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialAPIVersions(ctx, seeds[i%len(seeds)], f, int32(i))
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					errMu.Unlock()
					failed.Store(true)
					return
				}
				s.conns[i] = c
			}
		}()
	}
	wg.Wait()
	if first != nil {
		s.close()
		return nil, first
	}
	for _, c := range s.conns {
		s.wg.Add(1)
		go s.watch(c)
	}
	return s, nil
}

// dialAPIVersions connects to addr and completes one ApiVersions v3
// request and response.
func dialAPIVersions(ctx context.Context, addr string, f *kmsg.RequestFormatter, corrID int32) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-bench", "1"
	if _, err := c.Write(f.AppendRequest(nil, req, corrID)); err != nil {
		return fail(fmt.Errorf("sending ApiVersions: %w", err))
	}
	// ApiVersions responses always have header v0: the correlation id.
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c, sizeBuf[:]); err != nil {
		return fail(fmt.Errorf("reading the ApiVersions response: %w", err))
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > 1<<20 {
		return fail(fmt.Errorf("ApiVersions response size %d", size))
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return fail(fmt.Errorf("reading the ApiVersions response: %w", err))
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corrID {
		return fail(fmt.Errorf("ApiVersions response correlation id %d, want %d", got, corrID))
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fail(fmt.Errorf("decoding the ApiVersions response: %w", err))
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fail(fmt.Errorf("ApiVersions: %w", err))
	}
	if len(resp.ApiKeys) == 0 {
		return fail(errors.New("ApiVersions response lists no APIs"))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func (s *idleConnSet) watch(c net.Conn) {
	defer s.wg.Done()
	var b [1]byte
	c.Read(b[:]) // returns when the broker closes the connection, or at close
	if !s.closing.Load() {
		s.lost.Add(1)
	}
}

// close closes every connection and returns how many were still open. It
// may be called more than once.
func (s *idleConnSet) close() int {
	s.once.Do(func() {
		n := 0
		for _, c := range s.conns {
			if c != nil {
				n++
			}
		}
		s.open = n - int(s.lost.Load())
		s.closing.Store(true)
		for _, c := range s.conns {
			if c != nil {
				c.Close()
			}
		}
		s.wg.Wait()
	})
	return s.open
}

// createTopic creates the topic, deleting it first if it exists, and waits
// until every partition has a leader.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	deleted := false
	for {
		_, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return err
		}
		if !deleted {
			if _, err := adm.DeleteTopic(ctx, topic); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("deleting the existing topic: %w", err)
			}
			deleted = true
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("topic still exists after deleting it: %w", err)
		}
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			t, ok := md.Topics[topic]
			ready := ok && t.Err == nil && len(t.Partitions) == partitions
			if ready {
				for _, p := range t.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
			}
			if ready {
				return nil
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for partition leaders: %w", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ---- producing ----

// latencyHeader is the bytes of a latency-phase value that carry the send
// time (8 bytes, little endian nanoseconds since the phase's base time) and
// a flag (1 for a measured record, 0 for a warm-up one).
const latencyHeader = 16

// benchSlot is one reusable record. It is its record's context, so the
// promise finds its send time without allocating or a map.
type benchSlot struct {
	context.Context
	rec      kgo.Record
	sent     int64 // ns since benchProducer.base
	measured bool
	busy     atomic.Bool
	val      []byte // per-slot value (latency phase)
}

// benchProducer produces from one goroutine through a ring of slots: a
// slot is free again once its promise ran, which kgo guarantees before it
// admits more than MaxBufferedRecords (smaller than the ring).
type benchProducer struct {
	cl      *kgo.Client
	topic   string
	base    time.Time
	ring    []benchSlot
	next    int
	promise func(*kgo.Record, error)

	done atomic.Int64 // promises run, for stall detection

	// Written by the promise goroutine only; read after Flush.
	acks          histogram
	acked         int64
	ackedMeasured int64
	lastAck       int64 // ns since base

	failed   atomic.Int64
	errMu    sync.Mutex
	firstErr error
}

func producerOpts(o *benchOptions, seeds []string, maxBuffered int, linger time.Duration) []kgo.Opt {
	codec, _ := compressionCodec(o.compression)
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(int32(o.batchBytes)),
		kgo.ProducerLinger(linger),
		kgo.MaxBufferedRecords(maxBuffered),
		kgo.ProducerBatchCompression(codec),
	}
	switch o.acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !o.idempotent {
		// Idempotent producers keep up to 5 requests in flight per broker;
		// allow the same without idempotency.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	return opts
}

func newBenchProducer(o *benchOptions, seeds []string, maxBuffered int, linger time.Duration, slotValues bool, extra ...kgo.Opt) (*benchProducer, error) {
	cl, err := kgo.NewClient(append(producerOpts(o, seeds, maxBuffered, linger), extra...)...)
	if err != nil {
		return nil, err
	}
	p := &benchProducer{cl: cl, topic: o.topic, ring: make([]benchSlot, nextPow2(maxBuffered+1)), base: time.Now()}
	p.promise = p.onAck
	if slotValues {
		rng := rand.NewChaCha8([32]byte{1})
		for i := range p.ring {
			p.ring[i].val = make([]byte, o.recordSize)
			rng.Read(p.ring[i].val)
		}
	}
	return p, nil
}

// produce sends one record with value val (or, when val is nil, the slot's
// own value with the send time and flag written into it). It returns false
// when ctx ended while waiting for a free slot.
func (p *benchProducer) produce(ctx context.Context, part int32, val []byte, measured bool) bool {
	s := &p.ring[p.next&(len(p.ring)-1)]
	p.next++
	for spins := 0; s.busy.Load(); spins++ {
		// Only when promises complete out of order across partitions.
		if ctx.Err() != nil {
			return false
		}
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
	s.busy.Store(true)
	s.Context = ctx
	s.measured = measured
	s.sent = int64(time.Since(p.base))
	if val == nil {
		val = s.val
		binary.LittleEndian.PutUint64(val, uint64(s.sent))
		val[8] = 0
		if measured {
			val[8] = 1
		}
	}
	s.rec = kgo.Record{Topic: p.topic, Partition: part, Value: val, Context: s}
	p.cl.Produce(ctx, &s.rec, p.promise)
	return true
}

func (p *benchProducer) onAck(r *kgo.Record, err error) {
	s := r.Context.(*benchSlot)
	now := int64(time.Since(p.base))
	if err != nil {
		p.errMu.Lock()
		if p.firstErr == nil {
			p.firstErr = err
		}
		p.errMu.Unlock()
		p.failed.Add(1)
	} else {
		p.acked++
		if s.measured {
			p.ackedMeasured++
			p.acks.record(now - s.sent)
		}
		p.lastAck = max(p.lastAck, now)
	}
	s.busy.Store(false)
	p.done.Add(1)
}

// failure returns an error describing failed records, or nil.
func (p *benchProducer) failure() error {
	n := p.failed.Load()
	if n == 0 {
		return nil
	}
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return fmt.Errorf("%d records failed, first: %w", n, p.firstErr)
}

// flush waits for every promise, failing if none completes for the stall
// timeout.
func (p *benchProducer) flush(ctx context.Context, stall time.Duration) error {
	wctx, stop := stallWatch(ctx, stall, p.done.Load)
	defer stop()
	if err := p.cl.Flush(wctx); err != nil {
		if c := context.Cause(wctx); c != nil && ctx.Err() == nil {
			return c
		}
		return err
	}
	return nil
}

// commit flushes the open transaction and commits it; kgo's
// EndTransaction does not flush, and a record still buffered would miss
// its transaction.
func (p *benchProducer) commit(ctx context.Context, stall time.Duration) error {
	if err := p.flush(ctx, stall); err != nil {
		return err
	}
	if err := p.failure(); err != nil {
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryCommit)
}

// stallWatch returns a context that is cancelled, with a cause, when
// progress stops advancing for d.
func stallWatch(ctx context.Context, d time.Duration, progress func() int64) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(min(time.Second, d))
		defer t.Stop()
		last, since := progress(), time.Now()
		for {
			select {
			case <-stop:
				return
			case <-wctx.Done():
				return
			case <-t.C:
				if v := progress(); v != last {
					last, since = v, time.Now()
				} else if time.Since(since) >= d {
					cancel(fmt.Errorf("stalled: no progress for %s", d))
					return
				}
			}
		}
	}()
	return wctx, func() { close(stop); cancel(nil) }
}

// producerBuffer is how many records the throughput producer keeps
// buffered: enough for about ten full batches per partition, so the five
// requests kgo keeps in flight are always full.
func producerBuffer(o *benchOptions) int {
	perBatch := max(1, o.batchBytes/(o.recordSize+16))
	return min(max(10*perBatch*o.partitions, 10_000), 1<<20)
}

func producePhase(ctx context.Context, o *benchOptions, seeds []string, meter *brokerMeter) (*throughputResult, error) {
	var extra []kgo.Opt
	if o.txnRecords > 0 {
		extra = append(extra, kgo.TransactionalID(fmt.Sprintf("sluice-bench-%d", os.Getpid())))
	}
	p, err := newBenchProducer(o, seeds, producerBuffer(o), o.linger, false, extra...)
	if err != nil {
		return nil, err
	}
	defer p.cl.Close()
	value := make([]byte, o.recordSize)
	rand.NewChaCha8([32]byte{}).Read(value)

	pctx, stop := stallWatch(ctx, o.stallTimeout, p.done.Load)
	defer stop()
	meter.start()
	p.base = time.Now()
	var part int32
	var txnErr error
	for i := int64(0); i < o.records; i++ {
		if i&1023 == 0 && (p.failed.Load() != 0 || pctx.Err() != nil) {
			break
		}
		if o.txnRecords > 0 && i%o.txnRecords == 0 {
			if txnErr = p.cl.BeginTransaction(); txnErr != nil {
				break
			}
		}
		if !p.produce(pctx, part, value, true) {
			break
		}
		if part++; int(part) == o.partitions {
			part = 0
		}
		if o.txnRecords > 0 && ((i+1)%o.txnRecords == 0 || i+1 == o.records) {
			if txnErr = p.commit(pctx, o.stallTimeout); txnErr != nil {
				break
			}
		}
	}
	err = p.flush(pctx, o.stallTimeout)
	if err == nil {
		err = txnErr
	}
	if err == nil && pctx.Err() != nil {
		err = context.Cause(pctx)
	}
	if ferr := p.failure(); ferr != nil {
		err = ferr
	}
	elapsed := time.Duration(p.lastAck)
	if elapsed <= 0 {
		elapsed = time.Since(p.base)
	}
	n := p.acked * int64(o.recordSize)
	res := throughput(p.acked, n, elapsed)
	res.AckLatency = p.acks.summary()
	res.Broker = meter.stop(n, elapsed)
	res.ClientCPUSeconds = meter.selfCPU
	return res, err
}

func throughput(records, bytes int64, elapsed time.Duration) *throughputResult {
	sec := elapsed.Seconds()
	if sec <= 0 {
		return &throughputResult{Records: records, Bytes: bytes}
	}
	return &throughputResult{
		Records: records, Bytes: bytes, Seconds: sec,
		MBPerSec: float64(bytes) / 1e6 / sec, RecordsPerSec: float64(records) / sec,
	}
}

// ---- consuming ----

// benchRecordPool lets kgo decode fetched batches into reused record
// slices.
type benchRecordPool struct{ p sync.Pool }

func (rp *benchRecordPool) GetRecords(n int) []kgo.Record {
	if v, ok := rp.p.Get().(*[]kgo.Record); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]kgo.Record, n)
}

func (rp *benchRecordPool) PutRecords(rs []kgo.Record) { rp.p.Put(&rs) }

func consumerOpts(o *benchOptions, seeds []string, offsets map[int32]kgo.Offset) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-bench"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}),
		kgo.FetchMaxBytes(int32(o.fetchBytes)),
		kgo.FetchMaxPartitionBytes(int32(o.fetchBytes)),
		kgo.BrokerMaxReadBytes(int32(max(o.fetchBytes+1<<20, 100<<20))),
		kgo.WithPools(new(benchRecordPool)),
	}
}

func consumePhase(ctx context.Context, o *benchOptions, seeds []string, want int64, meter *brokerMeter) (*throughputResult, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range o.partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(consumerOpts(o, seeds, offsets)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got, n int64
	meter.start()
	start := time.Now()
	for got < want {
		pctx, cancel := context.WithTimeout(ctx, o.stallTimeout)
		fs := cl.PollFetches(pctx)
		cancel()
		for _, fe := range fs.Errors() {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(fe.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("stalled: no records for %s after %d of %d", o.stallTimeout, got, want)
			}
			return nil, fmt.Errorf("partition %d: %w", fe.Partition, fe.Err)
		}
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				n += int64(len(r.Value) + len(r.Key))
				r.Recycle()
			}
			got += int64(len(ftp.Records))
		})
	}
	elapsed := time.Since(start)
	res := throughput(got, n, elapsed)
	res.Broker = meter.stop(n, elapsed)
	res.ClientCPUSeconds = meter.selfCPU
	return res, nil
}

// ---- end-to-end latency ----

func latencyPhase(ctx context.Context, o *benchOptions, seeds []string, adm *kadm.Client, meter *brokerMeter) (*latencyResult, error) {
	// The consumer starts at the current end so it sees only this phase.
	ends, err := adm.ListEndOffsets(ctx, o.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	offsets := map[int32]kgo.Offset{}
	for p := range o.partitions {
		off := kgo.NewOffset().AtEnd()
		if lo, ok := ends.Lookup(o.topic, int32(p)); ok && lo.Offset >= 0 {
			off = kgo.NewOffset().At(lo.Offset)
		}
		offsets[int32(p)] = off
	}
	ccl, err := kgo.NewClient(consumerOpts(o, seeds, offsets)...)
	if err != nil {
		return nil, err
	}
	defer ccl.Close()
	bufRecs := min(max(64<<20/o.recordSize, 16), 4096)
	p, err := newBenchProducer(o, seeds, bufRecs, 0, true)
	if err != nil {
		return nil, err
	}
	defer p.cl.Close()
	base := p.base

	var (
		e2e      histogram // written by the consumer goroutine
		received atomic.Int64
		warm     atomic.Bool
		cerr     error
		cdone    = make(chan struct{})
	)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		defer close(cdone)
		for cctx.Err() == nil {
			fs := ccl.PollFetches(cctx)
			now := int64(time.Since(base))
			for _, fe := range fs.Errors() {
				if cctx.Err() == nil {
					cerr = fmt.Errorf("consuming partition %d: %w", fe.Partition, fe.Err)
				}
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				if v := r.Value; len(v) >= latencyHeader {
					if v[8] == 1 {
						e2e.record(now - int64(binary.LittleEndian.Uint64(v)))
						received.Add(1)
					} else {
						warm.Store(true)
					}
				}
				r.Recycle()
			})
		}
	}()
	consumerFailed := func() error {
		select {
		case <-cdone:
			if cerr == nil {
				return ctx.Err()
			}
			return cerr
		default:
			return nil
		}
	}

	// Producing blocks once the buffer is full: give up if acks stop.
	pctx, stop := stallWatch(ctx, o.stallTimeout, p.done.Load)
	defer stop()
	var part int32
	send := func(measured bool) bool {
		ok := p.produce(pctx, part, nil, measured)
		if part++; int(part) == o.partitions {
			part = 0
		}
		return ok
	}
	// pace sends records at o.rate until n are sent or until() is true.
	pace := func(n int64, measured bool, until func() bool) (int64, error) {
		start := time.Now()
		var sent int64
		for sent < n {
			if until != nil && until() {
				break
			}
			if err := consumerFailed(); err != nil {
				return sent, err
			}
			if err := p.failure(); err != nil {
				return sent, err
			}
			due := min(int64(time.Since(start).Seconds()*float64(o.rate))+1, n)
			for ; sent < due; sent++ {
				if !send(measured) {
					return sent, context.Cause(pctx)
				}
			}
			next := start.Add(time.Duration(float64(sent) / float64(o.rate) * 1e9))
			if d := time.Until(next); d > 0 {
				if sleepCtx(pctx, d) != nil {
					return sent, context.Cause(pctx)
				}
			}
		}
		return sent, nil
	}

	// Warm up (connections, metadata, producer id, the first fetch) until
	// a record has made the round trip.
	warmN, err := pace(int64(10*time.Second.Seconds()*float64(o.rate))+1, false, warm.Load)
	if err != nil {
		return nil, err
	}
	if !warm.Load() {
		return nil, errors.New("no record came back through the consumer within 10s")
	}

	meter.start()
	start := time.Now()
	total := int64(math.Round(o.duration.Seconds() * float64(o.rate)))
	sent, err := pace(total, true, nil)
	if err != nil {
		return nil, err
	}
	sendTime := time.Since(start)
	if err := p.flush(pctx, o.stallTimeout); err != nil {
		return nil, err
	}
	if err := p.failure(); err != nil {
		return nil, err
	}
	// Wait for the consumer to see every acknowledged record.
	deadline := time.Now().Add(o.stallTimeout)
	for received.Load() < p.ackedMeasured && time.Now().Before(deadline) {
		if err := consumerFailed(); err != nil {
			return nil, err
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	ccancel()
	<-cdone
	if cerr != nil {
		return nil, cerr
	}
	usage := meter.stop(0, elapsed) // CPU per GB means little at a low fixed rate
	return &latencyResult{
		Rate: o.rate, Seconds: sendTime.Seconds(), Sent: sent, Acked: p.ackedMeasured,
		Received: received.Load(), AchievedRate: float64(sent) / sendTime.Seconds(), WarmupRecords: warmN,
		EndToEnd: e2e.summary(), Ack: p.acks.summary(), Broker: usage, ClientCPUSeconds: meter.selfCPU,
	}, nil
}

// ---- percentiles ----

// histogram is a log-linear histogram of non-negative int64 values (ns):
// exact below 256, otherwise in buckets of 1/128 of a power of two (under
// 0.4% error from a bucket's middle). Not safe for concurrent use.
type histogram struct {
	counts   []uint64
	n        int64
	sum      float64
	min, max int64
}

const histSubBits = 7

func histIndex(v int64) int {
	u := uint64(max(v, 0))
	if u < 2<<histSubBits {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits - 1
	return shift<<histSubBits + int(u>>shift)
}

// histValue is the middle of bucket i.
func histValue(i int) int64 {
	if i < 2<<histSubBits {
		return int64(i)
	}
	shift := i>>histSubBits - 1
	m := int64(i - shift<<histSubBits)
	lo, hi := m<<shift, (m+1)<<shift-1
	return lo + (hi-lo)/2
}

func (h *histogram) record(v int64) {
	v = max(v, 0)
	if h.counts == nil {
		h.counts = make([]uint64, (64-histSubBits)<<histSubBits)
		h.min, h.max = v, v
	}
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
	h.min, h.max = min(h.min, v), max(h.max, v)
}

// quantile returns the value at quantile q (0 to 1): the smallest recorded
// value (up to bucket precision) with at least q of all values at or below
// it.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var cum int64
	for i, c := range h.counts {
		cum += int64(c)
		if cum >= rank {
			return min(max(histValue(i), h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) summary() *latencySummary {
	if h.n == 0 {
		return nil
	}
	return &latencySummary{
		Count: h.n, Mean: h.sum / float64(h.n) / 1e6,
		P50: ms(h.quantile(0.50)), P99: ms(h.quantile(0.99)), P999: ms(h.quantile(0.999)), Max: ms(h.max),
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// ---- broker process figures ----

// brokerMeter samples a broker process's CPU time around a phase.
// It also samples this process's own CPU time.
type brokerMeter struct {
	pid     int
	cpu0    float64
	ok      bool
	self0   float64
	selfOK  bool
	selfCPU float64 // CPU seconds of this process in the last phase
}

func (m *brokerMeter) start() {
	var err error
	m.self0, err = procCPUSeconds(os.Getpid())
	m.selfOK = err == nil
	if m.pid <= 0 {
		return
	}
	m.cpu0, err = procCPUSeconds(m.pid)
	m.ok = err == nil
}

// stop returns the phase's usage, or nil when the process cannot be read.
func (m *brokerMeter) stop(bytes int64, elapsed time.Duration) *brokerUsage {
	m.selfCPU = 0
	if m.selfOK {
		if c, err := procCPUSeconds(os.Getpid()); err == nil {
			m.selfCPU = c - m.self0
		}
		m.selfOK = false
	}
	if !m.ok {
		return nil
	}
	m.ok = false
	cpu, err := procCPUSeconds(m.pid)
	if err != nil {
		return nil
	}
	u := &brokerUsage{CPUSeconds: cpu - m.cpu0}
	if bytes > 0 {
		u.CPUSecondsPerGB = u.CPUSeconds / (float64(bytes) / 1e9)
	}
	if s := elapsed.Seconds(); s > 0 {
		u.CPUPercent = 100 * u.CPUSeconds / s
	}
	u.RSSBytes, u.PeakRSSBytes, _ = procMemory(m.pid)
	return u
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux.
const clockTicks = 100

// procCPUSeconds is the user plus system CPU time of process pid.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return float64(ut+st) / clockTicks, nil
}

// procMemory returns VmRSS and VmHWM (peak RSS) of process pid in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcStatus(b)
}

func parseProcStatus(b []byte) (rss, hwm int64, err error) {
	var found int
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if found < 2 {
		return rss, hwm, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or nil.
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	var la []float64
	for _, s := range f[:3] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil
		}
		la = append(la, v)
	}
	return la
}

// ---- child brokers ----

// childBroker is a broker bench started as a child process of its own
// executable ('sluice serve' or 'sluice kfake').
type childBroker struct {
	cmd     *exec.Cmd
	addr    string
	pid     int
	dir     string // temporary data directory to remove, if any
	exited  chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

// startChildBroker runs this executable with args plus --listen on a free
// loopback port (and --data-dir in a new temporary directory when withDir)
// and waits until the port accepts connections.
func startChildBroker(ctx context.Context, args []string, withDir bool, dataParent string, stderr io.Writer) (*childBroker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	c := &childBroker{addr: addr, exited: make(chan struct{})}
	args = append(args, "--listen", addr)
	if withDir {
		if c.dir, err = os.MkdirTemp(dataParent, "sluice-bench-"); err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", c.dir)
	}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Stdout = stderr // keep stdout for the report
	c.cmd.Stderr = stderr
	if err := c.cmd.Start(); err != nil {
		c.removeDir()
		return nil, err
	}
	c.pid = c.cmd.Process.Pid
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.exited:
			c.removeDir()
			return nil, fmt.Errorf("%s %s exited before accepting connections: %v", exe, args[0], c.waitErr)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s %s: %s not accepting connections after 30s", exe, args[0], addr)
		}
	}
}

// exitError reports why the child exited, or nil while it runs.
func (c *childBroker) exitError() error {
	select {
	case <-c.exited:
		if c.waitErr == nil {
			return errors.New("exit status 0")
		}
		return c.waitErr
	default:
		return nil
	}
}

// stop sends SIGTERM, waits (SIGKILL after 30s) and removes the data
// directory. It reports an unclean exit; calling it again is a no-op.
func (c *childBroker) stop() error {
	c.once.Do(func() {
		select {
		case <-c.exited:
			c.stopErr = c.exitError()
		default:
			c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
				c.stopErr = c.waitErr
			case <-time.After(30 * time.Second):
				c.cmd.Process.Kill()
				<-c.exited
				c.stopErr = errors.New("did not exit within 30s of SIGTERM; killed")
			}
		}
		c.removeDir()
	})
	return c.stopErr
}

func (c *childBroker) removeDir() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ---- text output ----

func printBenchHeader(w io.Writer, o *benchOptions, la []float64) {
	idem := "idempotent"
	if !o.idempotent {
		idem = "not idempotent"
	}
	if o.records > 0 {
		fmt.Fprintf(w, "sluice bench: %s records of %d B to topic %q (%d partition%s), acks=%s, compression=%s, %s, batch %d B, linger %s\n",
			commas(o.records), o.recordSize, o.topic, o.partitions, plural(o.partitions), o.acks, o.compression, idem, o.batchBytes, o.linger)
	} else {
		fmt.Fprintf(w, "sluice bench: topic %q (%d partition%s), %d B records, acks=%s, compression=%s, %s\n",
			o.topic, o.partitions, plural(o.partitions), o.recordSize, o.acks, o.compression, idem)
	}
	if o.txnRecords > 0 {
		fmt.Fprintf(w, "produce phase in transactions of %s records, each flushed and committed before the next\n", commas(o.txnRecords))
	}
	if o.rate > 0 {
		fmt.Fprintf(w, "latency phase: %s records/s for %s\n", commas(int64(o.rate)), o.duration)
	}
	if len(o.brokerSets) > 0 {
		fmt.Fprintf(w, "broker settings: %s\n", strings.Join(o.brokerSets, " "))
	}
	var load []string
	if o.idleConns > 0 {
		load = append(load, fmt.Sprintf("%s idle connection%s", commas(int64(o.idleConns)), plural(o.idleConns)))
	}
	if o.extraPartitions > 0 {
		load = append(load, fmt.Sprintf("topic %q with %s partition%s of one record each", o.extraTopic(), commas(int64(o.extraPartitions)), plural(o.extraPartitions)))
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

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
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
