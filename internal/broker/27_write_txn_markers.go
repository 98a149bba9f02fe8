package broker

// WriteTxnMarkers: v1
//
// Behaviour:
// * Sent by transaction coordinators to partition leaders (Kafka's
//   inter-broker marker channel; in cluster mode by a coordinator on
//   another broker, clustertxns.go). CLUSTER_ACTION on the cluster is
//   required (CLUSTER_AUTHORIZATION_FAILED for every partition).
// * Each marker (commit or abort of ProducerID at ProducerEpoch) is
//   appended to each of its partitions, ending the producer's open
//   transaction there (a partition where it has none gets the marker all
//   the same, as in Kafka); an epoch older than the partition's for the
//   producer is INVALID_PRODUCER_EPOCH. A marker in a __consumer_offsets
//   partition also makes the offsets the transaction committed there
//   visible (commit) or drops them (abort).
// * Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION; in cluster mode a
//   partition this broker does not lead is NOT_LEADER_OR_FOLLOWER and a
//   __consumer_offsets partition whose coordinator is loading
//   COORDINATOR_LOAD_IN_PROGRESS. The response is sent once every marker
//   is durable.
// * v0 (no longer in Kafka 4) is not served.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/objlog"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(27, 1, 1, handleWriteTxnMarkers) }

func handleWriteTxnMarkers(b *Broker, r *request, req *kmsg.WriteTxnMarkersRequest) kmsg.Response {
	return answerMarkers(r, req, func(m kmsg.WriteTxnMarkersRequestMarker, tps []txn.TopicPartition) []markerResult {
		out := make([]markerResult, len(tps))
		for i, tp := range tps {
			out[i] = markerResult{topic: tp.Topic, partition: tp.Partition}
			p := b.partition(tp.Topic, tp.Partition)
			if p == nil {
				out[i].err = kerr.UnknownTopicOrPartition
				continue
			}
			if _, err := p.log.AppendMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch); err != nil {
				out[i].err = err
				continue
			}
			p.notify()
			if tp.Topic == group.TopicName {
				b.groups.EndTxn(m.ProducerID, tp.Partition, m.Committed)
			}
		}
		return out
	})
}

// answerMarkers checks authorization and answers every marker's
// partitions with write's outcome for them, in request order.
func answerMarkers(r *request, req *kmsg.WriteTxnMarkersRequest, write func(kmsg.WriteTxnMarkersRequestMarker, []txn.TopicPartition) []markerResult) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	allowed := allowMarkers(r)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		var tps []txn.TopicPartition
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, txn.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		var res []markerResult
		if allowed {
			res = write(m, tps)
		} else {
			res = make([]markerResult, len(tps))
			for i, tp := range tps {
				res[i] = markerResult{topic: tp.Topic, partition: tp.Partition, err: kerr.ClusterAuthorizationFailed}
			}
		}
		for _, x := range res {
			if n := len(rm.Topics); n == 0 || rm.Topics[n-1].Topic != x.topic {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = x.topic
				rm.Topics = append(rm.Topics, rt)
			}
			rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
			rp.Partition, rp.ErrorCode = x.partition, markerCode(x.err)
			rt := &rm.Topics[len(rm.Topics)-1]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp
}

// markerCode is a marker write's error code: Kafka codes as they are,
// log and object-store errors as Produce maps them.
func markerCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	if c := objlog.ErrorCode(err); c != kerr.UnknownServerError.Code || errors.Is(err, objlog.ErrStorage) {
		return c
	}
	return appendError(err).Code
}
