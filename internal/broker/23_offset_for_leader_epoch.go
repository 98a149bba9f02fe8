package broker

// OffsetForLeaderEpoch: v2-4
//
// Behaviour:
// * A single broker has one leader epoch, 0, for every partition. Epoch 0
//   ends at the high watermark; a request for a larger epoch gets the
//   undefined answer (-1, -1), as Kafka gives for epochs it has not seen.
// * CurrentLeaderEpoch other than 0 (or -1, unset) is UNKNOWN_LEADER_EPOCH.
// * Only consumers (replica id -1 / -2) are served.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(23, 2, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, r *request, req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, err := b.describablePartition(r, t, rp.Partition, rp.CurrentLeaderEpoch)
			switch {
			case !r.allowed(auth.OpDescribe, auth.Topic(rt.Topic)):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case err != nil:
				sp.ErrorCode = code(err)
			case rp.LeaderEpoch <= 0:
				sp.LeaderEpoch, sp.EndOffset = 0, p.log.HighWatermark()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
