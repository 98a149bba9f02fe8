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

	"github.com/sluice-io/sluice/internal/bench"
)

const usage = `sluice: a Kafka-compatible event-streaming broker

Usage:
  sluice serve [flags]            run a broker (data in ./data, listening on 127.0.0.1:9092)
  sluice bench [flags]            produce then consume through a broker and report throughput and latency
  sluice recover-metadata [flags] rebuild a lost meta.json from the partition directories (broker stopped)
  sluice top [flags]              a broker's rates, lag and disk use from its /metrics, refreshed

Client commands (for Sluice or any Kafka cluster):
  sluice topic create NAME        create a topic (--partitions N)
  sluice topic list               list topics
  sluice topic describe NAME      partitions, offsets and configs of a topic
  sluice topic alter-config NAME  set or delete topic configs
  sluice topic delete NAME...     delete topics
  sluice produce TOPIC            send lines of standard input as records
  sluice consume TOPIC            print records (from --offset beginning|end|N|-N|@UNIX_MS)
  sluice group list               list consumer groups
  sluice group describe GROUP     committed offsets and lag per partition
  sluice group seek GROUP         move a stopped group's offsets
  sluice group delete GROUP...    delete consumer groups
  sluice share-group list|describe|reset-offsets|delete
                                  manage share groups (KIP-932 queues)
  sluice cluster info             cluster id, controller and brokers
  sluice user set|list|delete     manage SASL users' SCRAM credentials
  sluice acl create|list|delete   manage ACLs (kafka-acls-like flags)
  sluice quota describe|alter     manage client quotas of users and client ids

Schema registry commands (for Sluice's registry, Confluent's or Karapace):
  sluice schema register SUBJECT  register a schema file (--schema FILE)
  sluice schema list              list subjects
  sluice schema get SUBJECT       show a version (--version N|latest) or --id N
  sluice schema delete SUBJECT    soft-delete a subject or --version; --permanent
  sluice schema check SUBJECT     test compatibility of --schema FILE (exit 1 if not)
  sluice schema config [SUBJECT]  show or --set the compatibility level (and mode)

  sluice help [COMMAND]           this text, or a command's help

Client commands connect to --brokers (default $SLUICE_BROKERS, else
127.0.0.1:9092), print tables (or JSON with --format json) on stdout, and
report a failure as one line on stderr with a non-zero exit status. Schema
commands connect to --registry (default $SLUICE_REGISTRY, else
http://127.0.0.1:8081); produce and consume take --value-schema and
--key-schema to write and read registry-encoded (Avro, Protobuf, JSON
Schema) records as JSON lines.

Examples:
  sluice serve &
  sluice topic create orders --partitions 3
  seq 10 | sluice produce orders
  sluice consume orders --offset beginning -e

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
	cio := &cmdIO{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], os.Environ(), stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], stdout, stderr)
	case "recover-metadata":
		return runRecoverMetadata(args[1:], stdout, stderr)
	case "kfake":
		return bench.RunKfake(ctx, args[1:], stdout, stderr)
	case "topic":
		return topicFamily.run(ctx, cio, args[1:])
	case "group":
		return groupFamily.run(ctx, cio, args[1:])
	case "share-group":
		return shareGroupFamily.run(ctx, cio, args[1:])
	case "cluster":
		return clusterFamily.run(ctx, cio, args[1:])
	case "user":
		return userFamily.run(ctx, cio, args[1:])
	case "acl":
		return aclFamily.run(ctx, cio, args[1:])
	case "quota":
		return quotaFamily.run(ctx, cio, args[1:])
	case "schema":
		return schemaFamily.run(ctx, cio, args[1:])
	case "top":
		return single(ctx, cio, "top", runTop, args[1:])
	case "produce":
		return single(ctx, cio, "produce", runProduce, args[1:])
	case "consume":
		return single(ctx, cio, "consume", runConsume, args[1:])
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" && args[1] != "help" {
			// sluice help COMMAND [SUBCOMMAND] is sluice COMMAND [SUBCOMMAND] --help.
			return Main(append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q (run 'sluice help')\n", args[0])
		return 2
	}
}
