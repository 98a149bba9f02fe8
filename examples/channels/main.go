// Command channels is the first example of Faust's guide in Go: an
// in-memory channel feeds an agent, which writes to a topic. It puts a few
// greetings on the channel, waits until they are in topic greetings, and
// exits.
//
//	channels --brokers 127.0.0.1:9092
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "seed brokers")
	flag.Parse()
	if err := run(*brokers); err != nil {
		fmt.Fprintln(os.Stderr, "channels:", err)
		os.Exit(1)
	}
}

func run(brokers string) error {
	app, err := streams.NewApp("channels", streams.Brokers(brokers), streams.InMemoryState())
	if err != nil {
		return err
	}
	defer app.Close()
	greetings := streams.NewChannel[string, string]("greetings-channel", 16)
	topic := streams.NewTopic(app, "greetings", codec.String(), codec.String(), streams.Partitions(1))

	var wg sync.WaitGroup
	streams.NewAgent(app, "shout", greetings, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			if err := topic.Send(ctx, ev.Key, strings.ToUpper(ev.Value)); err != nil {
				return err
			}
			fmt.Printf("sent %s: %s\n", ev.Key, strings.ToUpper(ev.Value))
			wg.Done()
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	names := []string{"alice", "bob", "carol"}
	wg.Add(len(names))
	for _, n := range names {
		if err := greetings.Send(ctx, n, "hello "+n); err != nil {
			return err
		}
	}
	wg.Wait()
	cancel()
	return <-done
}
