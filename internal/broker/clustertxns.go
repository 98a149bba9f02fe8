package broker

// Cluster mode's transaction coordinators (DESIGN.md, "Transactions in
// cluster mode").
//
// __transaction_state is an object-stored topic in etcd like
// __consumer_offsets (clustergroups.go): created by the first
// FindCoordinator for a transaction (transaction.state.log.num.partitions
// partitions, compacted), owned, acquired and resigned like any partition.
// The coordinator of a transactional id is the leader of its partition
// (coordkey.Partition). For each partition of it this broker leads, one
// txn.Coordinator runs (a txnShard, wired by a txnWiring as the
// single-node one in txn.go): made when the partition is acquired, it
// replays the partition (COORDINATOR_LOAD_IN_PROGRESS meanwhile), then
// completes the transactions that were completing (Coordinator.Loaded)
// and serves; when the partition is resigned or lost it is closed, and its
// ids get NOT_COORDINATOR. Its writes are appended to the partition and
// applied once the flush carrying them committed in etcd. Producer ids
// come from etcd's blocks (cluster.Client.AllocateProducerIDs).
//
// Markers: a completion's markers go to the leaders of its partitions.
// Those this broker leads are appended here (objlog.Partition.AppendMarker,
// all appended before any is waited for, so they share a flush); the
// others are sent as one WriteTxnMarkers request through the broker's
// peer client (a kgo client bootstrapped at this broker, which splits the
// request by partition leader as Kafka's inter-broker marker channel
// does). A marker in a __consumer_offsets partition also ends the
// transaction's pending offsets in that partition's group coordinator
// (group.Coordinator.EndTxn), once the marker is durable. Anything that
// fails leaves the completion to be retried by the ticker
// (txnRetryBackoff), as in single-node mode.
//
// Transactional produce is not verified with the coordinator (as in Kafka
// before KIP-890); cluster mode finalizes transaction.version at 1, so
// clients add partitions with AddPartitionsToTxn and offsets with
// AddOffsetsToTxn, and TxnOffsetCommit goes to the group coordinator
// alone (v0-4).
//
// Lock order: txnWiring's id locks → clusterNode.mu; no coordinator is
// called with clusterNode.mu held.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/coordkey"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objlog"
	"github.com/sluice-io/sluice/internal/txn"
)

// txnShard is the coordinator of the transactional ids of one partition
// of __transaction_state this broker leads.
type txnShard struct {
	tp cluster.TopicPartition
	p  *objlog.Partition
	w  *txnWiring
	// loaded is set once the partition was replayed: requests are served.
	loaded atomic.Bool
	// ctx ends the load and marker writes; cancel is called when the
	// shard is closed.
	ctx    context.Context
	cancel context.CancelFunc
}

// newTxnShardLocked makes the coordinator of partition tp (p) and
// registers it; its load starts with startTxnShard. Called with n.mu
// held: it calls nothing that locks.
func (n *clusterNode) newTxnShardLocked(tp cluster.TopicPartition, p *objlog.Partition) *txnShard {
	s := &txnShard{tp: tp, p: p}
	s.ctx, s.cancel = context.WithCancel(n.ctx)
	w := n.b.newTxnWiring()
	w.logger = n.b.logger.With("component", "txn-coordinator", "partition", tp.Partition)
	w.persist = func(wr *txn.Write) error { return n.persistTxn(s, wr) }
	w.markers = func(c *txn.Completion) error { return n.writeMarkers(s.ctx, c) }
	w.reserve = func() (txn.ProducerIDBlock, error) {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		blk, err := n.client.AllocateProducerIDs(ctx, clusterPIDBlock)
		return txn.ProducerIDBlock{Start: blk.Start, End: blk.End}, err
	}
	w.groupPartitions = n.offsetsPartitions
	s.w = w
	n.txnShards[tp] = s
	return s
}

// offsetsPartitions is the partition count of __consumer_offsets: etcd's,
// or the one it will be created with.
func (n *clusterNode) offsetsPartitions() int32 {
	if t, ok := n.topic(group.TopicName); ok {
		return t.Partitions
	}
	return int32(n.b.brokerInt("offsets.topic.num.partitions"))
}

