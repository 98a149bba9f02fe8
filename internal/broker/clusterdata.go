package broker

// Cluster mode's data path on internal/objlog, for partitions this broker
// leads; any other partition is NOT_LEADER_OR_FOLLOWER (with the leader
// the broker knows of in the v10+ CurrentLeader field of Produce and the
// v12+ one of Fetch).
//
// * Produce v3-12: one v2 batch per partition, validated and given its
//   offsets by objlog; acknowledged only after the flush's etcd commit
//   made it durable (acks 1 and all alike), acks=0 answers nothing. The
//   answer is a pending response (pipeline.go): the connection reads the
//   client's next requests while the flush is made.
//   Idempotent batches (a producer id, not transactional) are checked
//   against the partition's producer state on the leader (objlog, as in
//   single-node mode): INVALID_PRODUCER_EPOCH for a fenced epoch,
//   OUT_OF_ORDER_SEQUENCE_NUMBER for a gap, and a retry of one of the
//   producer's last 5 batches answered with its first offsets and not
//   appended again, even after the leader changed (the state is
//   committed to etcd with the offsets). Transactional batches are
//   checked the same way and open their producer's transaction in the
//   partition (objlog txn.go); one without a transactional id is
//   INVALID_TXN_STATE. They are not verified with the transaction
//   coordinator (that the partition was added to an ongoing
//   transaction), as Kafka before KIP-890's verification.
// * Fetch v4-12: no fetch sessions (a new session is declined with id
//   0, KIP-227); reads up to the high watermark, whole batches; a long
//   poll waits for any of its partitions' hw to move, up to MaxWait.
//   read_committed (isolation level 1) reads only below the last stable
//   offset and lists the aborted transactions overlapping what it
//   returns (objlog ReadCommitted); both levels report the LSO.
// * ListOffsets v1-8: earliest, latest (the LSO under read_committed),
//   max timestamp, by timestamp.

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objlog"
)

// clusterPart resolves a partition of a topic by name to what this broker
// leads, or the error code to answer.
func (b *Broker) clusterPart(name string, part int32) (*objlog.Partition, cluster.TopicPartition, int16) {
	t, ok := b.cl.topic(name)
	if !ok || part < 0 || part >= t.Partitions {
		return nil, cluster.TopicPartition{}, kerr.UnknownTopicOrPartition.Code
	}
	tp := t.Partition(part)
	p := b.cl.partition(tp)
	if p == nil {
		return nil, tp, kerr.NotLeaderForPartition.Code
	}
	return p, tp, 0
}

func (b *Broker) clusterProduce(r *request, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	type pending struct {
		c           *objlog.Completion
		topic, part int
	}
	var waits []pending
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = rp.Partition, -1, -1, -1
			p, tp, code := b.clusterPart(rt.Topic, rp.Partition)
			switch {
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case code != 0:
				sp.ErrorCode = code
				if l, ok := b.cl.leader(tp); ok && code == kerr.NotLeaderForPartition.Code {
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = l.NodeID, l.Epoch
				}
			default:
				// A transactional batch needs a transactional id (as
				// single-node mode); it is not verified with the
				// transaction coordinator (Kafka before KIP-890 does not).
				if h, err := log.ParseBatchHeader(rp.Records); err == nil && h.Transactional() && req.TransactionID == nil {
					sp.ErrorCode = kerr.InvalidTxnState.Code
					break
				}
				// A copy: the records sit in the connection's pooled frame,
				// which goes back to the pool when this request is
				// answered, while the flush (retrying up to its own
				// timeout) may outlive a produce that timed out.
				c, err := p.Append(bytes.Clone(rp.Records))
				if err != nil {
					b.clusterAppendFailed(&sp, err)
					break
				}
				waits = append(waits, pending{c: c, topic: ti, part: len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil // the flush goes on; nobody is told
	}
	if len(waits) == 0 {
		return resp
	}
	// The answer waits for the flushes: the connection reads its next
	// requests meanwhile (pipeline.go), so that a client's produce
	// requests in flight share flushes.
	ctx, cancel := context.WithTimeout(b.cl.ctx, requestTimeout(req.TimeoutMillis)+5*time.Second)
	return &pendingResponse{Response: resp, wait: func() {
		defer cancel()
		for _, w := range waits {
			sp := &resp.Topics[w.topic].Partitions[w.part]
			res, err := w.c.Wait(ctx)
			if err != nil {
				b.clusterAppendFailed(sp, err)
				continue
			}
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
		}
	}}
}

// clusterAppendFailed fills sp for a refused or failed append.
func (b *Broker) clusterAppendFailed(sp *kmsg.ProduceResponseTopicPartition, err error) {
	if c := objlog.ErrorCode(err); c != kerr.UnknownServerError.Code || errors.Is(err, objlog.ErrStorage) {
		sp.ErrorCode = c
	} else {
		sp.ErrorCode = appendError(err).Code
	}
	sp.ErrorMessage = errMessage(err)
}

func (b *Broker) clusterFetch(r *request, req *kmsg.FetchRequest) kmsg.Response {
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		resp, total, changed := b.clusterFetchOnce(r, req)
		if total >= int(max(req.MinBytes, 1)) || len(changed) == 0 || !time.Now().Before(deadline) {
			return resp
		}
		if !b.waitChanged(changed, time.Until(deadline)) {
			return resp
		}
	}
}

// waitChanged waits until one of chans closes, d passes or the broker
// closes; false when it closes.
func (b *Broker) waitChanged(chans []<-chan struct{}, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	woke := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the Wait: ends the goroutines
	for _, ch := range chans {
		wg.Go(func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-ctx.Done():
			}
		})
	}
	select {
	case <-woke:
		return true
	case <-ctx.Done():
		return true
	case <-b.done:
		return false
	}
}

