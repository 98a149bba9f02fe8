package group

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles an OffsetCommit request (versions 2-9) whose topics
// the broker has already authorized and found to exist; respond is called
// once, when the offsets are in the log (Applied) or at once on an error,
// never under the coordinator's mutex. The response has one entry per
// requested partition.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	c.mu.Lock()
	defer c.unlock()
	now := c.cfg.Now()
	var errs map[tp]*kerr.Error // partitions refused alone; most requests have none
	answer := func(groupErr *kerr.Error) {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				if e := errs[tp{t.Topic, p.Partition}]; e != nil {
					rp.ErrorCode = e.Code
				} else {
					rp.ErrorCode = code(groupErr)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		c.later(func() { respond(resp) })
	}
	if groupErr := c.validateCommit(req); groupErr != nil {
		answer(groupErr)
		return
	}
	var recs []Record
	type commit struct {
		tp tp
		o  offset
	}
	var commits []commit
	g := c.getOrCreate(req.Group)
	if m := g.members[req.MemberID]; m != nil {
		c.touch(m, now)
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p.Partition}
			md := deref(p.Metadata)
			if len(md) > c.cfg.MaxMetadataBytes {
				if errs == nil {
					errs = map[tp]*kerr.Error{}
				}
				errs[k] = kerr.OffsetMetadataTooLarge
				continue
			}
			o := offset{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTime: now}
			if req.Version >= 6 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if req.Version <= 4 && req.RetentionTimeMillis >= 0 {
				o.expireTime = now.Add(time.Duration(req.RetentionTimeMillis) * time.Millisecond)
			}
			recs = append(recs, Record{offsetKey(req.Group, k.topic, k.partition), offsetValue(o)})
			commits = append(commits, commit{k, o})
		}
	}
	c.write(g, recs, -1, -1, func(err error) {
		if err != nil {
			answer(storeError(err))
			return
		}
		c.writes++
		for _, cm := range commits {
			cm.o.written = c.writes
			g.offsets[cm.tp] = cm.o
		}
		answer(nil)
	})
	c.maybeForget(g)
}

// validateCommit is Kafka's check of who may commit: anyone (generation
// -1, no member id) to a group without members; otherwise a current member
// of the current generation, and not while the group awaits its
// assignment.
func (c *Coordinator) validateCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if c.closed {
		return kerr.NotCoordinator
	}
	g := c.groups[req.Group]
	instance := deref(req.InstanceID)
	if g == nil {
		switch {
		case req.Generation < 0:
			return nil
		case req.Version >= 9:
			return kerr.GroupIDNotFound // Kafka, for both protocols from v9
		}
		return kerr.IllegalGeneration
	}
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if g.cg != nil {
		return g.cg.validateCommit(req)
	}
	if req.Generation >= 0 || req.MemberID != "" || instance != "" {
		if err := g.validateMember(req.MemberID, instance, req.Generation); err != nil {
			return err
		}
		if g.state == CompletingRebalance {
			return kerr.RebalanceInProgress
		}
		return nil
	}
	if g.state != Empty {
		return kerr.UnknownMemberID
	}
	return nil
}

// FetchOffsets returns a group's committed offsets (OffsetFetch), in the
// v8+ per-group form: for the given topics' partitions (an uncommitted one
// has offset -1), or for every committed partition when topics is nil.
func (c *Coordinator) FetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestGroupTopic) ([]kmsg.OffsetFetchResponseGroupTopic, *kerr.Error) {
	c.mu.Lock()
	defer c.unlock()
	if c.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groups[groupID]
	part := func(p int32, o offset, ok bool) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset, rp.LeaderEpoch = -1, -1
		md := ""
		if ok {
			rp.Offset, rp.LeaderEpoch, md = o.offset, o.leaderEpoch, o.metadata
		}
		rp.Metadata = &md
		return rp
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	if topics == nil {
		if g == nil {
			return nil, nil
		}
		byTopic := map[string][]int32{}
		for k := range g.offsets {
			byTopic[k.topic] = append(byTopic[k.topic], k.partition)
		}
		names := make([]string, 0, len(byTopic))
		for n := range byTopic {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps := byTopic[n]
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = n
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, part(p, g.offsets[tp{n, p}], true))
			}
			out = append(out, rt)
		}
		return out, nil
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			var o offset
			ok := false
			if g != nil {
				o, ok = g.offsets[tp{t.Topic, p}]
			}
			rt.Partitions = append(rt.Partitions, part(p, o, ok))
		}
		out = append(out, rt)
	}
	return out, nil
}

