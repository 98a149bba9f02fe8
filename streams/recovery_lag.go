package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Acceptable recovery lag (Kafka Streams' acceptable.recovery.lag, in the
// simplest form of its HighAvailabilityTaskAssignor): with standby
// replicas, every worker reports in its member metadata how far behind
// its changelogs its local copies of table partitions are (its own
// partitions: 0; its standby copies: as of their last catch-up), and the
// group leader, after the range assignor's plan, checks each partition p
// that tables live on (p of every topic with its partition count, so
// co-partitioned topics stay together; a worker without a copy lags by
// the changelog's end offset, which the leader lists, as Kafka Streams
// counts it): when the planned worker's copies
// of p's table partitions are not all within the acceptable lag and
// another worker's are, p goes to that worker (the least lag, then the
// fewest partitions so far, then member order); when no worker is caught
// up, p stays where the plan put it. So a takeover goes to a warm copy
// rather than to a worker that would restore the whole changelog. A
// worker's own partitions count as caught up in the rebalance that
// revokes them (the eager range assignor revokes every partition before
// rejoining), as Kafka Streams counts the task directories a client keeps.
//
// The planned worker a partition was kept from gets a copy of it to warm
// up (a standby: Kafka Streams' warm-up replica), and the leader rejoins
// the group after ProbingRebalanceInterval (Kafka Streams' probing
// rebalance), when the plan is checked again with the new lags: a worker
// that joined gets its share once its copies have caught up. Unlike Kafka
// Streams, every kept partition gets its warm-up (no
// max.warmup.replicas), and only open copies are reported, not stores
// left on disk by an earlier assignment.

// DefaultAcceptableRecoveryLag is Kafka Streams' acceptable.recovery.lag
// default.
const DefaultAcceptableRecoveryLag = 10000

// AcceptableRecoveryLag sets how many changelog records a worker's copy of
// a table partition may lack and still count as caught up when the leader
// assigns partitions (default DefaultAcceptableRecoveryLag). It has effect
// with StandbyReplicas.
func AcceptableRecoveryLag(n int64) Option {
	return func(c *appConfig) error {
		if n < 0 {
			return fmt.Errorf("streams: AcceptableRecoveryLag %d < 0", n)
		}
		c.recoveryLag = n
		return nil
	}
}

// memberData is a member's consumer-protocol user data: its query
// address and its copies' lags (table -> partition -> records behind).
// It is encoded as the bare address when there are no lags (as before
// lags were reported), else as JSON.
type memberData struct {
	Addr string                     `json:"addr,omitempty"`
	Lags map[string]map[int32]int64 `json:"lags,omitempty"`
}

func (d memberData) encode() []byte {
	if len(d.Lags) == 0 {
		return []byte(d.Addr)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return []byte(d.Addr)
	}
	return b
}

func parseMemberData(b []byte) memberData {
	if len(b) > 0 && b[0] == '{' {
		var d memberData
		if json.Unmarshal(b, &d) == nil {
			return d
		}
	}
	return memberData{Addr: string(b)}
}

// localLags returns the lags of this worker's copies: 0 for its own
// restored table partitions, the last catch-up's for its standby copies.
func (w *worker) localLags() map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	add := func(table string, p int32, lag int64) {
		if out[table] == nil {
			out[table] = map[int32]int64{}
		}
		out[table][p] = lag
	}
	for _, tc := range w.tables {
		tc.mu.Lock()
		for p := range tc.parts {
			add(tc.name, p, 0)
		}
		tc.mu.Unlock()
	}
	w.lagMu.Lock()
	for table, ps := range w.revoked {
		for p := range ps {
			add(table, p, 0)
		}
	}
	w.lagMu.Unlock()
	if sb := w.sb; sb != nil {
		sb.lagMu.Lock()
		for tc, ps := range sb.lags {
			for p, lag := range ps {
				if _, own := out[tc.name][p]; !own {
					add(tc.name, p, lag)
				}
			}
		}
		sb.lagMu.Unlock()
	}
	return out
}

// noteRevoked records the restored table partitions among m (revoked at
// the start of a rebalance): the join that follows reports them caught
// up, as Kafka Streams reports the offsets of the task directories it
// keeps.
func (w *worker) noteRevoked(m map[string][]int32) {
	w.lagMu.Lock()
	defer w.lagMu.Unlock()
	for _, tc := range w.tables {
		tc.mu.Lock()
		for _, p := range m[tc.source.name] {
			if tc.parts[p] == nil {
				continue
			}
			if w.revoked == nil {
				w.revoked = map[string]map[int32]bool{}
			}
			if w.revoked[tc.name] == nil {
				w.revoked[tc.name] = map[int32]bool{}
			}
			w.revoked[tc.name][p] = true
		}
		tc.mu.Unlock()
	}
}

// forgetRevoked ends the rebalance's reporting of revoked partitions.
func (w *worker) forgetRevoked() {
	w.lagMu.Lock()
	w.revoked = nil
	w.lagMu.Unlock()
}

// scheduleProbe makes this worker, the leader whose assignment kept
// partitions from their planned workers (which warm up copies of them),
// rejoin the group after the probing interval, so the leader assigns
// again with their new lags (Kafka Streams' probing rebalance). A later
// assignment replaces the schedule.
func (w *worker) scheduleProbe() {
	w.lagMu.Lock()
	defer w.lagMu.Unlock()
	cl := w.groupCl
	if w.stopped || cl == nil {
		return
	}
	if w.probe != nil {
		w.probe.Stop()
	}
	w.log.Info("streams: partitions kept from workers whose copies lag; probing rebalance scheduled", "in", w.cfg.probingInterval)
	w.probe = time.AfterFunc(w.cfg.probingInterval, func() {
		w.log.Info("streams: probing rebalance")
		cl.ForceRebalance()
	})
}

