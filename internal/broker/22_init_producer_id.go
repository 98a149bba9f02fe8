package broker

// InitProducerID: v0-5
//
// Behaviour:
// * Idempotent producers (no transactional id) get a new producer id with
//   epoch 0 on every call, as Kafka does; ids are allocated in blocks whose
//   high-water mark is persisted before use, so ids never repeat across
//   restarts.
// * A transactional id (WRITE on it, TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
//   goes to the transaction coordinator (txn.go): a new producer id with
//   epoch 0, or the same id with the epoch bumped, which fences older
//   incarnations; their ongoing transaction is aborted (markers written)
//   before the answer. A timeout above transaction.max.timeout.ms is
//   INVALID_TRANSACTION_TIMEOUT; CONCURRENT_TRANSACTIONS while the previous
//   transaction completes; v3+ with a stale producer id/epoch (KIP-360) is
//   PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4). The coordinator
//   takes producer ids from blocks the broker persists outside its lock
//   (producerids.go); while it has none it answers
//   COORDINATOR_LOAD_IN_PROGRESS, as Kafka does, and the request that
//   asked for the block retries once it is in.

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(b *Broker, r *request, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && !r.allowed(auth.OpWrite, auth.TransactionalID(*req.TransactionalID)) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	if req.TransactionalID != nil {
		tw, cerr := b.txnFor(*req.TransactionalID)
		if cerr != nil {
			resp.ErrorCode = cerr.Code
			return resp
		}
		return initTransactionalProducer(tw, r, req, resp)
	}
	if !r.allowed(auth.OpIdempotentWrite, auth.Cluster()) && !r.allowedOnAny(auth.OpWrite, auth.ResourceTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	id, err := b.pids.next()
	if err != nil {
		b.logger.Error("allocating a producer id failed", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

func initTransactionalProducer(tw *txnWiring, r *request, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) kmsg.Response {
	var res txn.InitResult
	var err error
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	for retried := false; ; retried = true {
		unlock := tw.locks.lock(*req.TransactionalID)
		var w *txn.Write
		res, w, err = tw.coord.InitProducerID(*req.TransactionalID, timeout, req.ProducerID, req.ProducerEpoch, tw.now())
		err = tw.apply(w, err)
		unlock()
		if !res.NeedProducerIDs {
			break
		}
		// The coordinator's producer ids run low (or out): persist a
		// block with no lock held; when it had none, ask again once.
		if perr := tw.refill(); perr != nil {
			if errors.Is(err, kerr.CoordinatorLoadInProgress) {
				err = kerr.KafkaStorageError
			}
			break
		}
		if retried || !errors.Is(err, kerr.CoordinatorLoadInProgress) {
			break
		}
	}
	if err == nil && res.Abort != nil {
		if tw.complete(res.Abort) != nil {
			err = kerr.ConcurrentTransactions // retried until the markers are written
		}
	}
	if err != nil {
		resp.ErrorCode = code(fencedErr(err, r.version, 4))
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
	return resp
}
