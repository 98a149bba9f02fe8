package broker

// TxnOffsetCommit: v0-5
//
// Behaviour:
// * WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
//   READ on the group (GROUP_AUTHORIZATION_FAILED) and on each topic
//   (TOPIC_AUTHORIZATION_FAILED); unknown partitions are
//   UNKNOWN_TOPIC_OR_PARTITION.
// * The group's __consumer_offsets partition must be in the producer's
//   ongoing transaction (AddOffsetsToTxn) (INVALID_TXN_STATE otherwise;
//   INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
//   before v3). v5+ (transaction version 2) adds it implicitly, starting
//   the transaction if needed.
// * v3+: a member id or generation is checked against the group as for
//   OffsetCommit (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
//   FENCED_INSTANCE_ID; STALE_MEMBER_EPOCH for consumer groups).
// * The offsets are written to __consumer_offsets at once, in the
//   producer's transaction, and are pending until its marker: visible in
//   OffsetFetch only after a commit (internal/group/txn.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(28, 0, 5, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(b *Broker, r *request, req *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	var reqErr error
	switch {
	case !r.allowed(auth.OpWrite, auth.TransactionalID(req.TransactionalID)):
		reqErr = kerr.TransactionalIDAuthorizationFailed
	case !r.allowed(auth.OpRead, auth.Group(req.Group)):
		reqErr = kerr.GroupAuthorizationFailed
	}
	var errTopics []kmsg.TxnOffsetCommitResponseTopic
	valid := make([]kmsg.TxnOffsetCommitRequestTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		topicErr := reqErr
		n := b.topicPartitions(rt.Topic)
		if topicErr == nil && !r.allowed(auth.OpRead, auth.Topic(rt.Topic)) {
			topicErr = kerr.TopicAuthorizationFailed
		}
		good := rt
		good.Partitions = nil
		et := kmsg.NewTxnOffsetCommitResponseTopic()
		et.Topic = rt.Topic
		for _, p := range rt.Partitions {
			e := topicErr
			if e == nil && (p.Partition < 0 || p.Partition >= n) {
				e = kerr.UnknownTopicOrPartition
			}
			if e != nil {
				ep := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				ep.Partition, ep.ErrorCode = p.Partition, code(e)
				et.Partitions = append(et.Partitions, ep)
				continue
			}
			good.Partitions = append(good.Partitions, p)
		}
		if len(et.Partitions) > 0 {
			errTopics = append(errTopics, et)
		}
		if len(good.Partitions) > 0 {
			valid = append(valid, good)
		}
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	if len(valid) > 0 && b.cl != nil {
		got, ok := b.clusterTxnOffsetCommit(req, valid)
		if !ok {
			return nil
		}
		resp = got
	} else if len(valid) > 0 {
		tw := b.txns
		tp := tw.offsetsPartition(req.Group)
		var err error
		if r.version >= 5 {
			unlock := tw.locks.lock(req.TransactionalID)
			err = tw.apply(tw.coord.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp}, tw.now()))
			unlock()
		}
		// Held until the offsets are pending in the group coordinator,
		// so the transaction cannot end in between (txn.go).
		unlock := tw.locks.rlock(req.TransactionalID)
		if err == nil {
			err = tw.coord.VerifyOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tp)
		}
		if err == nil {
			got, ok := txnOffsetCommitAt(b, b.groups, req, valid)
			if !ok {
				unlock()
				return nil
			}
			resp = got
		} else {
			err = fencedErr(err, r.version, 3)
			for _, rt := range valid {
				et := kmsg.NewTxnOffsetCommitResponseTopic()
				et.Topic = rt.Topic
				for _, p := range rt.Partitions {
					ep := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					ep.Partition, ep.ErrorCode = p.Partition, code(err)
					et.Partitions = append(et.Partitions, ep)
				}
				resp.Topics = append(resp.Topics, et)
			}
		}
		unlock()
	}
	resp.Topics = append(resp.Topics, errTopics...)
	return resp
}

// txnOffsetCommitAt has group coordinator c write the valid offsets of
// req as pending in the producer's transaction and waits for its answer;
// false if the broker closed meanwhile.
func txnOffsetCommitAt(b *Broker, c *group.Coordinator, req *kmsg.TxnOffsetCommitRequest, valid []kmsg.TxnOffsetCommitRequestTopic) (*kmsg.TxnOffsetCommitResponse, bool) {
	sub := *req
	sub.Topics = valid
	ch := make(chan *kmsg.TxnOffsetCommitResponse, 1)
	c.TxnOffsetCommit(&sub, func(resp *kmsg.TxnOffsetCommitResponse) { ch <- resp })
	return wait(b, ch)
}
