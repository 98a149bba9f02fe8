package streams

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// memBroker is the Driver's in-memory log: topics of partitions of records,
// the app's committed group offsets, and transactions whose records stay
// invisible to read_committed readers until they commit (and forever once
// aborted), as in Kafka.
type memBroker struct {
	app *App

	mu        sync.Mutex
	topics    map[string]*memTopic
	seq       int64        // append order across topics
	committed map[tp]int64 // the app's group offsets
	parts     map[string]kgo.TopicPartitioner
	part      kgo.Partitioner
}

type tp struct {
	topic string
	p     int32
}

type memTopic struct {
	parts [][]memEntry
}

type memEntry struct {
	r   *kgo.Record
	txn *memTxn // nil: not transactional
	seq int64
}

type memTxn struct{ state txnState }

type txnState int

const (
	txnOpen txnState = iota
	txnCommitted
	txnAborted
)

func newMemBroker(a *App) *memBroker {
	return &memBroker{
		app:       a,
		topics:    map[string]*memTopic{},
		committed: map[tp]int64{},
		parts:     map[string]kgo.TopicPartitioner{},
		part:      a.partitioner(),
	}
}

func (b *memBroker) partitionCount(_ context.Context, topic string) (int32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[topic]; t != nil {
		return int32(len(t.parts)), nil
	}
	return 0, nil
}

func (b *memBroker) createTopic(_ context.Context, s *topicSpec, partitions int32, _ int16) (int32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[s.name]; t != nil {
		return int32(len(t.parts)), nil
	}
	b.topics[s.name] = &memTopic{parts: make([][]memEntry, partitions)}
	return partitions, nil
}

// appendLocked appends r (setting its partition, offset and, when unset,
// timestamp) as part of txn.
func (b *memBroker) appendLocked(r *kgo.Record, txn *memTxn) error {
	t := b.topics[r.Topic]
	if t == nil {
		return fmt.Errorf("streams: topic %s: %w", r.Topic, kerr.UnknownTopicOrPartition)
	}
	n := len(t.parts)
	tpr := b.parts[r.Topic]
	if tpr == nil {
		tpr = b.part.ForTopic(r.Topic)
		b.parts[r.Topic] = tpr
	}
	p := tpr.Partition(r, n)
	if p < 0 || p >= n {
		return fmt.Errorf("streams: topic %s partition %d: %w", r.Topic, p, kerr.UnknownTopicOrPartition)
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = b.app.cfg.now()
	}
	r.Partition = int32(p)
	r.Offset = int64(len(t.parts[p]))
	c := *r
	c.Headers = slices.Clone(r.Headers)
	b.seq++
	t.parts[p] = append(t.parts[p], memEntry{r: &c, txn: txn, seq: b.seq})
	return nil
}

// produceSync appends r outside any transaction (sends from outside agents).
func (b *memBroker) produceSync(r *kgo.Record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.appendLocked(r, nil)
}

// visible reports whether e can be read: read_committed readers skip
// aborted records and stop at open transactions (stop is then true).
func (e memEntry) visible(readCommitted bool) (ok, stop bool) {
	if e.txn == nil || !readCommitted {
		return true, false
	}
	switch e.txn.state {
	case txnOpen:
		return false, true
	case txnAborted:
		return false, false
	}
	return true, false
}

// records returns the visible records of topic in append order, as a
// read_committed consumer sees them.
func (b *memBroker) records(topic string) ([]*kgo.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topic]
	if t == nil {
		return nil, fmt.Errorf("streams: topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	var es []memEntry
	for _, part := range t.parts {
		for _, e := range part {
			ok, stop := e.visible(true)
			if stop {
				break
			}
			if ok {
				es = append(es, e)
			}
		}
	}
	slices.SortFunc(es, func(a, b memEntry) int { return int(a.seq - b.seq) })
	out := make([]*kgo.Record, len(es))
	for i, e := range es {
		c := *e.r
		out[i] = &c
	}
	return out, nil
}

// transport returns the in-memory transport of worker w, which owns every
// partition of topics.
func (b *memBroker) transport(w *worker, topics []string) *memTransport {
	return &memTransport{b: b, w: w, topics: topics, eos: w.cfg.guarantee == ExactlyOnce && len(topics) > 0, pos: map[tp]int64{}}
}

// memTransport is a worker's transport over a memBroker.
type memTransport struct {
	b      *memBroker
	w      *worker
	topics []string
	eos    bool

	pos map[tp]int64 // next offset to poll; guarded by b.mu
	txn *memTxn
}

// assignment returns every partition of the transport's topics.
func (t *memTransport) assignment() map[string][]int32 {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	m := map[string][]int32{}
	for _, name := range t.topics {
		mt := t.b.topics[name]
		for p := range mt.parts {
			m[name] = append(m[name], int32(p))
			t.pos[tp{name, int32(p)}] = t.b.committed[tp{name, int32(p)}]
		}
	}
	return m
}

func (t *memTransport) poll(_ context.Context, max int) ([]*kgo.Record, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	var out []*kgo.Record
	for _, name := range t.topics {
		mt := t.b.topics[name]
		for p, part := range mt.parts {
			k := tp{name, int32(p)}
			off := t.pos[k]
			for ; off < int64(len(part)) && len(out) < max; off++ {
				ok, stop := part[off].visible(t.eos)
				if stop {
					break
				}
				if ok {
					c := *part[off].r
					out = append(out, &c)
				}
			}
			t.pos[k] = off
		}
	}
	return out, nil
}

func (t *memTransport) allowRebalance()     {}
func (t *memTransport) transactional() bool { return t.eos }

func (t *memTransport) begin() error {
	t.txn = &memTxn{}
	return nil
}

func (t *memTransport) end(_ context.Context, commit bool) (bool, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if commit {
		t.txn.state = txnCommitted
		for k, off := range t.pos {
			t.b.committed[k] = off
		}
	} else {
		t.txn.state = txnAborted
		for k := range t.pos {
			t.pos[k] = t.b.committed[k]
		}
	}
	t.txn = nil
	return commit, nil
}

func (t *memTransport) produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	t.b.mu.Lock()
	err := t.b.appendLocked(r, t.txn)
	t.b.mu.Unlock()
	promise(r, err)
}

func (t *memTransport) flush(context.Context) error { return nil }

func (t *memTransport) commitOffsets(context.Context) error {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for k, off := range t.pos {
		t.b.committed[k] = off
	}
	return nil
}

func (t *memTransport) offsets(_ context.Context, topic string, p int32) (int64, int64, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	mt := t.b.topics[topic]
	if mt == nil || int(p) >= len(mt.parts) {
		return 0, 0, fmt.Errorf("topic %s partition %d: %w", topic, p, kerr.UnknownTopicOrPartition)
	}
	end := int64(len(mt.parts[p]))
	if t.eos {
		for i, e := range mt.parts[p] {
			if _, stop := e.visible(true); stop {
				end = int64(i)
				break
			}
		}
	}
	return 0, end, nil
}

func (t *memTransport) read(_ context.Context, topic string, p int32, from, end int64, fn func(*kgo.Record) error) error {
	t.b.mu.Lock()
	var rs []*kgo.Record
	if mt := t.b.topics[topic]; mt != nil && int(p) < len(mt.parts) {
		part := mt.parts[p]
		for off := from; off < end && off < int64(len(part)); off++ {
			if ok, _ := part[off].visible(t.eos); ok {
				c := *part[off].r
				rs = append(rs, &c)
			}
		}
	}
	t.b.mu.Unlock()
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (t *memTransport) close() {}
