package broker

// InitProducerId v0-5 in cluster mode (DESIGN.md, "Cluster mode",
// "Idempotent producers").
//
// Behaviour:
// * Without a transactional id: a new producer id with epoch 0 on every
//   call (a request's own producer id and epoch are ignored, as Kafka
//   does for idempotent producers). Ids are unique across the cluster:
//   each broker takes blocks of clusterPIDBlock ids from etcd's counter
//   (cluster.Client.AllocateProducerIDs, Kafka's KIP-730 blocks); a
//   broker that stops wastes the rest of its block. When no block can be
//   taken (etcd unreachable) the answer is COORDINATOR_LOAD_IN_PROGRESS,
//   as Kafka answers while it waits for a block; producers retry it.
// * With a transactional id: as in single-node mode, at the coordinator
//   of the id's partition of __transaction_state when this broker leads
//   it (NOT_COORDINATOR otherwise; clustertxns.go).

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
)

// clusterPIDBlock is how many producer ids a broker takes from etcd at
// once (Kafka's block size is 1,000 too).
const clusterPIDBlock = 1000

// clusterPIDs is a broker's current block of producer ids. Its mutex is
// held across the etcd request that takes a new block: only
// InitProducerId requests wait for it.
type clusterPIDs struct {
	mu        sync.Mutex
	next, end int64
}

// take hands out the next id, taking a new block when this one is used.
func (p *clusterPIDs) take(ctx context.Context, c *cluster.Client) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		b, err := c.AllocateProducerIDs(ctx, clusterPIDBlock)
		if err != nil {
			return 0, err
		}
		p.next, p.end = b.Start, b.End
	}
	id := p.next
	p.next++
	return id, nil
}

func (b *Broker) clusterInitProducerID(r *request, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return handleInitProducerID(b, r, req) // the coordinator of the id's partition (clustertxns.go)
	}
	if !r.allowed(auth.OpIdempotentWrite, auth.Cluster()) && !r.allowedOnAny(auth.OpWrite, auth.ResourceTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	ctx, cancel := context.WithTimeout(b.cl.ctx, 10*time.Second)
	defer cancel()
	id, err := b.cl.pids.take(ctx, b.cl.client)
	if err != nil {
		b.logger.Warn("allocating a producer id block in etcd failed", "err", err)
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