// startTxnShard loads s in a goroutine the node owns (n.loaders).
func (n *clusterNode) startTxnShard(s *txnShard) {
	n.loaders.Add(1)
	go func() {
		defer n.loaders.Done()
		n.loadTxnShard(s)
	}()
}

// takeTxnShardLocked removes tp's transaction shard, if any, appending it
// to out.
func (n *clusterNode) takeTxnShardLocked(tp cluster.TopicPartition, out []*txnShard) []*txnShard {
	if s := n.txnShards[tp]; s != nil {
		delete(n.txnShards, tp)
		out = append(out, s)
	}
	return out
}

// closeTxnShards ends the loads and marker writes of shards (taken out of
// n.txnShards by the caller). Requests still holding one fail on the
// resigned partition's append (COORDINATOR_NOT_AVAILABLE) and the
// client finds the new coordinator.
func closeTxnShards(shards []*txnShard) {
	for _, s := range shards {
		s.cancel()
	}
}

// loadTxnShard replays s's partition from its log start to its high
// watermark into the coordinator, then completes the transactions that
// were completing and lets it serve. A failed read is retried every
// second until the shard is closed.
func (n *clusterNode) loadTxnShard(s *txnShard) {
	start := time.Now()
	off, hw := s.p.LogStartOffset(), s.p.HighWatermark()
	records := 0
	replay := func(_ *log.BatchHeader, r log.Record) error { return s.w.coord.Replay(r.Key, r.Value) }
	for off < hw {
		next, recs, err := n.replayPiece(s.ctx, s.p, off, replay, nil)
		records += recs
		if err != nil {
			if s.ctx.Err() != nil || s.p.Err() != nil {
				return
			}
			n.log.Warn("loading transactions failed; retrying", "partition", s.tp.Partition, "offset", next, "err", err)
			if !sleepCtx(s.ctx, time.Second) {
				return
			}
		}
		off = next
	}
	comps := s.w.coord.Loaded(n.b.cfg.Now())
	s.loaded.Store(true)
	n.b.timer.at(txnTimers, n.b.cfg.Now()) // a first Tick learns its deadlines
	n.log.Info("loaded transactions", "partition", s.tp.Partition, "epoch", s.p.Epoch(), "records", records,
		"completing", len(comps), "took", time.Since(start).Round(time.Millisecond))
	for _, c := range comps {
		s.w.complete(c) // a failure is queued for the ticker
	}
}

// persistTxn appends a transaction log record to s's partition and waits
// until the flush carrying it committed.
func (n *clusterNode) persistTxn(s *txnShard, w *txn.Write) error {
	batch := log.EncodeBatch([]log.KV{{Key: w.Key, Value: w.Value}}, n.b.cfg.Now().UnixMilli(), -1, -1, false)
	c, err := s.p.Append(batch)
	if err == nil {
		_, err = c.Result() // the flusher finishes every append, also when it closes
	}
	if err != nil {
		s.w.logger.Warn("writing the transaction log failed", "transactional_id", w.ID, "err", err)
	}
	return err
}

// txnCoordinator is the loaded coordinator of transactional id id on this
// broker, or the error to answer: COORDINATOR_NOT_AVAILABLE while
// __transaction_state does not exist, NOT_COORDINATOR when this broker
// does not lead the id's partition, COORDINATOR_LOAD_IN_PROGRESS while
// it replays it.
func (n *clusterNode) txnCoordinator(id string) (*txnWiring, *kerr.Error) {
	n.mu.Lock()
	t, ok := n.topics[txn.TopicName]
	var s *txnShard
	if ok {
		s = n.txnShards[t.Partition(coordkey.Partition(id, t.Partitions))]
	}
	n.mu.Unlock()
	switch {
	case !ok:
		return nil, kerr.CoordinatorNotAvailable
	case s == nil || s.p.Err() != nil:
		return nil, kerr.NotCoordinator
	case !s.loaded.Load():
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s.w, nil
}

// loadedTxnCoordinators is the coordinators of this broker's loaded
// transaction shards.
func (n *clusterNode) loadedTxnCoordinators() []*txnWiring {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*txnWiring, 0, len(n.txnShards))
	for _, s := range n.txnShards {
		if s.loaded.Load() {
			out = append(out, s.w)
		}
	}
	return out
}

