package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// transport is what a worker needs from the log under its topics: a group
// consumer that hands out batches, a producer whose writes are one batch's
// effects, offset commits or transactions, and reads of changelog
// partitions. kafkaTransport is the real one (franz-go); memTransport is
// the Driver's in-memory log. The worker's batch cycle (worker.process) is
// the same over both.
type transport interface {
	// poll returns the next records of the assigned partitions, at most
	// max; it returns an error only when the worker must stop.
	poll(ctx context.Context, max int) ([]*kgo.Record, error)
	// allowRebalance lets a pending rebalance run (between batches).
	allowRebalance()
	// transactional is true under ExactlyOnce: begin and end bracket
	// each batch; otherwise flush and commitOffsets end it.
	transactional() bool
	begin() error
	// end commits (commit true) or aborts the batch's transaction and
	// reports whether it committed.
	end(ctx context.Context, commit bool) (bool, error)
	// produce sends r; promise runs once it is acknowledged or failed.
	produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	flush(ctx context.Context) error
	commitOffsets(ctx context.Context) error
	// offsets returns a start offset (at most the log start) and the
	// end of partition p of topic as this worker reads it (the high
	// watermark, or the last stable offset when transactional).
	offsets(ctx context.Context, topic string, p int32) (start, end int64, err error)
	// read calls fn with every data record of partition p of topic in
	// [from, end), in order (aborted transactional records skipped when
	// transactional), then returns.
	read(ctx context.Context, topic string, p int32, from, end int64, fn func(*kgo.Record) error) error
	close()
}

// topicAdmin creates and inspects topics (ensureTopics).
type topicAdmin interface {
	// partitionCount returns 0 for a missing topic.
	partitionCount(ctx context.Context, topic string) (int32, error)
	// createTopic creates a topic and returns its partition count.
	createTopic(ctx context.Context, s *topicSpec, partitions int32, replication int16) (int32, error)
}

// kafkaTransport is a worker's franz-go client, or its transactional
// session under ExactlyOnce.
type kafkaTransport struct {
	w    *worker
	cl   *kgo.Client
	sess *kgo.GroupTransactSession
}

func newKafkaTransport(w *worker, topics []string) (*kafkaTransport, error) {
	a := w.app
	opts := []kgo.Opt{kgo.SeedBrokers(a.cfg.brokers...)}
	opts = append(opts, a.cfg.kopts...)
	opts = append(opts, kgo.RecordPartitioner(a.partitioner()))
	if len(topics) > 0 {
		opts = append(opts,
			kgo.ConsumerGroup(a.id),
			kgo.ConsumeTopics(topics...),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // Faust's auto_offset_reset: earliest
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsAssigned(w.onAssigned),
			kgo.OnPartitionsRevoked(w.onRevoked),
			kgo.OnPartitionsLost(w.onRevoked),
		)
		opts = append(opts, w.balancerOpts()...)
	}
	t := &kafkaTransport{w: w}
	var err error
	if a.cfg.guarantee == ExactlyOnce && len(topics) > 0 {
		// Agents reading only in-memory channels have no batches to
		// make atomic: their sends go through the plain producer.
		opts = append(opts,
			kgo.TransactionalID(a.id+"-"+a.cfg.instanceID),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		)
		t.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			t.cl = t.sess.Client()
		}
	} else {
		t.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("streams: client: %w", err)
	}
	return t, nil
}

func (t *kafkaTransport) poll(ctx context.Context, max int) ([]*kgo.Record, error) {
	var fs kgo.Fetches
	if t.sess != nil {
		fs = t.sess.PollRecords(ctx, max)
	} else {
		fs = t.cl.PollRecords(ctx, max)
	}
	for _, fe := range fs.Errors() {
		switch {
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
			return nil, nil
		case errors.Is(fe.Err, kgo.ErrClientClosed):
			return nil, fmt.Errorf("streams: client closed: %w", fe.Err)
		default:
			t.w.log.Warn("streams: fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
	}
	return fs.Records(), nil
}

func (t *kafkaTransport) allowRebalance()     { t.cl.AllowRebalance() }
func (t *kafkaTransport) transactional() bool { return t.sess != nil }
func (t *kafkaTransport) begin() error        { return t.sess.Begin() }

func (t *kafkaTransport) end(ctx context.Context, commit bool) (bool, error) {
	try := kgo.TryCommit
	if !commit {
		try = kgo.TryAbort
	}
	return t.sess.End(ctx, try)
}

func (t *kafkaTransport) produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	if t.sess != nil {
		t.sess.Produce(ctx, r, promise)
	} else {
		t.cl.Produce(ctx, r, promise)
	}
}

func (t *kafkaTransport) flush(ctx context.Context) error { return t.cl.Flush(ctx) }
func (t *kafkaTransport) commitOffsets(ctx context.Context) error {
	return t.cl.CommitUncommittedOffsets(ctx)
}

func (t *kafkaTransport) offsets(ctx context.Context, topic string, p int32) (int64, int64, error) {
	// The high watermark under both guarantees: under ExactlyOnce the
	// read_committed reader then waits for a transaction still open below
	// it, where stopping at the last stable offset would miss the
	// committed writes after that transaction.
	adm := kadm.NewClient(t.cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, p)
	if !ok {
		return 0, 0, fmt.Errorf("topic %s has no partition %d", topic, p)
	}
	start, _ := starts.Lookup(topic, p)
	return start.Offset, end.Offset, nil
}

func (t *kafkaTransport) read(ctx context.Context, topic string, p int32, from, end int64, fn func(*kgo.Record) error) error {
	w := t.w
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.brokers...)}
	opts = append(opts, w.cfg.kopts...)
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords(), // so the last offset before the end is always seen
		kgo.FetchMaxBytes(64<<20),
	)
	if t.sess != nil {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("streams: reader: %w", err)
	}
	defer cl.Close()
	next := from
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				return fe.Err
			}
			w.log.Warn("streams: read fetch error", "topic", topic, "partition", p, "err", fe.Err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			if ferr != nil || r.Offset < next {
				return
			}
			if r.Offset >= end {
				next = end // past the target: done, whatever was before it
				return
			}
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			ferr = fn(r)
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

func (t *kafkaTransport) close() {
	if t.sess != nil {
		t.sess.CloseAllowingRebalance()
	} else {
		t.cl.CloseAllowingRebalance()
	}
}

// kafkaAdmin is topicAdmin over kadm.
type kafkaAdmin struct{ adm *kadm.Client }

func (k kafkaAdmin) partitionCount(ctx context.Context, topic string) (int32, error) {
	md, err := k.adm.Metadata(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("streams: metadata of %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if td.Err != nil {
		return 0, fmt.Errorf("streams: metadata of %s: %w", topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

func (k kafkaAdmin) createTopic(ctx context.Context, s *topicSpec, partitions int32, replication int16) (int32, error) {
	resp, err := k.adm.CreateTopic(ctx, partitions, replication, s.configs, s.name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("streams: creating topic %s: %w", s.name, err)
	}
	if err == nil && resp.NumPartitions > 0 {
		return resp.NumPartitions, nil
	}
	return 0, nil // created or already there: wait for metadata
}
