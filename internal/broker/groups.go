package broker

// Wiring of the group coordinator (internal/group) into the broker.
//
// The coordinator is a state machine with one mutex that does no I/O; the
// broker feeds it requests, ticks it from Broker.ticker when its deadline
// comes (Tick's result, or an earlier one handed to Config.Timer; see
// tick.go), and appends the
// records it hands out (group.Write) to the internal compacted topic
// __consumer_offsets in writeOffsets, with the coordinator's mutex not
// held, then reports the outcome (Coordinator.Applied), which answers the
// request. A group has one write out at a time, so its records keep their
// order, while groups never wait for each other's appends and fsyncs.
// In cluster mode the group APIs go to the coordinator of the group's
// __consumer_offsets partition on this broker instead (groupCoordinator;
// clustergroups.go); single-node mode pays one nil check for it.
// Lock order: see DESIGN.md, "Lock order" (the one list).

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
)

// openGroups creates __consumer_offsets when missing (offsets.topic.num.partitions
// partitions, compacted, internal), then the coordinator, and replays the
// topic into it.
func (b *Broker) openGroups() error {
	t := b.topic(group.TopicName)
	if t == nil {
		n := int32(b.brokerInt("offsets.topic.num.partitions"))
		var err error
		t, err = b.createTopic(meta.Topic{Name: group.TopicName, Partitions: n, Internal: true,
			Configs: map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}})
		if err != nil {
			return fmt.Errorf("creating %s: %w", group.TopicName, err)
		}
	}
	cfg := b.groupConfig()
	cfg.Write, cfg.Partitions = b.writeOffsets, int32(len(t.partitions))
	cfg.Topics, cfg.GroupTimeouts = b.groupTopics, b.groupTimeouts
	cfg.Logger = b.logger.With("component", "group-coordinator")
	b.groups = group.New(cfg)
	start := time.Now()
	n, err := b.replayOffsets(t)
	if err != nil {
		return err
	}
	b.groups.Loaded()
	b.logger.Info("loaded consumer groups", "records", n, "groups", len(b.groups.ListGroups()), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// groupConfig is the group coordinator's configuration from the broker's
// configs, without the callbacks and partition count that single-node and
// cluster mode set each their own way (Write, Partitions, Topics,
// GroupTimeouts, Logger).
func (b *Broker) groupConfig() group.Config {
	return group.Config{
		Now:                    b.cfg.Now,
		InitialRebalanceDelay:  b.brokerMs("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:      b.brokerMs("group.min.session.timeout.ms"),
		MaxSessionTimeout:      b.brokerMs("group.max.session.timeout.ms"),
		OffsetsRetention:       time.Duration(b.brokerInt("offsets.retention.minutes")) * time.Minute,
		RetentionCheckInterval: b.brokerMs("offsets.retention.check.interval.ms"),
		MaxMetadataBytes:       int(b.brokerInt("offset.metadata.max.bytes")),
		// KIP-848 consumer groups.
		ConsumerSessionTimeout:    b.brokerMs("group.consumer.session.timeout.ms"),
		ConsumerHeartbeatInterval: b.brokerMs("group.consumer.heartbeat.interval.ms"),
		ConsumerAssignors:         assignorList(b.brokerValue("group.consumer.assignors")),
		Timer:                     func(t time.Time) { b.timer.at(groupTimers, t) },
	}
}

// groupCoordinator is the coordinator of group id: in single-node mode
// the broker's one; in cluster mode the one of the __consumer_offsets
// partition this broker leads (clustergroups.go), or the error to answer
// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
// COORDINATOR_NOT_AVAILABLE).
func (b *Broker) groupCoordinator(id string) (*group.Coordinator, *kerr.Error) {
	if b.cl == nil {
		return b.groups, nil
	}
	return b.cl.groupCoordinator(id)
}

// topicPartitions is the partition count of a topic by name, -1 when it
// does not exist (cluster mode: the topic in etcd).
func (b *Broker) topicPartitions(name string) int32 {
	if b.cl != nil {
		if t, ok := b.cl.topic(name); ok {
			return t.Partitions
		}
		return -1
	}
	if t := b.topic(name); t != nil {
		return int32(len(t.partitions))
	}
	return -1
}

// groupTopics lists the topics for the coordinator's server-side
// assignors (called under its mutex; takes Broker.mu for reading, as the
// lock order allows).
func (b *Broker) groupTopics() []group.TopicInfo {
	ts := b.sortedTopics()
	out := make([]group.TopicInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, group.TopicInfo{Name: t.meta.Name, ID: t.meta.ID, Partitions: int32(len(t.partitions))})
	}
	return out
}

// assignorList parses group.consumer.assignors: a comma-separated list of
// "uniform" and "range" (Kafka also takes class names; their simple names
// UniformAssignor and RangeAssignor are mapped). Unknown names are dropped;
// empty means the default, uniform then range.
func assignorList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if i := strings.LastIndexByte(s, '.'); i >= 0 {
			s = s[i+1:]
		}
		switch strings.ToLower(s) {
		case "uniform", "uniformassignor":
			out = append(out, "uniform")
		case "range", "rangeassignor":
			out = append(out, "range")
		}
	}
	return out
}

