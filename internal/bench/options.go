package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/sluice-io/sluice/internal/meta"
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

Durable mode: --fsync creates the topic with flush.messages=1, so every
acknowledged batch is fsynced first, and before producing measures the
disk itself: a file in the --data-dir directory (default the system temp
dir) written in 1 MiB chunks with an fdatasync after each, for about 2 s.
Its MB/s is printed next to the produce phase's, with their ratio. With
--rate, after the latency phase it also measures the disk's own fdatasync
latency in the same shape: appends of --record-size bytes to one new file
for each partition, an fdatasync after each, --rate a second in all, for
--duration (at most 5 s): the floor under the durable ack latency.
--page-cache writes, after the produce phase, as many bytes as it produced
to a new file there (1 MiB writes, no fsync) and prints the CPU per GB
that cost the writing thread, and the broker's CPU per GB over it: the
copy into the page cache is the floor under any broker's produce CPU,
and on a virtual machine it varies with how much of the guest's memory
was touched before.
--producers runs that many producer clients (one connection each) in the
produce phase, splitting --records between them; the latency phase always
uses one.

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
  sluice bench --fsync --partitions 8 --producers 4 --rate 2000 --duration 10s
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
	progress     io.Writer // where the phases show progress (a terminal), nil for none
	producers    int       // concurrent producer clients in the produce phase
	fsync        bool      // the topic fsyncs every append before acking (flush.messages=1)
	pageCache    bool      // measure the page cache's write cost after the produce phase

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
		v, err := cmdline.ParseQuantity(s, false)
		if err == nil && v > maxIdleLoad {
			err = errors.New("at most 100k")
		}
		o.idleConns = int(v)
		return err
	})
	fs.Func("extra-partitions", "before producing, create topic <topic>-extra with this many partitions and one record in each (default 0)", func(s string) error {
		v, err := cmdline.ParseQuantity(s, false)
		if err == nil && v > maxIdleLoad {
			err = errors.New("at most 100k")
		}
		o.extraPartitions = int(v)
		return err
	})
	fs.BoolVar(&o.compareBaseline, "compare-baseline", false, "benchmark the broker twice, without then with --idle-conns and --extra-partitions, and print the ratio")
	fs.Var((*cmdline.MultiFlag)(&o.brokerSets), "broker-set", "NAME=VALUE passed to the started broker as --set (repeatable)")
	fs.StringVar(&o.dataDir, "data-dir", "", "parent directory for the started broker's temporary data directory, and where --fsync measures the disk (default the system temp dir)")
	fs.StringVar(&o.topic, "topic", "bench", "topic to create (deleted and recreated if it exists)")
	fs.IntVar(&o.partitions, "partitions", 1, "partitions of the topic")
	fs.Func("records", "records to produce and consume; 0 skips both and needs --rate (default 1M)", func(s string) error {
		v, err := cmdline.ParseQuantity(s, false)
		o.records = v
		return err
	})
	fs.Func("record-size", "bytes in each record value (default 1KiB)", func(s string) error {
		v, err := cmdline.ParseQuantity(s, true)
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
		v, err := cmdline.ParseQuantity(s, true)
		if err == nil && v > math.MaxInt32 {
			err = errors.New("too large")
		}
		o.batchBytes = int(v)
		return err
	})
	fs.DurationVar(&o.linger, "linger", 0, "producer linger")
	fs.Func("transaction-records", "produce in transactions of this many records, each flushed and committed before the next begins (default 0: no transactions)", func(s string) error {
		v, err := cmdline.ParseQuantity(s, false)
		o.txnRecords = v
		return err
	})
	fs.Func("fetch-bytes", "consumer fetch limit per request and per partition (default 64MiB)", func(s string) error {
		v, err := cmdline.ParseQuantity(s, true)
		if err == nil && v > math.MaxInt32 {
			err = errors.New("too large")
		}
		o.fetchBytes = int(v)
		return err
	})
	fs.Func("rate", "records/s for the end-to-end latency phase; 0 skips it", func(s string) error {
		v, err := cmdline.ParseQuantity(s, false)
		if err == nil && v > 100_000_000 {
			err = errors.New("at most 100M")
		}
		o.rate = int(v)
		return err
	})
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the latency phase")
	fs.BoolVar(&o.skipConsume, "skip-consume", false, "skip the consume phase")
	fs.IntVar(&o.producers, "producers", 1, "producer clients (each its own connection) sharing the produce phase's records")
	fs.BoolVar(&o.fsync, "fsync", false, "create the topic with flush.messages=1 (fsync before every ack) and measure the disk's own fdatasync write speed")
	fs.BoolVar(&o.pageCache, "page-cache", false, "after the produce phase, write as many bytes to a new file in --data-dir (1 MiB writes, no fsync) and print the CPU per GB it cost: the page-cache copy under any broker's produce CPU on this machine")
	fs.BoolVar(&o.json, "json", false, "print one JSON object with every figure instead of text")
	return fs, brokers
}

// parseBenchFlags parses and validates sluice bench's flags. It returns
// flag.ErrHelp for --help.
func parseBenchFlags(args []string) (*benchOptions, error) {
	o := &benchOptions{producers: 1, records: 1_000_000, recordSize: 1024, batchBytes: 1 << 20, fetchBytes: 64 << 20, stallTimeout: 30 * time.Second}
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
	case set["data-dir"] && len(o.brokers) > 0 && !o.fsync && !o.pageCache:
		return nil, errors.New("--data-dir applies to a broker bench starts (or, with --fsync or --page-cache, names where the disk is measured); it cannot be combined with --brokers")
	case o.pageCache && o.records == 0:
		return nil, errors.New("--page-cache measures against the produce phase: it needs --records above 0")
	}
	for _, s := range o.brokerSets {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return nil, fmt.Errorf("--broker-set %q: want NAME=VALUE", s)
		}
	}
	if err := meta.ValidateTopicName(o.topic); err != nil {
		return nil, fmt.Errorf("--topic %q: %v", o.topic, err)
	}
	if o.extraPartitions > 0 {
		if err := meta.ValidateTopicName(o.extraTopic()); err != nil {
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
	if _, err := cmdline.CompressionCodec(o.compression); err != nil {
		return nil, err
	}
	if o.producers < 1 || o.producers > 64 {
		return nil, fmt.Errorf("--producers %d: want 1 to 64", o.producers)
	}
	if o.producers > 1 && o.txnRecords > 0 {
		return nil, errors.New("--transaction-records needs --producers 1")
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

func printBenchHelp(w io.Writer) {
	fmt.Fprint(w, benchUsage)
	fs, _ := newBenchFlagSet(&benchOptions{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}
