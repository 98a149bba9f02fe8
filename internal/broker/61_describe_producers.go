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
// * Cluster mode: answered by the partition's leader from its committed
//   producer state (NOT_LEADER_OR_FOLLOWER elsewhere).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
)

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(b *Broker, r *request, req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		authz := r.allowed(auth.OpRead, auth.Topic(rt.Topic))
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			var prods []log.ProducerInfo
			var perr *kerr.Error
			if authz {
				prods, perr = b.partitionProducers(rt.Topic, p)
			}
			switch {
			case !authz:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case perr != nil:
				sp.ErrorCode = perr.Code
			default:
				for _, pi := range prods {
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

// partitionProducers is the producer state of a partition: its log's on
// a single node; in cluster mode the committed state of a partition this
// broker leads (NOT_LEADER_OR_FOLLOWER for another's).
func (b *Broker) partitionProducers(topic string, p int32) ([]log.ProducerInfo, *kerr.Error) {
	if b.cl == nil {
		t := b.topic(topic)
		if t == nil || p < 0 || int(p) >= len(t.partitions) {
			return nil, kerr.UnknownTopicOrPartition
		}
		return t.partitions[p].log.Producers(), nil
	}
	t, ok := b.cl.topic(topic)
	if !ok || p < 0 || p >= t.Partitions {
		return nil, kerr.UnknownTopicOrPartition
	}
	lp := b.cl.ledPartition(t.Partition(p))
	if lp == nil {
		return nil, kerr.NotLeaderForPartition
	}
	return lp.Producers(), nil
}
