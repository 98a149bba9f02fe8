package streams

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DecodeErrorHandler decides what happens to a record an agent's source
// cannot decode: return nil to skip it (its offset commits with the
// batch), or an error to stop the app (Run returns it; the batch does not
// commit, so the record is met again on restart).
type DecodeErrorHandler func(ctx context.Context, agent string, r *kgo.Record, err error) error

// OnDecodeError sets the app's handler of undecodable records (default
// SkipDecodeErrors).
func OnDecodeError(h DecodeErrorHandler) Option {
	return func(c *appConfig) error {
		if h == nil {
			return fmt.Errorf("streams: nil DecodeErrorHandler")
		}
		c.onDecodeError = h
		return nil
	}
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

// DeadLetter sends undecodable records, unchanged, to topic (as one of the
// batch's effects) with headers naming the source and the error, then
// skips them.
func DeadLetter(topic string) DecodeErrorHandler {
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
	w.log.Warn("streams: undecodable record", "agent", agent, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
	ctx = context.WithValue(ctx, agentCtxKey{}, &agentCtx{w: w, batched: true})
	return w.cfg.onDecodeError(ctx, agent, r, err)
}
