package streams

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const mainUsage = `Usage: %s [flags] [worker|agents|tables|reset]

Commands:
  worker   run a worker of the app until SIGINT or SIGTERM (the default)
  agents   list the app's agents
  tables   list the app's tables and their changelog topics
  reset    with every worker stopped: delete the app's committed offsets
           (its consumer group), its internal topics (changelogs and
           repartition topics) and its local state, so the next worker
           starts from the beginning

Flags:
`

// Main is the command line of an app binary (Faust's `faust -A app
// worker`): flags override the app's options, then the command runs. It
// exits the process with the command's status.
func Main(app *App) {
	os.Exit(MainArgs(app, os.Args[1:], os.Stdout, os.Stderr))
}

// MainArgs is Main with explicit arguments and output; it returns the exit
// status (0 ok, 1 failure, 2 usage).
func MainArgs(app *App, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(app.id, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, mainUsage, app.id)
		fs.PrintDefaults()
	}
	brokers := fs.String("brokers", "", "seed brokers, comma-separated (default: the app's, else 127.0.0.1:9092)")
	stateDir := fs.String("state-dir", "", "directory of the tables' local stores (default: the app's, else ./state)")
	guarantee := fs.String("guarantee", "", "processing guarantee: at-least-once or exactly-once (default: the app's)")
	instance := fs.String("instance-id", "", "this worker's id, stable across restarts for fast fencing (default: host-pid)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	queryListen := fs.String("query-listen", "", "serve the tables over HTTP on this address (interactive queries; e.g. :8080)")
	sessionTimeout := fs.Duration("session-timeout", 0, "consumer group session timeout (Kafka's session.timeout.ms; default 45s): how soon a killed worker's partitions move")
	queryAdvertise := fs.String("query-advertise", "", "the query address other workers reach this one at (default: the listen address)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "%s: --log-level: %v\n", app.id, err)
		return 2
	}
	var opts []Option
	if *brokers != "" {
		opts = append(opts, Brokers(*brokers))
	}
	if *stateDir != "" {
		opts = append(opts, StateDir(*stateDir))
	}
	if *guarantee != "" {
		g, err := ParseGuarantee(*guarantee)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --guarantee: %v\n", app.id, err)
			return 2
		}
		opts = append(opts, ProcessingGuarantee(g))
	}
	if *instance != "" {
		opts = append(opts, InstanceID(*instance))
	}
	if *sessionTimeout > 0 {
		opts = append(opts, ClientOpts(kgo.SessionTimeout(*sessionTimeout)))
	}
	if *queryListen != "" {
		opts = append(opts, QueryServer(*queryListen, *queryAdvertise))
	} else if *queryAdvertise != "" {
		fmt.Fprintf(stderr, "%s: --query-advertise needs --query-listen\n", app.id)
		return 2
	}
	opts = append(opts, Logger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))))
	if err := app.configure(opts...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", app.id, err)
		return 2
	}
	cmd := "worker"
	if fs.NArg() > 0 {
		cmd = fs.Arg(0)
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	switch cmd {
	case "worker":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		defer app.Close()
		if err := app.Run(ctx); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", app.id, err)
			return 1
		}
		return 0
	case "agents":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AGENT\tSOURCE\tCONCURRENCY")
		for _, a := range app.Agents() {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", a.Name, a.Source, a.Concurrency)
		}
		tw.Flush()
		return 0
	case "tables":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tCHANGELOG\tSOURCE")
		for _, t := range app.Tables() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Changelog, t.Source)
		}
		tw.Flush()
		return 0
	case "reset":
		if err := app.Reset(context.Background()); err != nil {
			fmt.Fprintf(stderr, "%s: reset: %v\n", app.id, err)
			return 1
		}
		fmt.Fprintf(stdout, "reset %s: offsets, internal topics and local state deleted\n", app.id)
		return 0
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n", app.id, cmd)
	fs.Usage()
	return 2
}

// configure applies options after NewApp (Main's flags), before Run.
func (a *App) configure(opts ...Option) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return ErrStarted
	}
	for _, o := range opts {
		if err := o(&a.cfg); err != nil {
			return err
		}
	}
	return nil
}

// Reset deletes the app's consumer group (its committed offsets), its
// internal topics (changelogs, repartition topics and the other topics
// declared Internal) and its local state directory. Every worker must be
// stopped: a running worker would recreate what Reset deletes.
func (a *App) Reset(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return ErrStarted
	}
	var internal []string
	for name, t := range a.topics {
		if t.internal {
			internal = append(internal, name)
		}
	}
	cfg := a.cfg
	a.mu.Unlock()
	sort.Strings(internal)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.brokers...)}, cfg.kopts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.DeleteGroup(ctx, a.id)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("deleting group %s: %w", a.id, err)
	}
	if len(internal) > 0 {
		dr, err := adm.DeleteTopics(ctx, internal...)
		if err != nil {
			return fmt.Errorf("deleting internal topics: %w", err)
		}
		for _, t := range dr.Sorted() {
			if t.Err != nil && !errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("deleting topic %s: %w", t.Topic, t.Err)
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(cfg.stateDir, a.id)); err != nil {
		return fmt.Errorf("deleting local state: %w", err)
	}
	return nil
}
