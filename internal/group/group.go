package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The group types shared by both protocols. A group id is either a
// classic group (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; classic.go,
// protocols.go) or a KIP-848 consumer group (ConsumerGroupHeartbeat;
// consumer.go, assign.go): one group struct holds either, with the
// committed offsets (offsets.go) and the queue of writes to
// __consumer_offsets (coordinator.go) that both have. Only Kafka's
// "disabled" group.consumer.migration.policy is implemented: a consumer
// heartbeat for a classic group with members is GROUP_ID_NOT_FOUND, a
// JoinGroup for a consumer group with members is
// INCONSISTENT_GROUP_PROTOCOL, and an empty group of either type is
// converted to the other on first use.

type tp struct {
	topic     string
	partition int32
}

type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  time.Time
	expireTime  time.Time // zero: expires by the retention rules
	// written orders the offset's record in its __consumer_offsets
	// partition (Coordinator.writes when it was written or replayed):
	// a transaction's commit applies its offsets only over older ones,
	// as Kafka compares log offsets.
	written uint64
}

type group struct {
	id           string
	state        State
	stateSince   time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string

	members map[string]*member
	order   []string             // member ids in join order (leader fallback, output order)
	static  map[string]string    // instance id → member id
	pending map[string]time.Time // KIP-394 member ids handed out, not yet joined → expiry

	joinDeadline     time.Time // PreparingRebalance: when the join phase ends
	initialDelay     bool      // the join phase is the initial delayed join of an empty group
	initialRemaining time.Duration
	newMemberAdded   bool
	syncDeadline     time.Time       // members of this generation must SyncGroup by then
	pendingSync      map[string]bool // members of this generation that have not synced

	offsets map[tp]offset

	cg *cgroup // non-nil: a KIP-848 consumer group (consumer.go)

	writes []*Write // queued for the broker; the first is out (Applied)
}

func (g *group) transition(s State, now time.Time) {
	g.state = s
	g.stateSince = now
}

func (g *group) nextDeadline() time.Time {
	var t time.Time
	min := func(x time.Time) {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	for _, m := range g.members {
		if m.joinCB == nil && m.syncCB == nil {
			min(m.deadline)
		}
	}
	for _, d := range g.pending {
		min(d)
	}
	if g.state == PreparingRebalance {
		min(g.joinDeadline)
	}
	if len(g.pendingSync) > 0 {
		min(g.syncDeadline)
	}
	if g.cg != nil {
		g.cg.nextDeadline(min)
	}
	return t
}

func code(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// classicEmpty reports whether a classic group has no members, so that it
// may become a consumer group.
func (g *group) classicEmpty() bool {
	return len(g.members) == 0 && len(g.pending) == 0
}
