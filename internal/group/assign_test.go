package group

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Assignor tables. Notation: members "a:t,u" (id: subscribed topics);
// partitions "t:4,u:2"; assignments "a=[t:0,1 u:0] b=[]" (members by id,
// topics by name, partitions ascending).

func assignMembers(spec string) []*cmember {
	var out []*cmember
	for _, f := range strings.Fields(spec) {
		id, topics, _ := strings.Cut(f, ":")
		m := &cmember{id: id}
		if topics != "" {
			m.topics = strings.Split(topics, ",")
			slices.Sort(m.topics)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *cmember) int { return strings.Compare(a.id, b.id) }) // as sortedMembers
	return out
}

func assignParts(spec string) ([]string, map[string]int32) {
	parts := map[string]int32{}
	var topics []string
	for _, f := range strings.Split(spec, ",") {
		t, n, _ := strings.Cut(f, ":")
		k, _ := strconv.Atoi(n)
		parts[t] = int32(k)
		topics = append(topics, t)
	}
	slices.Sort(topics)
	return topics, parts
}

// parseAssignments reads "a=[t:0,1 u:0] b=[]".
func parseAssignments(t *testing.T, s string) map[string]assignment {
	out := map[string]assignment{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		id, rest, ok := strings.Cut(s, "=[")
		body, after, ok2 := strings.Cut(rest, "]")
		if !ok || !ok2 {
			t.Fatalf("bad assignment %q", s)
		}
		a := assignment{}
		for _, f := range strings.Fields(body) {
			topic, ps, _ := strings.Cut(f, ":")
			for _, p := range strings.Split(ps, ",") {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("bad partition in %q", f)
				}
				a.add(topic, int32(n))
			}
		}
		out[id] = a
		s = after
	}
	return out
}

func formatAssignments(as map[string]assignment) string {
	ids := make([]string, 0, len(as))
	for id := range as {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		var fs []string
		for _, t := range sortedTopics(as[id]) {
			ps := slices.Clone(as[id][t])
			slices.Sort(ps)
			var ns []string
			for _, p := range ps {
				ns = append(ns, strconv.Itoa(int(p)))
			}
			fs = append(fs, t+":"+strings.Join(ns, ","))
		}
		fmt.Fprintf(&b, "%s=[%s]", id, strings.Join(fs, " "))
	}
	return b.String()
}

// checkComplete: every partition of a topic someone subscribes to is
// assigned exactly once, and only to a subscriber.
func checkComplete(t *testing.T, members []*cmember, topics []string, parts map[string]int32, got map[string]assignment) {
	t.Helper()
	owner := map[tp]string{}
	for _, m := range members {
		for topic, ps := range got[m.id] {
			if !m.subscribes(topic) {
				t.Errorf("%s got %s, which it does not subscribe to", m.id, topic)
			}
			for _, p := range ps {
				if o, dup := owner[tp{topic, p}]; dup {
					t.Errorf("%s-%d assigned to %s and %s", topic, p, o, m.id)
				}
				owner[tp{topic, p}] = m.id
			}
		}
	}
	for _, topic := range topics {
		subscribed := slices.ContainsFunc(members, func(m *cmember) bool { return m.subscribes(topic) })
		for p := range parts[topic] {
			if _, ok := owner[tp{topic, p}]; ok != subscribed {
				t.Errorf("%s-%d assigned %v, subscribed %v", topic, p, ok, subscribed)
			}
		}
	}
}

func TestAssignRange(t *testing.T) {
	for _, c := range []struct {
		name, members, parts, want string
	}{
		{"even split", "a:t b:t", "t:4", "a=[t:0,1] b=[t:2,3]"},
		{"the first members take one more", "a:t b:t c:t", "t:4", "a=[t:0,1] b=[t:2] c=[t:3]"},
		{"more members than partitions", "a:t b:t c:t", "t:2", "a=[t:0] b=[t:1] c=[]"},
		{"per topic, among its subscribers", "a:t,u b:t", "t:4,u:3", "a=[t:0,1 u:0,1,2] b=[t:2,3]"},
		{"co-partitioned topics line up", "a:t,u b:t,u", "t:3,u:3", "a=[t:0,1 u:0,1] b=[t:2 u:2]"},
		{"a topic nobody subscribes to", "a:t", "t:2,v:2", "a=[t:0,1]"},
		{"a member with no subscription", "a:t b:", "t:2", "a=[t:0,1] b=[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			members := assignMembers(c.members)
			topics, parts := assignParts(c.parts)
			got := assignRange(members, topics, parts)
			if s := formatAssignments(got); s != c.want {
				t.Errorf("got  %s\nwant %s", s, c.want)
			}
			checkComplete(t, members, topics, parts, got)
		})
	}
}

func TestAssignUniform(t *testing.T) {
	for _, c := range []struct {
		name, members, parts, prev, want string
		balanced                         bool // every member subscribes to every topic: counts differ by at most one
	}{
		{"fresh: round robin by load", "a:t b:t", "t:4", "", "a=[t:0,2] b=[t:1,3]", true},
		{"fresh, uneven", "a:t b:t c:t", "t:4", "", "a=[t:0,3] b=[t:1] c=[t:2]", true},
		{"sticky: a joiner takes only the excess", "a:t b:t", "t:4", "a=[t:0,1,2,3]", "a=[t:0,1] b=[t:2,3]", true},
		{"sticky: two joiners", "a:t b:t c:t", "t:6", "a=[t:0,1,2,3,4,5]", "a=[t:0,1] b=[t:2,4] c=[t:3,5]", true},
		{"sticky: a leaver's partitions spread, the rest stay", "a:t b:t", "t:6", "a=[t:0,3] b=[t:1,4] c=[t:2,5]", "a=[t:0,2,3] b=[t:1,4,5]", true},
		{"sticky: no change keeps everything", "a:t b:t", "t:4", "a=[t:1,3] b=[t:0,2]", "a=[t:1,3] b=[t:0,2]", true},
		{"partitions gone from the topic are dropped", "a:t b:t", "t:2", "a=[t:0,2] b=[t:1,3]", "a=[t:0] b=[t:1]", true},
		{"a partition claimed twice goes to the first", "a:t b:t", "t:2", "a=[t:0] b=[t:0]", "a=[t:0] b=[t:1]", true},
		{"an unsubscribed topic is taken away", "a:t b:t", "t:2,u:2", "a=[t:0 u:0,1] b=[t:1]", "a=[t:0] b=[t:1]", true},
		{"balance across subscriptions", "a:t,u b:t", "t:2,u:2", "", "a=[u:0,1] b=[t:0,1]", false},
		{"balance moves from the most loaded", "a:t b:t c:t", "t:6", "a=[t:0,1,2,3,4] b=[t:5]", "a=[t:0,1] b=[t:3,5] c=[t:2,4]", true},
		{"no members", "", "t:2", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			members := assignMembers(c.members)
			topics, parts := assignParts(c.parts)
			got := assignUniform(members, topics, parts, parseAssignments(t, c.prev))
			if s := formatAssignments(got); s != c.want {
				t.Errorf("got  %s\nwant %s", s, c.want)
			}
			checkComplete(t, members, topics, parts, got)
			if c.balanced {
				lo, hi := -1, -1
				for _, m := range members {
					n := got[m.id].count()
					if lo < 0 || n < lo {
						lo = n
					}
					hi = max(hi, n)
				}
				if hi-lo > 1 {
					t.Errorf("unbalanced: %d to %d partitions", lo, hi)
				}
			}
		})
	}
}
