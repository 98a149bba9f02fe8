//go:build kfake

package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

const kfakeUsage = `Usage: sluice kfake [flags]

Hidden helper for 'sluice bench --compare-kfake': runs franz-go's in-memory
fake Kafka broker (kfake, one broker) until SIGTERM or SIGINT. It logs
"kfake listening addr=HOST:PORT" on stderr once it accepts connections.

Flags:
`

func init() { runKfake = serveKfake }

// serveKfake serves a one-broker kfake cluster on --listen until ctx is done.
func serveKfake(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("kfake", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:0", "HOST:PORT to accept Kafka clients on")
	blackhole := fs.Bool("blackhole-produce", false, "acknowledge produced records without storing them (measures the client alone; nothing can be consumed)")
	synthetic := fs.Int("synthetic-fetch", 0, "if above 0, answer every fetch with a canned 1 MB batch of values of this many bytes (measures the consuming client alone)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, kfakeUsage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "sluice kfake: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice kfake: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		fmt.Fprintf(stderr, "sluice kfake: --listen %q: want HOST:PORT\n", *listen)
		return 2
	}
	var opts []kfake.Opt
	if *blackhole {
		opts = append(opts, kfake.BlackholeProduce())
	}
	if *synthetic > 0 {
		opts = append(opts, kfake.SyntheticFetch(kfake.SyntheticBatch{RecordBytes: *synthetic, RandomFrac: 1}))
	}
	c, err := newKfakeCluster(*listen, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "sluice kfake: %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintf(stderr, "kfake listening addr=%s\n", c.ListenAddrs()[0])
	<-ctx.Done()
	return 0
}

// newKfakeCluster starts a one-broker kfake cluster bound to listen
// (HOST:PORT; port 0 picks a free one).
func newKfakeCluster(listen string, opts ...kfake.Opt) (*kfake.Cluster, error) {
	return kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listen)
		}),
	}, opts...)...)
}
