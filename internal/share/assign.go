package share

import (
	"fmt"
	"slices"
	"strings"
)

// subscribedHash describes the partition counts of the topics the group's
// members subscribe to; a change bumps the group epoch.
func subscribedHash(g *group, topics []TopicInfo) string {
	subs := map[string]bool{}
	for _, m := range g.members {
		for _, t := range m.topics {
			subs[t] = true
		}
	}
	var b strings.Builder
	for _, t := range topics {
		if subs[t.Name] {
			fmt.Fprintf(&b, "%s/%x/%d;", t.Name, t.ID, t.Partitions)
		}
	}
	return b.String()
}

// assign is the simple assignor (Kafka's SimpleAssignor, the only share
// group assignor): for each topic, among the members subscribed to it (by
// member id), with M members and P partitions, each partition goes to one
// member round-robin when M <= P (partition i to member i mod M), and
// each member gets one partition when M > P (member j gets partition
// j mod P), so every subscribed member has partitions and every partition
// has a member; members beyond P share partitions. Topics are taken in
// name order, so the result is deterministic.
func assign(g *group, topics []TopicInfo) map[string][]TP {
	out := map[string][]TP{}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ts := slices.Clone(topics)
	slices.SortFunc(ts, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, t := range ts {
		var subs []string
		for _, id := range ids {
			if slices.Contains(g.members[id].topics, t.Name) {
				subs = append(subs, id)
			}
		}
		m, p := len(subs), int(t.Partitions)
		if m == 0 || p == 0 {
			continue
		}
		if m <= p {
			for i := range p {
				id := subs[i%m]
				out[id] = append(out[id], TP{t.ID, int32(i)})
			}
		} else {
			for j, id := range subs {
				out[id] = append(out[id], TP{t.ID, int32(j % p)})
			}
		}
	}
	for id := range out {
		slices.SortFunc(out[id], cmpTP)
	}
	return out
}
