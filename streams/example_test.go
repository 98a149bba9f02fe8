package streams_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

// A word count, run in memory by a Driver: no broker needed. Against
// Kafka, the same topology runs with app.Run(ctx) (or streams.Main(app)).
func Example() {
	app, _ := streams.NewApp("wordcount", streams.InMemoryState(),
		streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	lines := streams.NewTopic(app, "words-in", codec.String(), codec.String())
	words := streams.NewTopic(app, "wordcount-words", codec.String(), codec.String(), streams.Internal())
	counts := streams.NewTable(app, "counts", words, codec.String(), codec.JSON[int64]())
	out := streams.NewTopic(app, "word-counts", codec.String(), codec.JSON[int64](), streams.Internal())

	streams.NewAgent(app, "split", lines, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			for _, w := range strings.Fields(ev.Value) {
				if err := words.Send(ctx, w, w); err != nil { // repartition by word
					return err
				}
			}
		}
		return nil
	})
	streams.NewAgent(app, "count", words, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			n := counts.Get(ev.Partition, ev.Key) + 1
			if err := counts.Set(ctx, ev.Partition, ev.Key, n); err != nil {
				return err
			}
			if err := out.Send(ctx, ev.Key, n); err != nil {
				return err
			}
		}
		return nil
	})

	d, err := streams.NewDriver(app)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	ctx := context.Background()
	lines.Send(ctx, "", "to be or not to be")
	if err := d.Process(); err != nil {
		fmt.Println(err)
		return
	}
	evs, _ := streams.Output(d, out)
	fmt.Println("updates:", len(evs))
	table, _ := streams.TableContents(d, counts)
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Println(k, table[k])
	}
	// Output:
	// updates: 6
	// be 2
	// not 1
	// or 1
	// to 2
}
