package broker

// AlterShareGroupOffsets: v0 (KIP-932)
//
// Behaviour: READ on the group (GROUP_AUTHORIZATION_FAILED) and READ on
// each topic (TOPIC_AUTHORIZATION_FAILED per partition); unknown topics or
// partitions are UNKNOWN_TOPIC_OR_PARTITION. The group must have no
// members (NON_EMPTY_GROUP); an unknown group is created. Each named
// share-partition starts at the given offset with no in-flight state,
// written to __share_group_state before the response.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/share"
)

func init() { register(91, 0, 0, handleAlterShareGroupOffsets) }

func handleAlterShareGroupOffsets(b *Broker, r *request, req *kmsg.AlterShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	if req.GroupID == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	if !r.allowed(auth.OpRead, auth.Group(req.GroupID)) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	if b.isConsumerGroup(req.GroupID) {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	offs := map[share.TP]int64{}
	type at struct{ ti, pi int }
	where := map[share.TP]at{}
	for _, qt := range req.Topics {
		rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		rt.Topic = qt.Topic
		t := b.topic(qt.Topic)
		if t != nil {
			rt.TopicID = t.meta.ID
		}
		allowed := t != nil && r.allowed(auth.OpRead, auth.Topic(qt.Topic))
		for _, qp := range qt.Partitions {
			rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			rp.Partition = qp.Partition
			switch {
			case t == nil || qp.Partition < 0 || int(qp.Partition) >= len(t.partitions):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !allowed:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case qp.StartOffset < 0:
				rp.ErrorCode = kerr.InvalidRequest.Code
			default:
				tp := share.TP{Topic: t.meta.ID, Partition: qp.Partition}
				offs[tp] = qp.StartOffset
				where[tp] = at{len(resp.Topics), len(rt.Partitions)}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(offs) == 0 {
		return resp
	}
	keys, kerrv := b.shares.c.AlterOffsets(req.GroupID, offs)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp
	}
	for _, k := range keys {
		if err := b.persistShare(k, ^uint64(0)); err != nil {
			w := where[k.TP]
			resp.Topics[w.ti].Partitions[w.pi].ErrorCode = storeShareError(err).Code
		}
	}
	return resp
}
