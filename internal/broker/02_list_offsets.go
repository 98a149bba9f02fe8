package broker

// ListOffsets: v0-10
//
// Behaviour:
// * Timestamp -1 latest (the high watermark; the last stable offset under
//   read_committed), -2 earliest (log start
//   offset), -3 max timestamp (v7+, KIP-734: the record with the largest
//   timestamp), -4 earliest local (v8+, the log start offset: no tiered
//   storage), -5 latest tiered (v9+, -1: no tiered storage); otherwise the
//   first record whose timestamp is at or after the given one, or -1.
// * CurrentLeaderEpoch other than 0 is rejected as in Fetch.
// * Returned leader epoch is 0 (v4+).
// * v0 (for old clients; Kafka 4 dropped it, KIP-896) answers up to
//   MaxNumOffsets offsets, Kafka's legacy semantics: segment base offsets
//   timed by their files' modification times and the log end offset
//   (log.OffsetsBefore).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(2, 0, 10, handleListOffsets) }

func handleListOffsets(b *Broker, r *request, req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if !r.allowed(auth.OpDescribe, auth.Topic(rt.Topic)) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if p, err := b.describablePartition(r, t, rp.Partition, rp.CurrentLeaderEpoch); err != nil {
				sp.ErrorCode = code(err)
			} else if r.version == 0 {
				offs, err := p.log.OffsetsBefore(rp.Timestamp, rp.MaxNumOffsets)
				if err != nil {
					sp.ErrorCode, offs = code(readError(err)), []int64{}
				}
				sp.OldStyleOffsets = offs
			} else {
				b.listOffset(p, rp.Timestamp, req.IsolationLevel == 1, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) listOffset(p *partition, ts int64, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.LeaderEpoch = 0
	switch ts {
	case -1:
		sp.Offset = p.log.HighWatermark()
		if readCommitted {
			sp.Offset = p.log.LastStableOffset()
		}
	case -2, -4:
		sp.Offset = p.log.LogStartOffset()
	case -5:
		sp.Offset = -1
	case -3:
		off, mts, err := p.log.MaxTimestamp()
		if err != nil {
			sp.ErrorCode = code(readError(err))
			return
		}
		sp.Offset, sp.Timestamp = off, mts
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, fts, err := p.log.OffsetForTimestamp(ts)
		if err != nil {
			sp.ErrorCode = code(readError(err))
			b.logger.Warn("list offsets by timestamp failed", "topic", p.topic, "partition", p.index, "err", err)
			return
		}
		sp.Offset, sp.Timestamp = off, fts
		if off < 0 {
			sp.LeaderEpoch = -1
		}
	}
}

// describablePartition finds partition p of t for a request that needs
// DESCRIBE on the topic and names the leader epoch it expects; the error is
// a wire error. t may be nil (unknown topic).
func (b *Broker) describablePartition(r *request, t *topic, p, currentLeaderEpoch int32) (*partition, error) {
	switch {
	case t == nil:
		return nil, kerr.UnknownTopicOrPartition
	case !r.allowed(auth.OpDescribe, auth.Topic(t.meta.Name)):
		return nil, kerr.TopicAuthorizationFailed
	case p < 0 || int(p) >= len(t.partitions):
		return nil, kerr.UnknownTopicOrPartition
	case currentLeaderEpoch > 0:
		return nil, kerr.UnknownLeaderEpoch
	}
	return t.partitions[p], nil
}
