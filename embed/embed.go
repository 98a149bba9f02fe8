// Package embed runs a real Sluice broker inside your process, for tests of
// code that talks to Kafka. One call starts it on a free loopback port with
// a temporary data directory and returns its address:
//
//	func TestMyConsumer(t *testing.T) {
//		addr := embed.ForTest(t) // stopped and removed when the test ends
//		// point any Kafka client at addr
//	}
//
// It is the same broker as `sluice serve`, speaking the Kafka protocol over
// TCP, so clients are exercised exactly as in production.
package embed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

// Broker is a running in-process broker.
type Broker struct {
	b       *broker.Broker
	dir     string
	tempDir bool
	done    chan error
}

type options struct {
	dataDir string
	configs map[string]string
	logger  *slog.Logger
}

// Option configures Start.
type Option func(*options)

// WithDataDir keeps the data in dir instead of a temporary directory that
// Stop removes; starting again on the same dir finds the same topics.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithConfig sets a Kafka broker config, e.g. WithConfig("num.partitions", "3").
func WithConfig(name, value string) Option {
	return func(o *options) { o.configs[name] = value }
}

// WithLogger sends the broker's logs to l (discarded by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Start starts a broker on 127.0.0.1 with a free port. The broker runs
// until Stop (or ctx is done).
func Start(ctx context.Context, opts ...Option) (*Broker, error) {
	o := options{configs: map[string]string{}, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	eb := &Broker{dir: o.dataDir, done: make(chan error, 1)}
	if eb.dir == "" {
		dir, err := os.MkdirTemp("", "sluice-embed-")
		if err != nil {
			return nil, fmt.Errorf("embed: creating data directory: %w", err)
		}
		eb.dir, eb.tempDir = dir, true
	}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", DataDir: eb.dir, Kafka: o.configs, Logger: o.logger})
	if err != nil {
		if eb.tempDir {
			os.RemoveAll(eb.dir)
		}
		return nil, fmt.Errorf("embed: %w", err)
	}
	eb.b = b
	go func() { eb.done <- b.Serve(ctx) }()
	return eb, nil
}

// Addr is the broker's host:port, to give Kafka clients as the bootstrap
// server.
func (b *Broker) Addr() string { return b.b.Addr().String() }

// DataDir is where the broker keeps its data.
func (b *Broker) DataDir() string { return b.dir }

// Stop shuts the broker down cleanly, waits for it, and removes the data
// directory if Start created it.
func (b *Broker) Stop() error {
	err := b.b.Close()
	if serr := <-b.done; err == nil {
		err = serr
	}
	b.done <- nil // let a second Stop return at once
	if b.tempDir {
		if rerr := os.RemoveAll(b.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// ForTest starts a broker for the duration of a test and returns its
// address; the broker is stopped and its data removed when the test ends.
func ForTest(t testing.TB, opts ...Option) string {
	t.Helper()
	b, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatalf("starting embedded sluice broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("stopping embedded sluice broker: %v", err)
		}
	})
	return b.Addr()
}