// clusterFetchOnce reads every partition of the request once.
func (b *Broker) clusterFetchOnce(r *request, req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, []<-chan struct{}) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	budget := int(req.MaxBytes)
	if budget <= 0 {
		budget = 50 << 20
	}
	total := 0
	readCommitted := req.IsolationLevel == 1
	var changed []<-chan struct{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rp.Partition, -1, -1, -1
			p, tp, code := b.clusterPart(rt.Topic, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
				if l, ok := b.cl.leader(tp); ok && code == kerr.NotLeaderForPartition.Code {
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = l.NodeID, l.Epoch
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if readCommitted {
				// Empty, not null, as single-node mode (01_fetch.go).
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			}
			// The LSO before the hw: both only grow, so lso <= hw.
			lso := p.LastStableOffset()
			hw, start := p.HighWatermark(), p.LogStartOffset()
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, start
			end := hw // where this isolation level's reads end
			if readCommitted {
				end = lso
			}
			switch ec := epochCheck(rp.CurrentLeaderEpoch, p.Epoch()); {
			case ec != 0:
				sp.ErrorCode = ec
			case rp.FetchOffset < start || rp.FetchOffset > hw:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			case rp.FetchOffset >= end:
				// Nothing readable until the hw (and with it the LSO)
				// moves.
				changed = append(changed, p.Changed())
			default:
				limit := min(int(rp.PartitionMaxBytes), budget)
				if total == 0 {
					limit = max(limit, 1) // KIP-74: at least one batch
				}
				if limit <= 0 {
					break
				}
				var data []byte
				var err error
				if readCommitted {
					data, err = clusterReadCommitted(ctx, p, rp.FetchOffset, limit, &sp)
				} else {
					data, err = p.Read(ctx, rp.FetchOffset, limit)
				}
				if err != nil {
					sp.ErrorCode = objlog.ErrorCode(err)
					break
				}
				sp.RecordBatches = data
				total += len(data)
				budget -= len(data)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, changed
}

// clusterReadCommitted reads p at read_committed into sp: the batches
// below the LSO, and the offsets and aborted transactions of the same
// committed state.
func clusterReadCommitted(ctx context.Context, p *objlog.Partition, offset int64, limit int, sp *kmsg.FetchResponseTopicPartition) ([]byte, error) {
	r, err := p.ReadCommitted(ctx, offset, limit)
	if err != nil {
		return nil, err
	}
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = r.HighWatermark, r.LastStableOffset, r.LogStartOffset
	for _, a := range r.Aborted {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		sp.AbortedTransactions = append(sp.AbortedTransactions, at)
	}
	return r.Batches, nil
}

func (b *Broker) clusterListOffsets(r *request, req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition, sp.Offset, sp.Timestamp, sp.LeaderEpoch = rp.Partition, -1, -1, -1
			p, _, code := b.clusterPart(rt.Topic, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderEpoch = p.Epoch()
			var err error
			switch rp.Timestamp {
			case -2:
				sp.Offset = p.LogStartOffset()
			case -1:
				sp.Offset = p.HighWatermark()
				if req.IsolationLevel == 1 {
					sp.Offset = p.LastStableOffset()
				}
			case -3:
				sp.Offset, sp.Timestamp, err = p.MaxTimestamp(ctx)
			default:
				sp.Offset, sp.Timestamp, err = p.OffsetForTimestamp(ctx, rp.Timestamp)
			}
			if err != nil {
				sp.ErrorCode, sp.Offset, sp.Timestamp = objlog.ErrorCode(err), -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// clusterOffsetForLeaderEpoch is OffsetForLeaderEpoch v2-4 in cluster
// mode, on the partitions this broker leads (objlog
// Partition.EpochEndOffset); CurrentLeaderEpoch is checked as Fetch checks
// it. Only consumers' requests exist here (no replicas).
func (b *Broker) clusterOffsetForLeaderEpoch(req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			p, _, code := b.clusterPart(rt.Topic, rp.Partition)
			if code == 0 {
				code = epochCheck(rp.CurrentLeaderEpoch, p.Epoch())
			}
			switch {
			case code != 0:
				sp.ErrorCode = code
			default:
				epoch, end, err := p.EpochEndOffset(rp.LeaderEpoch)
				if err != nil {
					sp.ErrorCode = objlog.ErrorCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = epoch, end
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// epochCheck is a request's CurrentLeaderEpoch (-1: unset) against the
// leader's epoch (KIP-320): FENCED_LEADER_EPOCH for an older one,
// UNKNOWN_LEADER_EPOCH for a newer one, else 0.
func epochCheck(current, leader int32) int16 {
	switch {
	case current >= 0 && current < leader:
		return kerr.FencedLeaderEpoch.Code
	case current > leader:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}
