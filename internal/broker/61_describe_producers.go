package broker

// DescribeProducers: v0
//
// Behaviour:
// * READ on the topic (TOPIC_AUTHORIZATION_FAILED); unknown topics and
//   partitions are UNKNOWN_TOPIC_OR_PARTITION.
// * Each partition lists the producers in its log's producer state: id,
//   epoch, last sequence, last timestamp, the first offset of the open
//   transaction (-1 without one); the coordinator epoch is -1 (Sluice's
//   markers carry coordinator epoch 0 and the log does not keep it).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(b *Broker, r *request, req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		authz := r.allowed(auth.OpRead, auth.Topic(rt.Topic))
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			switch {
			case !authz:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || p < 0 || int(p) >= len(t.partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				for _, pi := range t.partitions[p].log.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.Epoch), pi.LastSequence
					ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, -1, pi.TxnStart
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
