package streams

import (
	"context"
	"slices"
)

// FinalResults emits each window's final result once, when the window
// closes (stream time reaches its end plus grace; for sessions, its end
// plus gap plus grace): Kafka Streams' suppress(untilWindowCloses). f runs
// at the end of the batch whose records closed the window, with a batch
// context: what it sends with it (e.g. Topic.Send) is part of the batch.
// Under ExactlyOnce, the sends, the window's state change (its deletion, or
// its emitted mark while Expires keeps it) and the consumed offsets commit
// in one transaction, so each window's final result is in the output once,
// across crashes, rebalances and restarts: a new owner restores the mark
// or the deletion with the stream time from the changelog. Under
// AtLeastOnce a crash may emit a final result again.
//
// f must not fail for reasons a retry would not fix: its error fails the
// batch (and the worker), as an agent's error does.
func FinalResults[K, V any](f func(ctx context.Context, key K, w Window, v V) error) WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.final = f }
}

// EmitOnUpdate calls f with every window Update changes, right after the
// change, with the agent's context (Kafka Streams' default emit strategy,
// ON_WINDOW_UPDATE).
func EmitOnUpdate[K, V any](f func(ctx context.Context, key K, w Window, v V) error) WindowOption[K, V] {
	return func(o *windowOpts[K, V]) { o.onUpdate = f }
}

func slicesSortStrings(s []string) { slices.Sort(s) }
