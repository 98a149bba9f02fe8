package broker

// DescribeTransactions: v0
//
// Behaviour:
// * DESCRIBE on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
//   an unknown id is TRANSACTIONAL_ID_NOT_FOUND.
// * State (Kafka's names), timeout, start timestamp (-1 with no
//   transaction), producer id and epoch, and the partitions of the current
//   transaction, leaving out topics the principal may not DESCRIBE.
// * Cluster mode: at the id's coordinator (NOT_COORDINATOR,
//   COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE elsewhere).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(b *Broker, r *request, req *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = id
		ts.ProducerID, ts.ProducerEpoch, ts.StartTimestamp = -1, -1, -1
		var in txn.Info
		tw, cerr := b.txnFor(id)
		ok := cerr == nil
		if ok {
			in, ok = tw.coord.Get(id)
		}
		switch {
		case !r.allowed(auth.OpDescribe, auth.TransactionalID(id)):
			ts.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case cerr != nil: // cluster mode: not this broker's id, or loading
			ts.ErrorCode = cerr.Code
		case !ok:
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			ts.State = in.State.String()
			ts.TimeoutMillis = int32(in.Timeout.Milliseconds())
			if !in.Started.IsZero() {
				ts.StartTimestamp = in.Started.UnixMilli()
			}
			ts.ProducerID, ts.ProducerEpoch = in.ProducerID, in.Epoch
			for _, tp := range in.Partitions {
				if !r.allowed(auth.OpDescribe, auth.Topic(tp.Topic)) {
					continue
				}
				if n := len(ts.Topics); n == 0 || ts.Topics[n-1].Topic != tp.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = tp.Topic
					ts.Topics = append(ts.Topics, t)
				}
				last := &ts.Topics[len(ts.Topics)-1]
				last.Partitions = append(last.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
