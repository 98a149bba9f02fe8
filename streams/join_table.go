package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// JoinKind is a join's kind: which unmatched records still produce a
// result.
type JoinKind int

const (
	// InnerJoin emits only records that found a partner.
	InnerJoin JoinKind = iota
	// LeftJoin also emits left records without a partner (the joiner gets
	// ok false for the right side).
	LeftJoin
	// OuterJoin also emits records of either side without a partner.
	OuterJoin
)

func (k JoinKind) String() string {
	switch k {
	case InnerJoin:
		return "inner"
	case LeftJoin:
		return "left"
	case OuterJoin:
		return "outer"
	}
	return fmt.Sprintf("JoinKind(%d)", int(k))
}

// TableOf declares a table materialized from a topic (Kafka Streams'
// builder.table, a KTable): each key holds the value of its latest record
// in the topic, a record with a null value (a tombstone) deletes the key,
// records with a null key are skipped. The topic is the table's changelog
// (it should be compacted); the table is read by the app's join processor
// (see JoinStreamTable), restored from the topic up to its end when a
// partition is assigned, and queryable like any table. Agents must not
// write to it: its writer is the topic.
func TableOf[K, V any](app *App, name string, topic *Topic[K, V]) *Table[K, V] {
	spec := &tableSpec{name: name, changelog: topic.Name(), source: topic.spec, fromTopic: true}
	spec.render = func(b []byte) (any, error) { return topic.value.Decode(b) }
	spec.core = &tableCore{app: app, name: name, changelog: spec.changelog, source: spec.source}
	t := &Table[K, V]{spec: spec, key: topic.key, value: topic.value}
	app.register(func() error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: table: %w", ErrTopology, err)
		}
		for _, other := range app.tables {
			if other.name == name {
				return fmt.Errorf("%w: two tables named %q", ErrTopology, name)
			}
			if other.fromTopic && other.changelog == spec.changelog {
				return fmt.Errorf("%w: tables %s and %s both read topic %s", ErrTopology, other.name, name, spec.changelog)
			}
		}
		spec.source = topic.spec
		app.tables = append(app.tables, spec)
		app.joinsLocked().addHandler(spec.source, true, spec.core.applyFromTopic)
		return nil
	})
	return t
}

// applyFromTopic applies a record of a TableOf's topic to the table, in
// the current batch. Records below the partition's checkpoint are already
// in the store (restored, or applied by a batch whose offsets were not
// committed) and are skipped.
func (tc *tableCore) applyFromTopic(_ context.Context, r *kgo.Record) error {
	if r.Key == nil {
		return nil
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tp, err := tc.part(r.Partition)
	if err != nil {
		return err
	}
	next := tp.last + 1
	if tp.last < 0 {
		if next, err = tp.st.checkpoint(); err != nil {
			return err
		}
	}
	if r.Offset < next {
		return nil
	}
	tp.overlay[string(r.Key)] = kv{k: r.Key, v: r.Value, del: r.Value == nil}
	tp.last = r.Offset
	return nil
}

// declareJoin registers a join's name and its co-partitioned topics.
func (a *App) declareJoin(name string, x, y *topicSpec) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("%w: join: %w", ErrTopology, err)
	}
	jt := a.joinsLocked()
	if jt.names[name] {
		return fmt.Errorf("%w: two joins named %q", ErrTopology, name)
	}
	jt.names[name] = true
	if x != nil && y != nil {
		jt.pairs = append(jt.pairs, copartPair{join: name, a: x, b: y})
	}
	return nil
}

func tableOfOnly(join string, t *tableSpec) error {
	if !t.fromTopic {
		return fmt.Errorf("%w: join %s: table %s must be a TableOf (a table materialized from a topic)", ErrTopology, join, t.name)
	}
	return nil
}

// emit sends a join result (or, with del, a tombstone) to out, with the
// given timestamp, as an effect of the current batch.
func emit[K, R any](ctx context.Context, out *Topic[K, R], key K, res R, del bool, ts time.Time) error {
	var r *kgo.Record
	if del {
		kb, err := out.key.Encode(key)
		if err != nil {
			return fmt.Errorf("streams: topic %s: key: %w", out.Name(), err)
		}
		r = &kgo.Record{Topic: out.Name(), Key: kb}
	} else {
		var err error
		if r, err = out.record(key, res, nil); err != nil {
			return err
		}
	}
	r.Timestamp = ts
	return out.app.send(ctx, r)
}

