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
// * v5+ is transaction version 2 (KIP-890; ApiVersions finalizes the
//   transaction.version feature at 2): the epoch is bumped by every end
//   and the markers carry the bumped epoch, fencing the old one in every
//   partition; the response returns the producer id and epoch to go on
//   with (a new id once the epoch is exhausted). A retry from the previous
//   epoch of an end that completed succeeds; aborting with no transaction
//   bumps the epoch too. v0-4 keep the epoch (version 1) and return it.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(26, 0, 5, handleEndTxn) }

func handleEndTxn(b *Broker, r *request, req *kmsg.EndTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1 // v5+; Kafka's answer with an error
	if !r.allowed(auth.OpWrite, auth.TransactionalID(req.TransactionalID)) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	tw, cerr := b.txnFor(req.TransactionalID)
	if cerr != nil {
		resp.ErrorCode = cerr.Code
		return resp
	}
	var res txn.EndResult
	var err error
	unlock := tw.locks.lock(req.TransactionalID)
	var w *txn.Write
	res, w, err = tw.coord.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, r.version >= 5, tw.now())
	err = tw.apply(w, err)
	unlock()
	if res.NeedProducerIDs { // a version-2 end takes one at an exhausted epoch
		tw.refill()
	}
	if err == nil && res.Completion != nil {
		if tw.complete(res.Completion) != nil {
			err = kerr.CoordinatorLoadInProgress
		}
	}
	if err == nil {
		resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
	}
	resp.ErrorCode = code(fencedErr(err, r.version, 2))
	return resp
}
