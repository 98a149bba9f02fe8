package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Run is 'sluice bench': it parses args, benchmarks the brokers they name
// (or one it starts), prints the report to stdout and returns the exit
// code: 0, 1 when a benchmark failed, 2 for bad flags.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseBenchFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printBenchHelp(stdout)
		return 0
	}
	if err == nil && o.compareKfake && runKfake == nil {
		err = errors.New("--compare-kfake: " + errNoKfake)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench: %v\n", err)
		return 2
	}
	rep := &benchReport{Settings: o.settings(), LoadAvgStart: loadAvg()}
	if !o.json && cmdline.Terminal(stdout) && cmdline.Terminal(stderr) {
		o.progress = stderr // a line of progress while a phase runs
	}
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
		args := []string{"serve", "--log-level", "warn", "--http-listen="}
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
	if err := createTopic(ctx, kadm.NewClient(adm), o.topic, o.partitions, o.topicConfigs()); err != nil {
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

	dir := o.dataDir
	if dir == "" {
		dir = os.TempDir()
	}
	if o.fsync && name != "kfake" {
		if tr.Disk, err = measureDisk(ctx, dir, 2*time.Second); err != nil {
			return tr, err
		}
	}
	var acked int64
	if o.records > 0 {
		tr.Produce, err = producePhase(ctx, o, seeds, meter)
		if tr.Produce != nil {
			acked = tr.Produce.Records
			if tr.Disk != nil && tr.Disk.MBPerSec > 0 {
				tr.Disk.ProduceRatio = tr.Produce.MBPerSec / tr.Disk.MBPerSec
			}
			if out != nil {
				printThroughput(out, "produce", tr.Produce)
				printDisk(out, tr.Disk)
			}
		}
		if err != nil {
			return tr, fmt.Errorf("produce: %w", err)
		}
		if o.pageCache && name != "kfake" {
			if tr.PageCache, err = measurePageCache(ctx, dir, tr.Produce.Bytes); err != nil {
				return tr, err
			}
			if b := tr.Produce.Broker; b != nil && tr.PageCache.CPUSecondsPerGB > 0 {
				tr.PageCache.BrokerRatio = b.CPUSecondsPerGB / tr.PageCache.CPUSecondsPerGB
			}
			if out != nil {
				printPageCache(out, tr.PageCache)
			}
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
		if o.fsync && name != "kfake" {
			// After the phase, not during it: the two would share the disk.
			if tr.SyncLatency, err = measureSyncLatency(ctx, dir, o.partitions, o.rate, o.recordSize, min(o.duration, 5*time.Second)); err != nil {
				return tr, err
			}
			if out != nil {
				printSyncLatency(out, tr.SyncLatency)
			}
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
