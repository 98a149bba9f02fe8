package broker

// AddOffsetsToTxn: v0-4
//
// Behaviour:
// * WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
//   and READ on the group (GROUP_AUTHORIZATION_FAILED).
// * Adds the group's __consumer_offsets partition to the transaction, so
//   the end marker is written there too, and lets TxnOffsetCommit for the
//   group join the transaction (which, as Kafka's, checks the partition,
//   not the group). Transaction version 2 clients skip this request:
//   TxnOffsetCommit v5+ adds the partition itself. Errors as AddPartitionsToTxn
//   (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(b *Broker, r *request, req *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !r.allowed(auth.OpWrite, auth.TransactionalID(req.TransactionalID)):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !r.allowed(auth.OpRead, auth.Group(req.Group)):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		tw, cerr := b.txnFor(req.TransactionalID)
		if cerr != nil {
			resp.ErrorCode = cerr.Code
			return resp
		}
		unlock := tw.locks.lock(req.TransactionalID)
		err := tw.apply(tw.coord.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tw.offsetsPartition(req.Group)}, tw.now()))
		unlock()
		resp.ErrorCode = code(fencedErr(err, r.version, 2))
	}
	return resp
}
