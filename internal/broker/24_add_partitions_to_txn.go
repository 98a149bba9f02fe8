package broker

// AddPartitionsToTxn: v0-5
//
// Behaviour:
// * v0-3 (from producers): WRITE on the transactional id
//   (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic
//   (TOPIC_AUTHORIZATION_FAILED); unknown topics or partitions are
//   UNKNOWN_TOPIC_OR_PARTITION. When any partition fails, the others get
//   OPERATION_NOT_ATTEMPTED and nothing is added, as in Kafka.
// * The coordinator then adds the partitions, starting the transaction:
//   INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
//   before v2), CONCURRENT_TRANSACTIONS while the previous transaction
//   completes.
// * v4+ (batched, from brokers): CLUSTER_ACTION on the cluster is
//   required (CLUSTER_AUTHORIZATION_FAILED at the top level); each
//   transaction is handled as above, or with VerifyOnly only checked
//   (INVALID_TXN_STATE for a partition not in the transaction).
// * v5 (KIP-890 transaction version 2) is served as v4: this broker does
//   not advertise the transaction.version feature, so clients stay on
//   transaction version 1.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(24, 0, 5, handleAddPartitionsToTxn) }

type txnTopicParts struct {
	topic string
	parts []int32
}

func handleAddPartitionsToTxn(b *Broker, r *request, req *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.version < 4 {
		topics := make([]txnTopicParts, len(req.Topics))
		for i, t := range req.Topics {
			topics[i] = txnTopicParts{t.Topic, t.Partitions}
		}
		res := b.addPartitionsToTxn(r, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics)
		for i, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, res[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if !r.allowed(auth.OpClusterAction, auth.Cluster()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	for _, tx := range req.Transactions {
		topics := make([]txnTopicParts, len(tx.Topics))
		for i, t := range tx.Topics {
			topics[i] = txnTopicParts{t.Topic, t.Partitions}
		}
		res := b.addPartitionsToTxn(r, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, topics)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for i, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, res[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

// addPartitionsToTxn returns an error code per requested partition.
func (b *Broker) addPartitionsToTxn(r *request, id string, pid int64, epoch int16, verifyOnly bool, topics []txnTopicParts) [][]int16 {
	out := make([][]int16, len(topics))
	fill := func(c int16) {
		for i, t := range topics {
			out[i] = make([]int16, len(t.parts))
			for j := range out[i] {
				out[i][j] = c
			}
		}
	}
	if !r.allowed(auth.OpWrite, auth.TransactionalID(id)) {
		fill(kerr.TransactionalIDAuthorizationFailed.Code)
		return out
	}
	tw, cerr := b.txnFor(id)
	if cerr != nil {
		fill(cerr.Code)
		return out
	}
	fill(0)
	failed := false
	var tps []txn.TopicPartition
	for i, t := range topics {
		n := b.topicPartitions(t.topic)
		authz := r.allowed(auth.OpWrite, auth.Topic(t.topic))
		for j, p := range t.parts {
			switch {
			case !authz:
				out[i][j] = kerr.TopicAuthorizationFailed.Code
			case p < 0 || p >= n:
				out[i][j] = kerr.UnknownTopicOrPartition.Code
			default:
				tps = append(tps, txn.TopicPartition{Topic: t.topic, Partition: p})
				continue
			}
			failed = true
		}
	}
	if failed {
		for i := range out {
			for j := range out[i] {
				if out[i][j] == 0 {
					out[i][j] = kerr.OperationNotAttempted.Code
				}
			}
		}
		return out
	}
	if verifyOnly {
		k := 0
		for i := range out {
			for j := range out[i] {
				out[i][j] = code(tw.coord.Verify(id, pid, epoch, tps[k]))
				k++
			}
		}
		return out
	}
	unlock := tw.locks.lock(id)
	err := fencedErr(tw.apply(tw.coord.AddPartitions(id, pid, epoch, tps, tw.now())), r.version, 2)
	unlock()
	fill(code(err))
	return out
}
