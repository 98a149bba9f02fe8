package broker

// InitProducerID: v0-5
//
// Behaviour:
// * Idempotent producers (no transactional id) get a new producer id with
//   epoch 0 on every call, as Kafka does; ids are allocated in blocks whose
//   high-water mark is persisted before use, so ids never repeat across
//   restarts.
// * A transactional id is refused with UNSUPPORTED_VERSION until the
//   transaction coordinator exists (FindCoordinator answers
//   COORDINATOR_NOT_AVAILABLE for transactional ids).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
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
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp
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
