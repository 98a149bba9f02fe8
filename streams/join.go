package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Joins (Kafka Streams' KStream-KTable, KStream-KStream, KTable-KTable and
// KStream-GlobalKTable joins) run in one internal agent of the app, the
// join processor "__joins": it reads every topic a join or a TableOf
// reads, and processes the records of one partition number in one
// goroutine, in timestamp order across its topics (Kafka Streams picks the
// next record of a task the same way: the smallest head timestamp among
// its partitions; on equal timestamps, a table's topic goes first, so a
// lookup sees an update made at the same time). The records of one topic
// partition keep their offset order whatever their timestamps.
//
// Tables read by joins are TableOf tables: materialized from a topic, as
// builder.table(topic) is, with the topic itself as their changelog (Kafka
// Streams' source-topic changelog). When a partition is assigned the table
// is restored up to the end of its topic before the partition's first
// batch, so a stream joined with it sees every record the table's topic
// had when processing started; afterwards both advance together.
//
// A join's topics must be co-partitioned (the same partition count, and
// keys partitioned alike): Run checks the counts when it starts, and a
// worker of an app with joins uses Kafka's range assignor, which gives
// partition p of every topic to the same worker.

// joinTopo is an app's join processor, declared with the first join or
// TableOf.
type joinTopo struct {
	spec     *agentSpec
	handlers map[string][]joinHandler // by topic, in declaration order
	prio     map[string]int           // tie-break on equal timestamps: lower first
	pairs    []copartPair
	names    map[string]bool // declared joins
	globals  []*globalCore
}

// joinHandler processes one record of one of its topics, in the join
// processor's goroutine for the record's partition.
type joinHandler func(ctx context.Context, r *kgo.Record) error

type copartPair struct {
	join string
	a, b *topicSpec
}

// joinInstances is how many goroutines run the join processor (partition
// p on p mod joinInstances).
const joinInstances = 4

// joins returns the app's join processor, declaring it on first use.
// Called under app.mu (inside register).
func (a *App) joinsLocked() *joinTopo {
	if a.joins != nil {
		return a.joins
	}
	jt := &joinTopo{handlers: map[string][]joinHandler{}, prio: map[string]int{}, names: map[string]bool{}}
	jt.spec = &agentSpec{name: "__joins", concurrency: joinInstances}
	jt.spec.start = func(w *worker) agentRun { return startJoinRun(w, jt) }
	a.agents = append(a.agents, jt.spec)
	a.joins = jt
	return jt
}

// addHandler makes the join processor read topic and run h on its records.
// table marks a table's topic (processed first on equal timestamps).
func (jt *joinTopo) addHandler(t *topicSpec, table bool, h joinHandler) {
	if _, ok := jt.handlers[t.name]; !ok {
		jt.spec.topics = append(jt.spec.topics, t)
		jt.prio[t.name] = 1
	}
	if table {
		jt.prio[t.name] = 0
	}
	jt.handlers[t.name] = append(jt.handlers[t.name], h)
}

// checkCopartitioned checks that the topics of every join have the same
// partition count.
func (a *App) checkCopartitioned(counts map[string]int32) error {
	if a.joins == nil {
		return nil
	}
	for _, pr := range a.joins.pairs {
		na, nb := counts[pr.a.name], counts[pr.b.name]
		if na != nb {
			err := fmt.Errorf("%w: join %s: topics %s (%d partitions) and %s (%d partitions) are not co-partitioned: a join needs the same partition count on both sides",
				ErrTopology, pr.join, pr.a.name, na, pr.b.name, nb)
			a.cfg.logger.Error("streams: co-partitioning check failed", "app", a.id, "join", pr.join, "err", err)
			return err
		}
	}
	return nil
}

// joinWork is one partition's records of one batch, in processing order.
type joinWork struct {
	recs []*kgo.Record
	done func()
}

// joinRun is the running join processor.
type joinRun struct {
	w      *worker
	jt     *joinTopo
	ctx    context.Context
	inputs []chan joinWork
	once   sync.Once

	mu  sync.Mutex
	cur *batch
	buf map[int32]map[string][]*kgo.Record

	processed prometheus.Counter // nil: no metrics
}

func startJoinRun(w *worker, jt *joinTopo) agentRun {
	jr := &joinRun{w: w, jt: jt, buf: map[int32]map[string][]*kgo.Record{}, processed: w.app.metrics.processedCounter(jt.spec.name)}
	jr.ctx = context.WithValue(w.ctx, agentCtxKey{}, &agentCtx{w: w, batched: true})
	for range joinInstances {
		in := make(chan joinWork, 64)
		jr.inputs = append(jr.inputs, in)
		w.goAgent(func() { jr.runInstance(in) })
	}
	return jr
}

// deliver buffers r: the join processor orders a batch's records once
// every record is dispatched (endDispatch).
func (jr *joinRun) deliver(_ context.Context, r *kgo.Record, b *batch) error {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.cur != b {
		jr.cur, jr.buf = b, map[int32]map[string][]*kgo.Record{}
	}
	m := jr.buf[r.Partition]
	if m == nil {
		m = map[string][]*kgo.Record{}
		jr.buf[r.Partition] = m
	}
	m[r.Topic] = append(m[r.Topic], r)
	if jr.processed != nil {
		jr.processed.Inc()
	}
	return nil
}

// endDispatch hands each partition's records of batch b, merged in
// timestamp order, to its instance.
func (jr *joinRun) endDispatch(b *batch) error {
	jr.mu.Lock()
	buf := jr.buf
	if jr.cur != b {
		buf = nil
	}
	jr.cur, jr.buf = nil, map[int32]map[string][]*kgo.Record{}
	jr.mu.Unlock()
	ps := make([]int32, 0, len(buf))
	for p := range buf {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		recs := jr.merge(buf[p])
		b.add()
		select {
		case jr.inputs[int(p)%len(jr.inputs)] <- joinWork{recs: recs, done: b.done}:
		case <-jr.w.failed:
			b.done()
			return jr.w.err()
		case <-jr.w.ctx.Done():
			b.done()
			return jr.w.ctx.Err()
		}
	}
	return nil
}

// merge interleaves the records of one partition's topics: repeatedly the
// head with the smallest timestamp (then table topics first, then by topic
// name), each topic's records staying in offset order.
func (jr *joinRun) merge(byTopic map[string][]*kgo.Record) []*kgo.Record {
	topics := make([]string, 0, len(byTopic))
	n := 0
	for t, rs := range byTopic {
		topics = append(topics, t)
		n += len(rs)
	}
	sort.Slice(topics, func(i, j int) bool {
		pi, pj := jr.jt.prio[topics[i]], jr.jt.prio[topics[j]]
		if pi != pj {
			return pi < pj
		}
		return topics[i] < topics[j]
	})
	if len(topics) == 1 {
		return byTopic[topics[0]]
	}
	out := make([]*kgo.Record, 0, n)
	idx := make([]int, len(topics))
	for len(out) < n {
		best := -1
		var bt time.Time
		for i, t := range topics {
			rs := byTopic[t]
			if idx[i] >= len(rs) {
				continue
			}
			if ts := rs[idx[i]].Timestamp; best < 0 || ts.Before(bt) {
				best, bt = i, ts
			}
		}
		out = append(out, byTopic[topics[best]][idx[best]])
		idx[best]++
	}
	return out
}

func (jr *joinRun) runInstance(in chan joinWork) {
	failed := false
	for work := range in {
		if !failed {
			for _, r := range work.recs {
				if err := jr.process(r); err != nil {
					// Fail the worker before finishing the work, so
					// the batch holding it sees the failure.
					if !errors.Is(err, context.Canceled) {
						jr.w.fail(fmt.Errorf("%w: join processor at %s[%d]@%d: %w", ErrAgentStopped, r.Topic, r.Partition, r.Offset, err))
					}
					failed = true
					break
				}
			}
		}
		work.done()
	}
}

func (jr *joinRun) process(r *kgo.Record) error {
	for _, h := range jr.jt.handlers[r.Topic] {
		if err := h(jr.ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (jr *joinRun) stop() {
	jr.once.Do(func() {
		for _, in := range jr.inputs {
			close(in)
		}
	})
}

// endDispatch tells agents that order a batch's records themselves (the
// join processor) that every record of b has been dispatched.
func (w *worker) endDispatch(b *batch) error {
	for _, ar := range w.agents {
		if ed, ok := ar.(interface{ endDispatch(*batch) error }); ok {
			if err := ed.endDispatch(b); err != nil {
				return err
			}
		}
	}
	return nil
}