// createTxnTopic creates __transaction_state in etcd
// (transaction.state.log.num.partitions partitions, compacted); one that
// exists already is no error.
func (n *clusterNode) createTxnTopic(ctx context.Context) error {
	return n.createInternalTopic(ctx, txn.TopicName, int32(n.b.brokerInt("transaction.state.log.num.partitions")))
}

// markerResult is one partition's marker outcome (writeLocalMarkers).
type markerResult struct {
	topic     string
	partition int32
	err       error
}

// writeMarkers writes comp's markers: those of partitions this broker
// leads here, the others through the peer client. Partitions of deleted
// topics are skipped.
func (n *clusterNode) writeMarkers(ctx context.Context, comp *txn.Completion) error {
	var remote []txn.TopicPartition
	var local []txn.TopicPartition
	for _, tp := range comp.Partitions {
		t, ok := n.topic(tp.Topic)
		switch {
		case !ok || tp.Partition >= t.Partitions:
			continue // deleted since it was added
		case n.ledPartition(t.Partition(tp.Partition)) != nil:
			local = append(local, tp)
		default:
			remote = append(remote, tp)
		}
	}
	var firstErr error
	for _, r := range n.writeLocalMarkers(comp.ProducerID, comp.Epoch, comp.Commit, 0, local) {
		if r.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("marker in %s-%d: %w", r.topic, r.partition, r.err)
		}
	}
	if len(remote) > 0 {
		if err := n.sendMarkers(ctx, comp, remote); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		n.log.Warn("writing transaction markers failed; will retry", "transactional_id", comp.TransactionalID, "commit", comp.Commit, "err", firstErr)
	}
	return firstErr
}

// ledPartition is the partition tp if this broker leads it.
func (n *clusterNode) ledPartition(tp cluster.TopicPartition) *objlog.Partition {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.parts[tp]; p != nil && p.Err() == nil {
		return p
	}
	return nil
}

// writeLocalMarkers appends a marker of producer pid to each of tps this
// broker leads and waits for them (appended first, so they share a
// flush); a marker in a __consumer_offsets partition then ends the
// producer's pending offsets there. A partition not led here is
// NOT_LEADER_OR_FOLLOWER; a __consumer_offsets partition whose group
// coordinator is still loading is COORDINATOR_LOAD_IN_PROGRESS (nothing
// written: the load would miss the marker's effect).
func (n *clusterNode) writeLocalMarkers(pid int64, epoch int16, commit bool, coordEpoch int32, tps []txn.TopicPartition) []markerResult {
	out := make([]markerResult, len(tps))
	cs := make([]*objlog.Completion, len(tps))
	for i, tp := range tps {
		out[i] = markerResult{topic: tp.Topic, partition: tp.Partition}
		t, ok := n.topic(tp.Topic)
		if !ok || tp.Partition < 0 || tp.Partition >= t.Partitions {
			out[i].err = kerr.UnknownTopicOrPartition
			continue
		}
		p := n.ledPartition(t.Partition(tp.Partition))
		if p == nil {
			out[i].err = kerr.NotLeaderForPartition
			continue
		}
		if tp.Topic == group.TopicName {
			if s := n.groupShard(t.Partition(tp.Partition)); s == nil || !s.loaded.Load() {
				out[i].err = kerr.CoordinatorLoadInProgress
				continue
			}
		}
		cs[i], out[i].err = p.AppendMarker(pid, epoch, commit, coordEpoch)
	}
	for i, c := range cs {
		if c == nil {
			continue
		}
		if _, err := c.Result(); err != nil {
			out[i].err = err
			continue
		}
		if tps[i].Topic == group.TopicName {
			t, _ := n.topic(group.TopicName)
			if s := n.groupShard(t.Partition(tps[i].Partition)); s != nil {
				s.c.EndTxn(pid, tps[i].Partition, commit)
			}
		}
	}
	return out
}

// groupShard is the group coordinator shard of tp, if this broker runs it.
func (n *clusterNode) groupShard(tp cluster.TopicPartition) *groupShard {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.shards[tp]
}

