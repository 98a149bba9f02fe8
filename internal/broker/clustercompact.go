package broker

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-io/sluice/internal/objlog"
)

// clusterCompact compacts, at now, the partitions of parts (those this
// broker leads) whose topic's cleanup.policy has compact, each when its
// pass is due (objlog Partition.Compact: min.cleanable.dirty.ratio,
// max.compaction.lag.ms, a tombstone's delete horizon). Called from the
// retention loop (clusterRetention), before merging, one pass at a time.
func (n *clusterNode) clusterCompact(parts []*objlog.Partition, now time.Time) {
	for _, p := range parts {
		if p.Err() != nil || n.ctx.Err() != nil {
			continue
		}
		t, ok := n.topicByID(p.TopicPartition().TopicID)
		if !ok || !n.b.logConfig(t.Configs).Compact {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Minute)
		st, err := p.Compact(ctx, now)
		cancel()
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, objlog.ErrNotLeader) {
				n.log.Warn("compacting failed; trying again later", "topic", t.Name, "partition", p.TopicPartition().Partition, "err", err)
			}
			continue
		}
		if !st.Ran {
			continue
		}
		level := n.log.Info
		if st.Entries == 0 {
			level = n.log.Debug
		}
		level("compacted partition", "topic", t.Name, "partition", p.TopicPartition().Partition, "entries", st.Entries,
			"swaps", st.Swaps, "keys", st.Keys, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "cleaned_to", st.CleanedTo)
	}
}
