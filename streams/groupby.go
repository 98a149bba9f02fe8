package streams

import (
	"context"
	"fmt"

	"github.com/sluice-io/sluice/codec"
)

// GroupBy repartitions src by a new key (Faust's stream.group_by): it
// declares the internal topic APPID-NAME-repartition, co-partitioned with
// src, and an agent NAME-groupby that sends every event of src to it keyed
// by by(event), value and headers unchanged. It returns that topic: agents
// reading it see every event of one key in one partition, so a table keyed
// the same way is local to them.
func GroupBy[K, V, K2 any](app *App, src *Topic[K, V], name string, key codec.Codec[K2], by func(Event[K, V]) K2) *Topic[K2, V] {
	topic := fmt.Sprintf("%s-%s-repartition", app.id, name)
	out := NewTopic(app, topic, key, src.value, Internal())
	app.register(func() error {
		out.spec.copartOf = src.spec
		return nil
	})
	NewAgent(app, name+"-groupby", src, func(ctx context.Context, s *Stream[K, V]) error {
		for ev := range s.Events() {
			if err := out.Send(ctx, by(ev), ev.Value, ev.Headers...); err != nil {
				return err
			}
		}
		return nil
	})
	return out
}
