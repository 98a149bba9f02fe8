// Package cli implements the sluice command's subcommands. Each returns an
// exit code; errors are printed as one line on stderr.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `sluice: a Kafka-compatible event-streaming broker

Usage:
  sluice serve [flags]   run a broker (data in ./data, listening on 127.0.0.1:9092)
  sluice bench [flags]   produce then consume through a broker and report throughput and latency
  sluice help            this text

Run 'sluice COMMAND --help' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], os.Environ(), stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "kfake":
		return runKfake(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q (run 'sluice help')\n", args[0])
		return 2
	}
}