// sendMarkers sends comp's markers for tps (led by other brokers) as one
// WriteTxnMarkers request through the peer client, which splits it by
// leader; any partition's error fails the whole (the markers are
// idempotent and retried).
func (n *clusterNode) sendMarkers(ctx context.Context, comp *txn.Completion, tps []txn.TopicPartition) error {
	cl, err := n.peerClient()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = comp.ProducerID, comp.Epoch, comp.Commit
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(m.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = tp.Topic
			m.Topics = append(m.Topics, rt)
		}
		m.Topics[i].Partitions = append(m.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, m)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kresp, err := cl.Request(ctx, req)
	if kresp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return fmt.Errorf("sending transaction markers: %w", err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	want := len(tps)
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("transaction marker in %s-%d: %w", rt.Topic, rp.Partition, err)
				}
				want--
			}
		}
	}
	if want > 0 || err != nil {
		return fmt.Errorf("sending transaction markers: %d partitions unanswered: %v", want, err)
	}
	return nil
}

// peerClient is the broker's client to the other brokers (transaction
// markers), made on first use and closed when the node stops. It is
// bootstrapped at this broker's advertised address and learns the others
// from Metadata.
func (n *clusterNode) peerClient() (*kgo.Client, error) {
	n.peerMu.Lock()
	defer n.peerMu.Unlock()
	if n.peers != nil {
		return n.peers, nil
	}
	if n.ctx.Err() != nil {
		return nil, fmt.Errorf("%w: the broker is shutting down", kerr.NotCoordinator)
	}
	if l := n.b.lns[0]; l.Protocol != ProtocolPlaintext {
		// Brokers reach each other at the address they register (the
		// first listener's), with no credentials of their own.
		return nil, fmt.Errorf("%w: transaction markers to other brokers need a PLAINTEXT first listener; %s is %s",
			kerr.CoordinatorNotAvailable, l.Name, l.Protocol)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(net.JoinHostPort(n.self.Host, strconv.Itoa(int(n.self.Port)))),
		kgo.ClientID("sluice-broker-"+strconv.Itoa(int(n.self.NodeID))),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RequestRetries(3),
	)
	if err != nil {
		return nil, fmt.Errorf("making the peer client: %w", err)
	}
	n.peers = cl
	return cl, nil
}

// closePeers closes the peer client, if made.
func (n *clusterNode) closePeers() {
	n.peerMu.Lock()
	cl := n.peers
	n.peers = nil
	n.peerMu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// clusterWriteTxnMarkers is WriteTxnMarkers in cluster mode (see
// 27_write_txn_markers.go): markers of partitions this broker leads are
// written, others are NOT_LEADER_OR_FOLLOWER.
func (b *Broker) clusterWriteTxnMarkers(r *request, req *kmsg.WriteTxnMarkersRequest) kmsg.Response {
	return answerMarkers(r, req, func(m kmsg.WriteTxnMarkersRequestMarker, tps []txn.TopicPartition) []markerResult {
		return b.cl.writeLocalMarkers(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, tps)
	})
}

// clusterTxnOffsetCommit has the group's coordinator on this broker write
// the valid offsets as pending in the producer's transaction. The
// transaction coordinator may be another broker: as in Kafka before
// KIP-890, the offsets are not verified with it (AddOffsetsToTxn put the
// group's partition in the transaction; its marker resolves them).
func (b *Broker) clusterTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, valid []kmsg.TxnOffsetCommitRequestTopic) (*kmsg.TxnOffsetCommitResponse, bool) {
	c, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range valid {
			et := kmsg.NewTxnOffsetCommitResponseTopic()
			et.Topic = rt.Topic
			for _, p := range rt.Partitions {
				ep := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				ep.Partition, ep.ErrorCode = p.Partition, cerr.Code
				et.Partitions = append(et.Partitions, ep)
			}
			resp.Topics = append(resp.Topics, et)
		}
		return resp, true
	}
	return txnOffsetCommitAt(b, c, req, valid)
}

// allowMarkers reports whether r may write markers (CLUSTER_ACTION on the
// cluster, as Kafka's brokers do for each other).
func allowMarkers(r *request) bool { return r.allowed(auth.OpClusterAction, auth.Cluster()) }