// replayOffsets feeds __consumer_offsets to the coordinator: plain
// records to Replay, records of a transaction to ReplayTxnOffset and its
// marker to ReplayMarker.
func (b *Broker) replayOffsets(t *topic) (int, error) {
	return b.replayTopic(t, func(_ *partition, h *log.BatchHeader, key, value []byte) error {
		if h.Transactional() {
			return b.groups.ReplayTxnOffset(h.ProducerID, key, value)
		}
		return b.groups.Replay(key, value)
	}, func(p *partition, h *log.BatchHeader, commit bool) {
		b.groups.ReplayMarker(h.ProducerID, p.index, commit)
	})
}

// writeOffsets appends a write of the group coordinator to its partition
// of __consumer_offsets (in the producer's transaction for a
// TxnOffsetCommit) and reports the outcome. It runs in the goroutine that
// made the write, or that applied the group's write before it, never under
// the coordinator's mutex.
func (b *Broker) writeOffsets(w *group.Write) {
	b.groups.Applied(w, b.appendOffsets(w))
}

func (b *Broker) appendOffsets(w *group.Write) error {
	p := b.partition(group.TopicName, w.Partition)
	if p == nil {
		return kerr.CoordinatorNotAvailable
	}
	kvs := make([]log.KV, len(w.Records))
	for i, r := range w.Records {
		kvs[i] = log.KV(r)
	}
	// A transactional write is TxnOffsetCommit's: in the producer's
	// transaction, fenced by epoch only (AppendCoordinator).
	appendFn, batch := p.log.Append, log.EncodeBatch(kvs, b.cfg.Now().UnixMilli(), -1, -1, false)
	if w.ProducerID >= 0 {
		appendFn, batch = p.log.AppendCoordinator, log.EncodeBatch(kvs, b.cfg.Now().UnixMilli(), w.ProducerID, w.ProducerEpoch, true)
	}
	if _, err := appendFn(batch); err != nil {
		kerrv := appendError(err)
		if errors.Is(err, log.ErrClosed) {
			kerrv = kerr.NotCoordinator
		}
		return fmt.Errorf("%w: %w", kerrv, err)
	}
	p.notify()
	return nil
}

// clientHost is Kafka's form of a member's address in DescribeGroups.
func (r *request) clientHost() string {
	if !r.c.subj.Host.IsValid() {
		return ""
	}
	return "/" + r.c.subj.Host.String()
}

// wait blocks until the coordinator answers or the broker shuts down (nil:
// no response is written; the connection is closing).
func wait[R any](b *Broker, ch <-chan R) (R, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-b.done:
		var zero R
		return zero, false
	}
}

// groupTimeouts is a consumer group's consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms group configs, zero where the group has
// none (the coordinator then uses the broker's). Called under the
// coordinator's mutex: it reads only the metadata store.
func (b *Broker) groupTimeouts(groupID string) (session, heartbeat time.Duration) {
	cfg := b.store.GroupConfigs(groupID)
	if len(cfg) == 0 {
		return 0, 0
	}
	ms := func(name string) time.Duration {
		if _, set := cfg[name]; !set {
			return 0
		}
		n, err := strconv.ParseInt(meta.GroupValue(name, cfg, b.brokerConfigs()), 10, 64)
		if err != nil {
			return 0
		}
		return time.Duration(n) * time.Millisecond
	}
	return ms("consumer.session.timeout.ms"), ms("consumer.heartbeat.interval.ms")
}