// DeleteOffsets handles OffsetDelete for topics the broker has authorized:
// offsets of an Empty group go; a consumer group that is not empty keeps
// the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); any
// other non-empty group is NON_EMPTY_GROUP. respond is called once, after
// the tombstones are in the log or at once on an error, never under the
// coordinator's mutex.
func (c *Coordinator) DeleteOffsets(groupID string, topics []kmsg.OffsetDeleteRequestTopic, respond func(*kerr.Error, []kmsg.OffsetDeleteResponseTopic)) {
	c.mu.Lock()
	defer c.unlock()
	fail := func(err *kerr.Error) { c.later(func() { respond(err, nil) }) }
	if c.closed {
		fail(kerr.NotCoordinator)
		return
	}
	g := c.groups[groupID]
	if g == nil || g.state == Dead {
		fail(kerr.GroupIDNotFound)
		return
	}
	var subscribed map[string]bool
	if g.cg != nil && len(g.cg.members) > 0 {
		subscribed = map[string]bool{}
		for _, t := range g.cg.subscribed(c.topicSnapshot()) {
			subscribed[t] = true
		}
	} else if g.state != Empty {
		if g.protocolType != "consumer" {
			fail(kerr.NonEmptyGroup)
			return
		}
		subscribed = g.subscribedTopics()
	}
	errs := map[tp]*kerr.Error{}
	var recs []Record
	var gone []tp
	pending := c.pendingPartitionsLocked(groupID)
	for _, t := range topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p.Partition}
			if subscribed[t.Topic] {
				errs[k] = kerr.GroupSubscribedToTopic
				continue
			}
			_, committed := g.offsets[k]
			if committed || slices.Contains(pending, k) {
				recs = append(recs, Record{Key: offsetKey(groupID, k.topic, k.partition)})
				gone = append(gone, k)
			}
		}
	}
	c.write(g, recs, -1, -1, func(err error) {
		if err != nil {
			fail(storeError(err))
			return
		}
		for _, k := range gone {
			delete(g.offsets, k)
			c.dropPendingLocked(groupID, k)
		}
		var out []kmsg.OffsetDeleteResponseTopic
		for _, t := range topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code(errs[tp{t.Topic, p.Partition}])
				rt.Partitions = append(rt.Partitions, rp)
			}
			out = append(out, rt)
		}
		c.later(func() { respond(nil, out) })
	})
}

// expireOffsets is Kafka's offset retention pass: offsets of an Empty
// group expire once it has been empty for the retention period; those of
// a group without protocol (simple consumers) and those of topics a Stable
// consumer group no longer subscribes to, a retention period after their
// commit; a commit with an explicit retention expires at its own time. An
// Empty group left without offsets is deleted.
func (c *Coordinator) expireOffsets(now time.Time) {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := c.groups[id]
		if len(g.writes) > 0 {
			continue // a write is out: expire on a later pass, after it
		}
		var base func(o offset) time.Time
		var subscribed map[string]bool
		switch {
		case g.cg != nil && len(g.cg.members) > 0:
			// KIP-848: offsets of topics no member subscribes to
			// expire in any state.
			subscribed = map[string]bool{}
			for _, t := range g.cg.subscribed(c.topicSnapshot()) {
				subscribed[t] = true
			}
			base = func(o offset) time.Time { return o.commitTime }
		case g.protocolType == "":
			if g.state != Empty {
				continue
			}
			base = func(o offset) time.Time { return o.commitTime }
		case g.state == Empty:
			base = func(offset) time.Time { return g.stateSince }
		case g.protocolType == "consumer" && g.state == Stable:
			subscribed = g.subscribedTopics()
			base = func(o offset) time.Time { return o.commitTime }
		default:
			continue
		}
		var recs []Record
		var gone []tp
		keys := make([]tp, 0, len(g.offsets))
		for k := range g.offsets {
			keys = append(keys, k)
		}
		sortTPs(keys) // deterministic record order
		for _, k := range keys {
			o := g.offsets[k]
			if subscribed[k.topic] {
				continue
			}
			expired := !now.Before(base(o).Add(c.cfg.OffsetsRetention))
			if !o.expireTime.IsZero() {
				expired = !now.Before(o.expireTime)
			}
			if expired {
				recs = append(recs, Record{Key: offsetKey(g.id, k.topic, k.partition)})
				gone = append(gone, k)
			}
		}
		dead := g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == len(gone) && (g.cg == nil || len(g.cg.members) == 0) &&
			len(c.pendingPartitionsLocked(g.id)) == 0
		if dead {
			recs = append(recs, Record{Key: groupKey(g.id)})
		}
		if len(recs) == 0 {
			continue
		}
		if dead {
			g.state = Dead // no request joins it while the tombstones are written
		}
		c.write(g, recs, -1, -1, func(err error) {
			if err != nil {
				if dead {
					g.state = Empty
				}
				return
			}
			for _, k := range gone {
				delete(g.offsets, k)
			}
			if dead && c.groups[g.id] == g {
				delete(c.groups, g.id)
				c.cfg.Logger.Info("group expired", "group", g.id)
			}
		})
	}
}

// sortTPs sorts partitions by topic, then partition.
func sortTPs(keys []tp) {
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].topic < keys[j].topic || keys[i].topic == keys[j].topic && keys[i].partition < keys[j].partition
	})
}
