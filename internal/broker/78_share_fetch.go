package broker

// ShareFetch: v1-2 (KIP-932; v0 was Kafka 4.0's early access; v2 adds
// ShareAcquireMode and IsRenewAck, KIP-1206/KIP-1222)
//
// Behaviour:
// * READ on the group (GROUP_AUTHORIZATION_FAILED, top level) and on each
//   topic (TOPIC_AUTHORIZATION_FAILED per partition); UNKNOWN_TOPIC_ID,
//   UNKNOWN_TOPIC_OR_PARTITION (such partitions are not kept in the share
//   session, so a session holds only partitions that exist). Group and
//   member id must be set (member id
//   at most 36 characters), else INVALID_REQUEST. A group id used by a
//   classic or consumer group is GROUP_ID_NOT_FOUND.
// * Share sessions keyed by group and member: epoch 0 opens one with the
//   request's partitions (replacing any), a later epoch must be the
//   session's next one (INVALID_SHARE_SESSION_EPOCH; SHARE_SESSION_NOT_FOUND
//   without a session) and adds its partitions and drops
//   ForgottenTopicsData, -1 closes it: its acknowledgements are applied
//   and every record the member acquired in the group is released. Acks on
//   epoch 0 are INVALID_SHARE_SESSION_EPOCH, as in Kafka.
// * Piggybacked acknowledgements are applied first, per partition all or
//   nothing (internal/share: INVALID_REQUEST for overlapping or malformed
//   batches, INVALID_RECORD_STATE for offsets not acquired by this member,
//   in AcknowledgeErrorCode), and are in __share_group_state before the
//   response is written.
// * Then up to MaxRecords (default 500) records are acquired across the
//   session's partitions (rotating the starting partition), available
//   ones first, new ones up to the high watermark (the last stable offset
//   when the group's share.isolation.level is read_committed), locked for
//   share.record.lock.duration.ms; a new share-partition starts at
//   share.auto.offset.reset (latest, earliest, by_duration:<ISO-8601>).
//   The response carries AcquiredRecords ranges and the whole log batches
//   covering them (clients keep the acquired records and acknowledge
//   absent offsets as gaps). At read_committed, batches of aborted
//   transactions are left out (the client acknowledges them as gaps, which
//   archives them).
// * Long poll: with nothing acquired the request waits up to MaxWaitMillis
//   for appends to its partitions or released records.
// * v2 IsRenewAck: acknowledgements only (renew extends locks); fetch
//   parameters must be zero and every partition must carry batches, else
//   INVALID_REQUEST.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/share"
)

func init() { register(78, 1, 2, handleShareFetch) }

// maxShareSessions is group.share.max.share.sessions' default.
const maxShareSessions = 2000