// JoinStreamTable joins each record of stream with the value its key has
// in table (a TableOf) when the record is processed, and sends the
// joiner's result to out with the stream record's key and timestamp:
// Kafka Streams' KStream-KTable join. Only stream records trigger results;
// a table update changes what later stream records see. InnerJoin skips
// stream records whose key is not in the table; LeftJoin calls joiner with
// found false. Stream records with a null key or value are skipped, as in
// Kafka Streams. stream and the table's topic must be co-partitioned.
func JoinStreamTable[K, V, T, R any](app *App, name string, stream *Topic[K, V], table *Table[K, T], kind JoinKind, joiner func(key K, v V, t T, found bool) R, out *Topic[K, R]) {
	app.register(func() error {
		if kind != InnerJoin && kind != LeftJoin {
			return fmt.Errorf("%w: join %s: a stream-table join is inner or left, not %s", ErrTopology, name, kind)
		}
		if err := tableOfOnly(name, table.spec); err != nil {
			return err
		}
		if err := app.declareJoin(name, stream.spec, table.spec.source); err != nil {
			return err
		}
		app.joins.addHandler(stream.spec, false, func(ctx context.Context, r *kgo.Record) error {
			if r.Key == nil || r.Value == nil {
				return nil
			}
			ev, err := stream.decode(r)
			if err != nil {
				return decodeFailed(ctx, name, r, err)
			}
			t, found := table.Lookup(r.Partition, ev.Key)
			if err := table.spec.core.stickyErr(); err != nil {
				return err
			}
			if !found && kind == InnerJoin {
				return nil
			}
			return emit(ctx, out, ev.Key, joiner(ev.Key, ev.Value, t, found), false, r.Timestamp)
		})
		return nil
	})
}

// decodeFailed hands an undecodable record to the app's decode-error
// handler.
func decodeFailed(ctx context.Context, join string, r *kgo.Record, err error) error {
	ac, _ := ctx.Value(agentCtxKey{}).(*agentCtx)
	if ac == nil {
		return err
	}
	if errors.Is(err, ErrRegistryUnavailable) {
		return fmt.Errorf("streams: join %s: %s[%d]@%d: %w", join, r.Topic, r.Partition, r.Offset, err)
	}
	return ac.w.decodeError(ctx, "join "+join, r, err)
}

// JoinTables joins two TableOf tables by key, as Kafka Streams'
// KTable-KTable join: every update of either side (a record of its topic)
// emits the new result for its key to out, with the update's key and
// timestamp. For an update of key k, with a and b the two sides' values
// after it:
//   - InnerJoin: nothing when the other side has no value for k; a
//     tombstone when the update deleted k; else joiner(a, b).
//   - LeftJoin: an update of the left side emits joiner(a, b or none), or
//     a tombstone when it deleted k; an update of the right side emits
//     nothing when the left side has no value, else joiner(a, b or none).
//   - OuterJoin: a tombstone when neither side has a value, else
//     joiner(a or none, b or none).
//
// The result is a changelog stream: declare TableOf(out) to hold the
// joined table. The two tables' topics must be co-partitioned.
func JoinTables[K, A, B, R any](app *App, name string, left *Table[K, A], right *Table[K, B], kind JoinKind, joiner func(key K, a A, aok bool, b B, bok bool) R, out *Topic[K, R]) {
	app.register(func() error {
		if kind != InnerJoin && kind != LeftJoin && kind != OuterJoin {
			return fmt.Errorf("%w: join %s: unknown join kind %s", ErrTopology, name, kind)
		}
		if err := tableOfOnly(name, left.spec); err != nil {
			return err
		}
		if err := tableOfOnly(name, right.spec); err != nil {
			return err
		}
		if left.spec.source == right.spec.source {
			return fmt.Errorf("%w: join %s: both tables read topic %s", ErrTopology, name, left.spec.source.name)
		}
		if err := app.declareJoin(name, left.spec.source, right.spec.source); err != nil {
			return err
		}
		update := func(fromLeft bool) joinHandler {
			return func(ctx context.Context, r *kgo.Record) error {
				if r.Key == nil {
					return nil
				}
				key, err := left.key.Decode(r.Key)
				if err != nil {
					return decodeFailed(ctx, name, r, err)
				}
				a, aok := left.Lookup(r.Partition, key)
				b, bok := right.Lookup(r.Partition, key)
				if err := errors.Join(left.spec.core.stickyErr(), right.spec.core.stickyErr()); err != nil {
					return err
				}
				var res R
				emitRes, del := true, false
				switch kind {
				case InnerJoin:
					other := bok
					self := aok
					if !fromLeft {
						other, self = aok, bok
					}
					switch {
					case !other:
						emitRes = false
					case !self:
						del = true
					}
				case LeftJoin:
					switch {
					case fromLeft && !aok:
						del = true
					case !fromLeft && !aok:
						emitRes = false
					}
				case OuterJoin:
					del = !aok && !bok
				}
				if !emitRes {
					return nil
				}
				if !del {
					res = joiner(key, a, aok, b, bok)
				}
				return emit(ctx, out, key, res, del, r.Timestamp)
			}
		}
		app.joins.addHandler(left.spec.source, false, update(true))
		app.joins.addHandler(right.spec.source, false, update(false))
		return nil
	})
}
