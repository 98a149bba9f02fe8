package broker

// DeleteRecords: v0-2
//
// Behaviour:
// * Moves each partition's log start offset (the low watermark) up to the
//   requested offset; -1 means the high watermark. Segments wholly below it
//   are deleted at once; the first remaining segment keeps earlier batches
//   but reads below the start are OFFSET_OUT_OF_RANGE. ListOffsets earliest
//   and Fetch's log start offset report the new start, which survives a
//   restart (internal/log/retention.go).
// * An offset beyond the high watermark, or negative other than -1, is
//   OFFSET_OUT_OF_RANGE; one at or below the current start changes nothing.
//   The response carries the low watermark (-1 with an error).
// * POLICY_VIOLATION when the topic's cleanup.policy lacks delete.
// * Needs DELETE on the topic (TOPIC_AUTHORIZATION_FAILED, checked first,
//   as in Kafka); unknown topics and partitions are
//   UNKNOWN_TOPIC_OR_PARTITION. One replica: the
//   request completes at once, whatever its timeout.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
)

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, r *request, req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		allowed := r.allowed(auth.OpDelete, auth.Topic(rt.Topic))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Partition < 0 || int(rp.Partition) >= len(t.partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				p := t.partitions[rp.Partition]
				low, err := p.log.DeleteRecords(rp.Offset, b.cfg.Now())
				if err != nil {
					sp.ErrorCode = deleteRecordsError(err).Code
					if sp.ErrorCode == kerr.KafkaStorageError.Code {
						b.logger.Warn("delete records failed", "topic", p.topic, "partition", p.index, "err", err)
					}
					break
				}
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func deleteRecordsError(err error) *kerr.Error {
	switch {
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, log.ErrPolicyViolation):
		return kerr.PolicyViolation
	case errors.Is(err, log.ErrClosed):
		return kerr.UnknownTopicOrPartition
	default:
		return kerr.KafkaStorageError
	}
}
