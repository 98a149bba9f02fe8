package txn

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction log: every change of a transactional id's metadata is
// one record in the internal topic __transaction_state, in Kafka's
// format (kmsg TxnMetadataKey version 0 / TxnMetadataValue version 1:
// producer id and epoch, timeout, state, partitions, last update and
// start timestamps, and the KIP-890 tagged fields previous and next
// producer id and client transaction version), keyed by the transactional
// id, in the partition
// coordkey.Partition(id). The broker replays the topic into a new coordinator
// (Replay, then Loaded) before serving.
//
// State codes are Kafka's: Empty 0, Ongoing 1, PrepareCommit 2,
// PrepareAbort 3, CompleteCommit 4, CompleteAbort 5, Dead 6.

// TopicName is Kafka's internal transaction log topic.
const TopicName = "__transaction_state"

func encodeKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version, k.TransactionalID = 0, id
	return k.AppendTo(nil)
}

func (m *txnMeta) encodeValue() []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 1
	v.ProducerID, v.ProducerEpoch = m.pid, m.epoch
	v.PreviousProducerID, v.NextProducerID = m.prevPid, m.nextPid
	v.ClientTransactionVersion = 1
	if m.tv2 {
		v.ClientTransactionVersion = 2
	}
	v.TimeoutMillis = int32(m.timeout / time.Millisecond)
	v.State = kmsg.TransactionState(m.state)
	v.LastUpdateTimestamp = m.lastUpdate.UnixMilli()
	v.StartTimestamp = -1
	if m.state != Empty && !m.started.IsZero() {
		v.StartTimestamp = m.started.UnixMilli()
	}
	byTopic := map[string][]int32{}
	for tp := range m.partitions {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	names := make([]string, 0, len(byTopic))
	for n := range byTopic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ps := byTopic[n]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic, t.Partitions = n, ps
		v.Topics = append(v.Topics, t)
	}
	return v.AppendTo(nil)
}

// clone copies m (a transition is staged on a copy, see stage).
func (m *txnMeta) clone() txnMeta {
	cp := *m
	cp.pending = nil
	if m.partitions != nil {
		cp.partitions = make(map[TopicPartition]struct{}, len(m.partitions))
		for k := range m.partitions {
			cp.partitions[k] = struct{}{}
		}
	}
	return cp
}

// Replay applies one record of __transaction_state (a nil value removes
// the id).
func (c *Coordinator) Replay(key, value []byte) error {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("transaction log key: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		delete(c.ids, k.TransactionalID)
		return nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("transaction log value of %q: %w", k.TransactionalID, err)
	}
	if v.State < 0 || v.State > kmsg.TransactionState(Dead) {
		return fmt.Errorf("transaction log value of %q: state %d", k.TransactionalID, v.State)
	}
	m := &txnMeta{id: k.TransactionalID, pid: v.ProducerID, epoch: v.ProducerEpoch,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: State(v.State),
		lastUpdate: time.UnixMilli(v.LastUpdateTimestamp), partitions: map[TopicPartition]struct{}{},
		prevPid: v.PreviousProducerID, nextPid: v.NextProducerID, tv2: v.ClientTransactionVersion >= 2}
	m.endBumped = m.tv2
	if v.StartTimestamp >= 0 {
		m.started = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.partitions[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	c.ids[m.id] = m
	return nil
}

// Loaded ends the replay and returns the transactions to complete before
// serving: those that were completing (their markers are written again;
// a repeated marker changes nothing). Ongoing transactions stay ongoing,
// as after a Kafka coordinator fail-over: their records are in the
// partition logs and the offsets they committed are pending in
// __consumer_offsets, so the producer may go on and end them, or they
// time out (Tick) counting from their persisted start.
func (c *Coordinator) Loaded(now time.Time) []*Completion {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	ids := make([]string, 0, len(c.ids))
	for id := range c.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*Completion
	for _, id := range ids {
		if m := c.ids[id]; m.state == PrepareCommit || m.state == PrepareAbort {
			out = append(out, c.completion(m, m.state == PrepareCommit))
		}
	}
	return out
}

// OpenPartitions reports, for every transaction that is ongoing or
// completing, its producer id and partitions: the broker aborts open
// transactions in the logs that none of these accounts for.
func (c *Coordinator) OpenPartitions() map[TopicPartition]map[int64]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[TopicPartition]map[int64]bool{}
	for _, m := range c.ids {
		if m.state != Ongoing && m.state != PrepareCommit && m.state != PrepareAbort {
			continue
		}
		for tp := range m.partitions {
			if out[tp] == nil {
				out[tp] = map[int64]bool{}
			}
			out[tp][m.pid] = true
		}
	}
	return out
}
