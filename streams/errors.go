package streams

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
)

// DecodeErrorHandler decides what happens to a record an agent's source
// cannot decode: return nil to skip it (its offset commits with the
// batch), or an error to stop the app (Run returns it; the batch does not
// commit, so the record is met again on restart).
type DecodeErrorHandler func(ctx context.Context, agent string, r *kgo.Record, err error) error

// OnDecodeError sets the app's handler of undecodable records (default
// SkipDecodeErrors). Like the other declarations, it is made before Run.
func (a *App) OnDecodeError(h DecodeErrorHandler) {
	a.register(func() error {
		if h == nil {
			return fmt.Errorf("%w: nil DecodeErrorHandler", ErrTopology)
		}
		a.cfg.onDecodeError = h
		return nil
	})
}

// SkipDecodeErrors skips undecodable records; each is logged and counted
// (App.Stats().DecodeErrors).
func SkipDecodeErrors() DecodeErrorHandler {
	return func(context.Context, string, *kgo.Record, error) error { return nil }
}

// StopOnDecodeError stops the app at the first undecodable record.
func StopOnDecodeError() DecodeErrorHandler {
	return func(_ context.Context, agent string, r *kgo.Record, err error) error {
		return fmt.Errorf("streams: agent %s: cannot decode %s[%d]@%d: %w", agent, r.Topic, r.Partition, r.Offset, err)
	}
}

// DeadLetter declares topic as one of app's topics (created by Run when
// missing) and returns a handler that sends undecodable records to it,
// unchanged, as one of the batch's effects, with headers naming the agent,
// the source position and the error; then it skips them.
func DeadLetter(app *App, topic string) DecodeErrorHandler {
	NewTopic(app, topic, codec.Bytes(), codec.Bytes())
	return func(ctx context.Context, agent string, r *kgo.Record, err error) error {
		dl := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		dl.Headers = append(dl.Headers, r.Headers...)
		dl.Headers = append(dl.Headers,
			kgo.RecordHeader{Key: "streams.error", Value: []byte(err.Error())},
			kgo.RecordHeader{Key: "streams.agent", Value: []byte(agent)},
			kgo.RecordHeader{Key: "streams.source", Value: fmt.Appendf(nil, "%s[%d]@%d", r.Topic, r.Partition, r.Offset)},
		)
		ac, ok := ctx.Value(agentCtxKey{}).(*agentCtx)
		if !ok {
			return fmt.Errorf("streams: dead letter outside a worker")
		}
		return ac.w.produce(dl)
	}
}

// decodeError applies the app's handler to an undecodable record.
func (w *worker) decodeError(ctx context.Context, agent string, r *kgo.Record, err error) error {
	w.app.stats.decodeErrors.Add(1)
	w.app.metrics.incDecodeErrors()
	w.log.Warn("streams: undecodable record", "agent", agent, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
	ctx = context.WithValue(ctx, agentCtxKey{}, &agentCtx{w: w, batched: true})
	return w.cfg.onDecodeError(ctx, agent, r, err)
}