func handleShareFetch(b *Broker, r *request, req *kmsg.ShareFetchRequest) kmsg.Response {
	defer b.shareDeadline() // a session or lock deadline this request made, to the ticker (tick.go)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	fail := func(err *kerr.Error) kmsg.Response {
		resp.ErrorCode = err.Code
		return resp
	}
	if req.GroupID == nil || *req.GroupID == "" || req.MemberID == nil || *req.MemberID == "" || len(*req.MemberID) > 36 {
		return fail(kerr.InvalidRequest)
	}
	groupID, member := *req.GroupID, *req.MemberID
	renew := req.Version >= 2 && req.IsRenewAck
	if renew {
		if req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0 {
			return fail(kerr.InvalidRequest)
		}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				if len(p.AcknowledgementBatches) == 0 {
					return fail(kerr.InvalidRequest)
				}
			}
		}
	}
	if !r.allowed(auth.OpRead, auth.Group(groupID)) {
		return fail(kerr.GroupAuthorizationFailed)
	}
	if b.isConsumerGroup(groupID) {
		return fail(kerr.GroupIDNotFound)
	}
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.c.LockDuration(groupID).Milliseconds())

	// Acknowledgements in the request, by partition.
	acks := map[shareTP][]share.AckBatch{}
	var reqParts []shareTP
	var unknown []shareTP // answered UNKNOWN_TOPIC_ID / UNKNOWN_TOPIC_OR_PARTITION, not kept in the session
	for _, t := range req.Topics {
		tpc := b.topicByID(t.TopicID)
		for _, p := range t.Partitions {
			tp := shareTP{t.TopicID, p.Partition}
			if tpc == nil || p.Partition < 0 || int(p.Partition) >= len(tpc.partitions) {
				unknown = append(unknown, tp)
				continue
			}
			reqParts = append(reqParts, tp)
			for _, ab := range p.AcknowledgementBatches {
				acks[tp] = append(acks[tp], share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
			}
		}
	}

	// The share session.
	sk := shareSessKey{groupID, member}
	s := b.shares
	s.smu.Lock()
	sess := s.sessions[sk]
	switch {
	case req.ShareSessionEpoch == 0:
		if len(acks) > 0 {
			s.smu.Unlock()
			return fail(kerr.InvalidShareSessionEpoch)
		}
		if sess == nil && len(s.sessions) >= maxShareSessions {
			s.smu.Unlock()
			return fail(kerr.ShareSessionLimitReached)
		}
		sess = &shareSession{parts: map[shareTP]bool{}}
		s.sessions[sk] = sess
	case sess == nil:
		s.smu.Unlock()
		return fail(kerr.ShareSessionNotFound)
	case req.ShareSessionEpoch == -1:
		delete(s.sessions, sk)
	case req.ShareSessionEpoch != sess.epoch:
		s.smu.Unlock()
		return fail(kerr.InvalidShareSessionEpoch)
	}
	if req.ShareSessionEpoch != -1 {
		for _, tp := range reqParts {
			if _, ok := sess.parts[tp]; !ok {
				sess.parts[tp] = true
			}
		}
		for _, f := range req.ForgottenTopicsData {
			for _, p := range f.Partitions {
				delete(sess.parts, shareTP{f.TopicID, p})
			}
		}
		sess.epoch = nextShareEpoch(req.ShareSessionEpoch)
		sess.used = b.cfg.Now()
	}
	var fetchParts []shareTP
	for tp := range sess.parts {
		fetchParts = append(fetchParts, tp)
	}
	rotate := int(sess.epoch) // where acquisition starts, for fairness
	s.smu.Unlock()
	sortShareTPs(fetchParts)

	out := newShareFetchOut(resp)
	for _, tp := range unknown {
		if b.topicByID(tp.topic) == nil {
			out.part(tp).ErrorCode = kerr.UnknownTopicID.Code
		} else {
			out.part(tp).ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
	}
	b.applyShareAcks(r, groupID, member, acks, renew, func(tp shareTP, err error) {
		rp := out.part(tp)
		rp.AcknowledgeErrorCode = code(err)
	})
	if req.ShareSessionEpoch == -1 {
		s.c.ReleaseMember(groupID, member)
		b.persistShareDirty()
		return resp
	}
	if renew {
		return resp
	}

	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	var deadline time.Time
	for {
		changed := s.c.Changed()
		wake := make(chan struct{}, 1)
		var waitOn []*partition
		got := b.acquireShare(r, groupID, member, fetchParts, maxRecords, int(req.MaxBytes), out, rotate, func(p *partition) {
			p.addWaiter(wake)
			waitOn = append(waitOn, p)
		})
		b.persistShareDirty() // share-partitions initialized by this fetch
		if got || len(waitOn) == 0 || req.MaxWaitMillis <= 0 {
			for _, p := range waitOn {
				p.removeWaiter(wake)
			}
			break
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		}
		left := time.Until(deadline)
		if left <= 0 {
			for _, p := range waitOn {
				p.removeWaiter(wake)
			}
			break
		}
		t := time.NewTimer(left)
		timedOut := false
		select {
		case <-wake:
		case <-changed:
		case <-t.C:
			timedOut = true
		case <-b.done:
			timedOut = true
		}
		t.Stop()
		for _, p := range waitOn {
			p.removeWaiter(wake)
		}
		if timedOut {
			break
		}
	}
	// Partitions new to the session appear once even when empty.
	s.smu.Lock()
	for tp, fresh := range sess.parts {
		if fresh {
			out.part(tp)
			sess.parts[tp] = false
		}
	}
	s.smu.Unlock()
	return resp
}

func nextShareEpoch(e int32) int32 {
	if e >= 1<<31-1 {
		return 1
	}
	return e + 1
}

func sortShareTPs(tps []shareTP) {
	for i := 1; i < len(tps); i++ {
		for j := i; j > 0 && shareTPLess(tps[j], tps[j-1]); j-- {
			tps[j], tps[j-1] = tps[j-1], tps[j]
		}
	}
}

func shareTPLess(a, b shareTP) bool {
	if a.topic != b.topic {
		for i := range a.topic {
			if a.topic[i] != b.topic[i] {
				return a.topic[i] < b.topic[i]
			}
		}
	}
	return a.part < b.part
}

// shareFetchOut builds the response's topics and partitions.
type shareFetchOut struct {
	resp   *kmsg.ShareFetchResponse
	topics map[[16]byte]int
}

func newShareFetchOut(resp *kmsg.ShareFetchResponse) *shareFetchOut {
	return &shareFetchOut{resp: resp, topics: map[[16]byte]int{}}
}

func (o *shareFetchOut) part(tp shareTP) *kmsg.ShareFetchResponseTopicPartition {
	i, ok := o.topics[tp.topic]
	if !ok {
		i = len(o.resp.Topics)
		o.topics[tp.topic] = i
		t := kmsg.NewShareFetchResponseTopic()
		t.TopicID = tp.topic
		o.resp.Topics = append(o.resp.Topics, t)
	}
	t := &o.resp.Topics[i]
	for j := range t.Partitions {
		if t.Partitions[j].Partition == tp.part {
			return &t.Partitions[j]
		}
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = tp.part
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
	t.Partitions = append(t.Partitions, p)
	return &t.Partitions[len(t.Partitions)-1]
}

// applyShareAcks applies a request's acknowledgements partition by
// partition and persists them before returning; report gets each
// partition's outcome (nil: applied and durable).
func (b *Broker) applyShareAcks(r *request, groupID, member string, acks map[shareTP][]share.AckBatch, renew bool, report func(shareTP, error)) {
	tps := make([]shareTP, 0, len(acks))
	for tp := range acks {
		tps = append(tps, tp)
	}
	sortShareTPs(tps)
	for _, tp := range tps {
		t := b.topicByID(tp.topic)
		switch {
		case t == nil:
			report(tp, kerr.UnknownTopicID)
			continue
		case !r.allowed(auth.OpRead, auth.Topic(t.meta.Name)):
			report(tp, kerr.TopicAuthorizationFailed)
			continue
		case tp.part < 0 || int(tp.part) >= len(t.partitions):
			report(tp, kerr.UnknownTopicOrPartition)
			continue
		}
		k := share.Key{Group: groupID, TP: share.TP{Topic: tp.topic, Partition: tp.part}}
		seq, kerrv := b.shares.c.Acknowledge(k, member, acks[tp], renew)
		if kerrv != nil {
			b.logger.Debug("share acknowledgement refused", "group", groupID, "member", member, "topic", t.meta.Name, "partition", tp.part, "err", kerrv.Message)
			report(tp, kerrv)
			continue
		}
		if seq != 0 {
			if err := b.persistShare(k, seq); err != nil {
				report(tp, storeShareError(err))
				continue
			}
		}
		report(tp, nil)
	}
}

func storeShareError(err error) *kerr.Error {
	if ke, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range ke.Unwrap() {
			if k, ok := e.(*kerr.Error); ok {
				return k
			}
		}
	}
	return kerr.CoordinatorNotAvailable
}

// acquireShare acquires records across the session's partitions into out
// and reports whether any were; wait registers a partition to wake on.
func (b *Broker) acquireShare(r *request, groupID, member string, parts []shareTP, maxRecords, maxBytes int, out *shareFetchOut, rotate int, wait func(*partition)) bool {
	readCommitted := b.shareGroupValue(groupID, "share.isolation.level") == "read_committed"
	got := false
	n := len(parts)
	start := 0
	if n > 0 {
		start = rotate % n
	}
	if maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	for i := range n {
		tp := parts[(start+i)%n]
		t := b.topicByID(tp.topic)
		if t == nil {
			out.part(tp).ErrorCode = kerr.UnknownTopicID.Code
			continue
		}
		if !r.allowed(auth.OpRead, auth.Topic(t.meta.Name)) {
			out.part(tp).ErrorCode = kerr.TopicAuthorizationFailed.Code
			continue
		}
		if tp.part < 0 || int(tp.part) >= len(t.partitions) {
			out.part(tp).ErrorCode = kerr.UnknownTopicOrPartition.Code
			continue
		}
		p := t.partitions[tp.part]
		wait(p)
		if maxRecords <= 0 || maxBytes <= 0 {
			continue
		}
		end := p.log.HighWatermark()
		if readCommitted {
			end = p.log.LastStableOffset()
		}
		v := share.View{LogStart: p.log.LogStartOffset(), End: end, Init: b.shareInitOffset(groupID, p)}
		k := share.Key{Group: groupID, TP: share.TP{Topic: tp.topic, Partition: tp.part}}
		ranges := b.shares.c.Acquire(k, member, maxRecords, v)
		if len(ranges) == 0 {
			continue
		}
		recs, err := readShareBatches(p, ranges, readCommitted)
		if err != nil {
			b.logger.Warn("share fetch read failed", "topic", t.meta.Name, "partition", tp.part, "err", err)
		}
		rp := out.part(tp)
		rp.Records = recs
		for _, rg := range ranges {
			maxRecords -= int(rg.Last - rg.First + 1)
			rp.AcquiredRecords = append(rp.AcquiredRecords, kmsg.ShareFetchResponseTopicPartitionAcquiredRecord{FirstOffset: rg.First, LastOffset: rg.Last, DeliveryCount: rg.DeliveryCount})
		}
		maxBytes -= len(recs)
		got = true
	}
	return got
}

// readShareBatches reads the whole batches that hold the acquired
// offsets, each once, in offset order. At read_committed, batches of
// aborted transactions are left out.
func readShareBatches(p *partition, ranges []share.Range, readCommitted bool) ([]byte, error) {
	var out []byte
	next := int64(-1) // first offset not yet covered by a returned batch
	var aborted []log.AbortedTxn
	if readCommitted {
		aborted = p.log.AbortedTxns(ranges[0].First, ranges[len(ranges)-1].Last)
	}
	for _, rg := range ranges {
		off := max(rg.First, next)
		for off <= rg.Last {
			res, err := p.log.Read(off, 1<<20, true)
			if err != nil {
				return out, err
			}
			buf, err := res.AppendTo(nil)
			if err != nil || len(buf) == 0 {
				return out, err
			}
			for len(buf) >= log.BatchHeaderLen {
				h, err := log.ParseBatchHeader(buf)
				if err != nil || h.Size() > len(buf) {
					return out, err
				}
				batch := buf[:h.Size()]
				buf = buf[h.Size():]
				if h.LastOffset() < off {
					continue
				}
				if h.BaseOffset > rg.Last {
					off = rg.Last + 1
					break
				}
				if !(readCommitted && h.Transactional() && inAborted(aborted, h)) {
					out = append(out, batch...)
				}
				off = h.LastOffset() + 1
				next = off
			}
		}
	}
	return out, nil
}

func inAborted(aborted []log.AbortedTxn, h log.BatchHeader) bool {
	for _, a := range aborted {
		if a.ProducerID == h.ProducerID && h.BaseOffset >= a.FirstOffset && h.BaseOffset <= a.LastOffset {
			return true
		}
	}
	return false
}
