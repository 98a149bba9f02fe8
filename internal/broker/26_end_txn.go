package broker

// EndTxn: v0-5
//
// Behaviour:
// * WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
// * Commit or abort: the transaction becomes PrepareCommit/PrepareAbort,
//   the broker writes the marker to every partition in it (and the
//   offsets committed with TxnOffsetCommit become visible on commit), and
//   it completes before the response; requests on it meanwhile get
//   CONCURRENT_TRANSACTIONS. A marker write that fails answers
//   COORDINATOR_LOAD_IN_PROGRESS (retriable, as Kafka answers while its
//   markers are pending) and is retried by the broker.
// * Retrying a completed end with the same outcome succeeds; the other
//   outcome, or committing with no transaction, is INVALID_TXN_STATE;
//   aborting with no transaction succeeds.
// * PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.
// * v5 returns the producer id and epoch, unchanged (transaction version
//   1: the epoch is not bumped per transaction).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(26, 0, 5, handleEndTxn) }

func handleEndTxn(b *Broker, r *request, req *kmsg.EndTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch
	if !r.allowed(auth.OpWrite, auth.TransactionalID(req.TransactionalID)) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	var comp *txn.Completion
	var err error
	b.txns.prepare(func() {
		comp, err = b.txns.coord.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, b.cfg.Now())
	})
	if err == nil && comp != nil {
		if b.completeTxn(comp) != nil {
			err = kerr.CoordinatorLoadInProgress
		}
	}
	resp.ErrorCode = code(fencedErr(err, r.version, 2))
	return resp
}
