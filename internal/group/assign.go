package group

import (
	"slices"
	"sort"
)

// The KIP-848 server-side assignors (group.consumer.assignors): uniform
// (sticky and balanced) and range, pure functions of the members (sorted by
// id, with their subscriptions), the subscribed topics' partition counts
// and, for uniform, the previous target assignment. computeTarget
// (consumer.go) runs the one the group prefers.

// TopicInfo is one topic as the assignors see it.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// assignment maps a topic name to its sorted partitions.
type assignment map[string][]int32

func (a assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) has(t string, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

func (a assignment) add(t string, p int32) {
	ps := a[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[t] = slices.Insert(ps, i, p)
	}
}

func (a assignment) equal(b assignment) bool {
	if a.count() != b.count() {
		return false
	}
	for t, ps := range a {
		if len(ps) > 0 && !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// preferredAssignor is the assignor most members ask for (ties: the
// earlier in group.consumer.assignors), else the first configured.
func (c *Coordinator) preferredAssignor(cg *cgroup) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := c.cfg.ConsumerAssignors[0]
	for _, a := range c.cfg.ConsumerAssignors {
		if votes[a] > votes[best] {
			best = a
		}
	}
	return best
}

// assignRange is the range assignor: for each topic, its subscribers
// sorted by member id take consecutive ranges, the first
// partitions%subscribers one partition more.
func assignRange(members []*cmember, topics []string, parts map[string]int32) map[string]assignment {
	out := make(map[string]assignment, len(members))
	for _, m := range members {
		out[m.id] = assignment{}
	}
	for _, t := range topics {
		var subs []*cmember
		for _, m := range members {
			if m.subscribes(t) {
				subs = append(subs, m)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := parts[t]
		per, extra := n/int32(len(subs)), n%int32(len(subs))
		next := int32(0)
		for i, m := range subs {
			k := per
			if int32(i) < extra {
				k++
			}
			for p := next; p < next+k; p++ {
				out[m.id][t] = append(out[m.id][t], p)
			}
			next += k
		}
	}
	return out
}

// assignUniform is a sticky, balanced assignor in the spirit of Kafka's
// uniform assignor: every subscribed partition goes to one subscriber;
// each member keeps what it had in the previous target while under its
// quota (an even share of the partitions it can take), and the rest go, in
// topic and partition order, to the eligible member with the fewest
// partitions (ties: member id).
func assignUniform(members []*cmember, topics []string, parts map[string]int32, prev map[string]assignment) map[string]assignment {
	out := make(map[string]assignment, len(members))
	count := make(map[string]int, len(members))
	for _, m := range members {
		out[m.id] = assignment{}
	}
	if len(members) == 0 {
		return out
	}
	total := 0
	for _, t := range topics {
		total += int(parts[t])
	}
	quota := (total + len(members) - 1) / len(members)
	taken := map[tp]bool{}
	// Stickiness: keep previous targets up to the quota.
	for _, m := range members {
		for _, t := range topics {
			if !m.subscribes(t) {
				continue
			}
			for _, p := range prev[m.id][t] {
				if p >= parts[t] || count[m.id] >= quota || taken[tp{t, p}] {
					continue
				}
				taken[tp{t, p}] = true
				out[m.id][t] = append(out[m.id][t], p)
				count[m.id]++
			}
		}
	}
	for _, t := range topics {
		var subs []*cmember
		for _, m := range members {
			if m.subscribes(t) {
				subs = append(subs, m)
			}
		}
		for p := int32(0); p < parts[t]; p++ {
			if taken[tp{t, p}] || len(subs) == 0 {
				continue
			}
			best := subs[0]
			for _, m := range subs[1:] {
				if count[m.id] < count[best.id] {
					best = m
				}
			}
			out[best.id].add(t, p)
			count[best.id]++
		}
	}
	// Balance: move partitions from the most to the least loaded
	// eligible member until counts differ by at most one.
	for moved := true; moved; {
		moved = false
		for _, hi := range members {
			for _, lo := range members {
				if count[hi.id]-count[lo.id] <= 1 {
					continue
				}
				if t, p, ok := movable(out[hi.id], lo); ok {
					i, _ := slices.BinarySearch(out[hi.id][t], p)
					out[hi.id][t] = slices.Delete(out[hi.id][t], i, i+1)
					out[lo.id].add(t, p)
					count[hi.id]--
					count[lo.id]++
					moved = true
				}
			}
		}
	}
	return out
}

// movable finds the last partition in a that to may take.
func movable(a assignment, to *cmember) (string, int32, bool) {
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(topics)))
	for _, t := range topics {
		if ps := a[t]; len(ps) > 0 && to.subscribes(t) {
			return t, ps[len(ps)-1], true
		}
	}
	return "", 0, false
}

func sortedTopics(a assignment) []string {
	out := make([]string, 0, len(a))
	for t, ps := range a {
		if len(ps) > 0 {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