// stopProbe cancels the probing rebalance for good (shutdown).
func (w *worker) stopProbe() {
	w.lagMu.Lock()
	defer w.lagMu.Unlock()
	w.stopped = true
	if w.probe != nil {
		w.probe.Stop()
	}
}

// changelogEnds returns the end offsets of the tables' changelogs (table
// -> partition), or nil when they cannot be listed now: the leader's
// balancer asks, as Kafka Streams' assignor does.
func (w *worker) changelogEnds() map[string]map[int32]int64 {
	w.lagMu.Lock()
	cl := w.groupCl
	w.lagMu.Unlock()
	if cl == nil || len(w.tables) == 0 {
		return nil
	}
	topics := make([]string, 0, len(w.tables))
	for _, tc := range w.tables {
		topics = append(topics, tc.changelog)
	}
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		w.log.Warn("streams: listing changelog end offsets for the assignment; workers without copies count as lagging", "err", err)
		return nil
	}
	out := map[string]map[int32]int64{}
	for _, tc := range w.tables {
		out[tc.name] = map[int32]int64{}
		for p, o := range offs[tc.changelog] {
			out[tc.name][p] = o.Offset
		}
	}
	return out
}

// DefaultProbingRebalanceInterval is Kafka Streams'
// probing.rebalance.interval.ms default.
const DefaultProbingRebalanceInterval = 10 * time.Minute

// ProbingRebalanceInterval sets how long after an assignment that kept
// partitions from workers whose copies lag the leader rebalances again
// (default DefaultProbingRebalanceInterval).
func ProbingRebalanceInterval(d time.Duration) Option {
	return func(c *appConfig) error {
		if d <= 0 {
			return fmt.Errorf("streams: ProbingRebalanceInterval %v <= 0", d)
		}
		c.probingInterval = d
		return nil
	}
}

// gateRecoveryLag moves, in assign (one topic -> partitions map per
// member, in member order), each partition that tables live on from a
// planned member whose copies are not caught up to one whose copies are
// (see the comment above). counts are the topics' partition counts,
// tables maps each table to its source topic, lags are the members'
// reports, ends the changelogs' end offsets (table -> partition): a
// member without a copy lags by the whole changelog, as in Kafka Streams
// (nil: it is not caught up). It returns the moves: per planned member, the partitions (of
// topics) it was planned and did not get, which it should warm up.
func gateRecoveryLag(assign []map[string][]int32, counts map[string]int32, tables map[string]string, lags []map[string]map[int32]int64, ends map[string]map[int32]int64, acceptable int64) []map[string][]int32 {
	// The tables on partition p of the topics with n partitions.
	byCount := map[int32][]string{}
	for table, src := range tables {
		if n, ok := counts[src]; ok {
			byCount[n] = append(byCount[n], table)
		}
	}
	owner := func(topic string, p int32) int {
		for i, a := range assign {
			if slices.Contains(a[topic], p) {
				return i
			}
		}
		return -1
	}
	// lag of member i's copies of the tables of p: -1 when it lacks one.
	lag := func(i int, ts []string, p int32) int64 {
		var sum int64
		for _, t := range ts {
			l, ok := lags[i][t][p]
			if !ok {
				if l, ok = ends[t][p]; !ok {
					return -1
				}
			}
			sum += l
		}
		return sum
	}
	size := func(i int) (n int) {
		for _, ps := range assign[i] {
			n += len(ps)
		}
		return n
	}
	ns := make([]int32, 0, len(byCount))
	for n := range byCount {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	moved := make([]map[string][]int32, len(assign))
	for _, n := range ns {
		ts := byCount[n]
		sort.Strings(ts)
		var topics []string
		for t, c := range counts {
			if c == n {
				topics = append(topics, t)
			}
		}
		sort.Strings(topics)
		src := tables[ts[0]]
		for p := range n {
			from := owner(src, p)
			if from < 0 {
				continue
			}
			if l := lag(from, ts, p); l >= 0 && l <= acceptable {
				continue
			}
			to, best := -1, int64(0)
			for i := range assign {
				l := lag(i, ts, p)
				if i == from || l < 0 || l > acceptable {
					continue
				}
				if to < 0 || l < best || l == best && size(i) < size(to) {
					to, best = i, l
				}
			}
			if to < 0 {
				continue
			}
			for _, t := range topics {
				if i := slices.Index(assign[from][t], p); i >= 0 {
					assign[from][t] = slices.Delete(assign[from][t], i, i+1)
					assign[to][t] = append(assign[to][t], p)
					slices.Sort(assign[to][t])
					if moved[from] == nil {
						moved[from] = map[string][]int32{}
					}
					moved[from][t] = append(moved[from][t], p)
				}
			}
		}
	}
	return moved
}

// assignmentMap and assignmentTopics convert a member's assignment to and
// from the map gateRecoveryLag edits.
func assignmentMap(a kmsg.ConsumerMemberAssignment) map[string][]int32 {
	m := map[string][]int32{}
	for _, t := range a.Topics {
		m[t.Topic] = append(m[t.Topic], t.Partitions...)
	}
	return m
}

func assignmentTopics(m map[string][]int32) []kmsg.ConsumerMemberAssignmentTopic {
	names := make([]string, 0, len(m))
	for t, ps := range m {
		if len(ps) > 0 {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	out := make([]kmsg.ConsumerMemberAssignmentTopic, 0, len(names))
	for _, t := range names {
		out = append(out, kmsg.ConsumerMemberAssignmentTopic{Topic: t, Partitions: m[t]})
	}
	return out
}
