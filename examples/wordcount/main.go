// Command wordcount counts the words of the lines in topic words-in and
// writes every new count to topic word-counts (key: the word, value: its
// count in decimal text). Run it against any Kafka broker:
//
//	wordcount --brokers 127.0.0.1:9092 [--guarantee exactly-once]
//
// With exactly-once, a read_committed consumer of word-counts sees, for
// every word, the counts 1, 2, 3, ... with no repeat and no gap, whatever
// kills and restarts of the app or the broker happen in between.
package main

import (
	"context"
	"strings"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

func main() {
	app, err := streams.NewApp("wordcount")
	if err != nil {
		panic(err)
	}
	Topology(app)
	streams.Main(app)
}

// WordCount is the app's topics and table, for tests.
type WordCount struct {
	Lines  *streams.Topic[string, string] // words-in
	Counts *streams.Topic[string, int64]  // word-counts
	Table  *streams.Table[string, int64]  // the counts, by word
}

// Topology declares the wordcount topics, table and agents on app.
func Topology(app *streams.App) WordCount {
	lines := streams.NewTopic(app, "words-in", codec.String(), codec.String())
	// Words are repartitioned by word, so that one worker counts each word.
	words := streams.NewTopic(app, "wordcount-words-repartition", codec.String(), codec.String(), streams.Internal())
	counts := streams.NewTable(app, "counts", words, codec.String(), codec.JSON[int64]())
	out := streams.NewTopic(app, "word-counts", codec.String(), codec.JSON[int64]())

	streams.NewAgent(app, "split", lines, func(ctx context.Context, s *streams.Stream[string, string]) error {
		for ev := range s.Events() {
			for _, w := range strings.Fields(ev.Value) {
				if err := words.Send(ctx, w, w); err != nil {
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
	return WordCount{Lines: lines, Counts: out, Table: counts}
}
