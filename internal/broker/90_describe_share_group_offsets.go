package broker

// DescribeShareGroupOffsets: v0-1 (KIP-932; v1 adds Lag)
//
// Behaviour: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED per group);
// topics the principal may not DESCRIBE are TOPIC_AUTHORIZATION_FAILED per
// partition. Null Topics lists every share-partition of the group. Each
// partition's StartOffset is the share-partition start offset (-1 when
// the group has no state for it; unknown topics are
// UNKNOWN_TOPIC_OR_PARTITION); Lag is the high watermark minus the start
// offset minus the in-flight records already acknowledged or archived (-1
// without state). An unknown group is GROUP_ID_NOT_FOUND.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/share"
)

func init() { register(90, 0, 1, handleDescribeShareGroupOffsets) }

func handleDescribeShareGroupOffsets(b *Broker, r *request, req *kmsg.DescribeShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		if !r.allowed(auth.OpDescribe, auth.Group(rg.GroupID)) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		offs, ok := b.shares.c.Offsets(rg.GroupID)
		if !ok {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		byTP := map[share.TP]share.Offset{}
		for _, o := range offs {
			byTP[o.TP] = o
		}
		part := func(t *topic, p int32) kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.Lag, rp.LeaderEpoch = p, -1, -1, -1
			if t == nil || p < 0 || int(p) >= len(t.partitions) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				return rp
			}
			if !r.allowed(auth.OpDescribe, auth.Topic(t.meta.Name)) {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				return rp
			}
			rp.LeaderEpoch = 0
			if o, ok := byTP[share.TP{Topic: t.meta.ID, Partition: p}]; ok && o.Start >= 0 {
				rp.StartOffset = o.Start
				rp.Lag = max(t.partitions[p].log.HighWatermark()-o.Start-o.Done, 0)
			}
			return rp
		}
		if rg.Topics == nil {
			for _, o := range offs {
				t := b.topicByID(o.Topic)
				if t == nil {
					continue
				}
				if n := len(g.Topics); n == 0 || g.Topics[n-1].TopicID != o.Topic {
					rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
					rt.Topic, rt.TopicID = t.meta.Name, o.Topic
					g.Topics = append(g.Topics, rt)
				}
				rt := &g.Topics[len(g.Topics)-1]
				rt.Partitions = append(rt.Partitions, part(t, o.Partition))
			}
		}
		for _, qt := range rg.Topics {
			rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			rt.Topic = qt.Topic
			t := b.topic(qt.Topic)
			if t != nil {
				rt.TopicID = t.meta.ID
			}
			for _, p := range qt.Partitions {
				rt.Partitions = append(rt.Partitions, part(t, p))
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
