package cluster

import (
	"context"
	"fmt"
	"math"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Idempotent producers in etcd (DESIGN.md, "Cluster mode"):
//
//	producerids        {next}    the cluster's producer id counter
//	producers/<tp>     {state}   a partition's producer state, written by
//	                             Commit in the txn of a flush's offsets
//
// Ids are handed out in blocks (Kafka's KIP-730): AllocateProducerIDs
// advances the counter by compare-and-swap, so two brokers never get
// overlapping blocks; a broker that dies wastes the rest of its block.

// Producers is the partition's idempotent producer state as the last
// commit that carried one left it (PartitionAppend.Producers), nil if
// none ever did, and the partition's hw read at the same revision: the
// state is that after every batch below this hw (a commit writes both in
// one txn). Read after Acquire it is the state at the hw Acquire
// returned: only the leader commits, and the leaders/ fence ends an
// older leader's commits.
func (c *Client) Producers(ctx context.Context, tp TopicPartition) (state []byte, hw int64, err error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	key, hk := c.k.producers(tp), c.k.hw(tp)
	resp, err := c.etcd.Txn(rctx).Then(clientv3.OpGet(key), clientv3.OpGet(hk)).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: reading the producer state of %s: %w", tp, classify(err))
	}
	if h := resp.Responses[1].GetResponseRange(); len(h.Kvs) > 0 {
		var v offsetValue
		if err := decode(hk, h.Kvs[0].Value, &v); err != nil {
			return nil, 0, err
		}
		hw = v.Offset
	}
	r := resp.Responses[0].GetResponseRange()
	if len(r.Kvs) == 0 {
		return nil, hw, nil
	}
	var v producersValue
	if err := decode(key, r.Kvs[0].Value, &v); err != nil {
		return nil, 0, err
	}
	if v.State == nil {
		v.State = []byte{}
	}
	return v.State, hw, nil
}

// ProducerIDBlock is a range [Start, End) of producer ids handed out to
// one broker.
type ProducerIDBlock struct{ Start, End int64 }

// AllocateProducerIDs takes the next n producer ids of the cluster: one
// txn If(producerids unchanged since read) Then(put next+n), retried
// while other brokers win the race (each round one wins), until
// Config.RequestTimeout. Ids start at 0, as Kafka's.
func (c *Client) AllocateProducerIDs(ctx context.Context, n int64) (ProducerIDBlock, error) {
	if n <= 0 {
		return ProducerIDBlock{}, fmt.Errorf("%w: a block of %d producer ids", ErrInvalid, n)
	}
	key := c.k.producerIDs()
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	for {
		resp, err := c.etcd.Get(rctx, key)
		if err != nil {
			return ProducerIDBlock{}, fmt.Errorf("cluster: reading the producer id counter: %w", classify(err))
		}
		var cur producerIDsValue
		rev := int64(0)
		if len(resp.Kvs) > 0 {
			if err := decode(key, resp.Kvs[0].Value, &cur); err != nil {
				return ProducerIDBlock{}, err
			}
			rev = resp.Kvs[0].ModRevision
		}
		if cur.Next < 0 || cur.Next > math.MaxInt64-n {
			return ProducerIDBlock{}, fmt.Errorf("%w: %s: producer ids exhausted at %d", ErrBadValue, key, cur.Next)
		}
		next := producerIDsValue{V: valueVersion, Next: cur.Next + n}
		tx, err := c.etcd.Txn(rctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, encode(next))).Commit()
		if err != nil {
			// Unknown outcome: the block may be taken; a later call takes
			// the next one, so at worst these ids are never used.
			return ProducerIDBlock{}, fmt.Errorf("cluster: advancing the producer id counter: %w", classify(err))
		}
		if tx.Succeeded {
			return ProducerIDBlock{Start: cur.Next, End: next.Next}, nil
		}
	}
}
