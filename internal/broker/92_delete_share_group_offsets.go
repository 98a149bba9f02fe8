package broker

// DeleteShareGroupOffsets: v0 (KIP-932)
//
// Behaviour: DELETE on the group (GROUP_AUTHORIZATION_FAILED) and READ on
// each topic (TOPIC_AUTHORIZATION_FAILED per topic); unknown topics are
// UNKNOWN_TOPIC_OR_PARTITION. The group must exist (GROUP_ID_NOT_FOUND)
// and have no members (NON_EMPTY_GROUP). The share-partitions of the named
// topics are forgotten (tombstones in __share_group_state, written before
// the response); a later fetch starts them again from
// share.auto.offset.reset.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(92, 0, 0, handleDeleteShareGroupOffsets) }

func handleDeleteShareGroupOffsets(b *Broker, r *request, req *kmsg.DeleteShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	if !r.allowed(auth.OpDelete, auth.Group(req.GroupID)) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	var ids [][16]byte
	for _, qt := range req.Topics {
		rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		rt.Topic = qt.Topic
		t := b.topic(qt.Topic)
		switch {
		case t == nil:
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !r.allowed(auth.OpRead, auth.Topic(qt.Topic)):
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rt.TopicID = t.meta.ID
		default:
			rt.TopicID = t.meta.ID
			ids = append(ids, t.meta.ID)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	keys, kerrv := b.shares.c.DeleteOffsets(req.GroupID, ids)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp
	}
	for _, k := range keys {
		if err := b.persistShare(k, ^uint64(0)); err != nil {
			for i := range resp.Topics {
				if resp.Topics[i].TopicID == k.Topic {
					resp.Topics[i].ErrorCode = storeShareError(err).Code
				}
			}
		}
	}
	return resp
}
