package broker

// ShareAcknowledge: v1-2 (KIP-932; v2 adds IsRenewAck, KIP-1222)
//
// Behaviour: READ on the group (GROUP_AUTHORIZATION_FAILED) and topics;
// group and member id required (INVALID_REQUEST). The share session must
// exist (SHARE_SESSION_NOT_FOUND) at the epoch given
// (INVALID_SHARE_SESSION_EPOCH; epoch 0 is INVALID_SHARE_SESSION_EPOCH: it
// cannot open a session); -1 closes it after applying the acknowledgements
// and releases every record the member still holds. Acknowledgements as in
// ShareFetch, per partition all or nothing (INVALID_REQUEST,
// INVALID_RECORD_STATE), in __share_group_state before the response.
// Renew (type 4) only with IsRenewAck.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/share"
)

func init() { register(79, 1, 2, handleShareAcknowledge) }

func handleShareAcknowledge(b *Broker, r *request, req *kmsg.ShareAcknowledgeRequest) kmsg.Response {
	defer b.shareDeadline() // a session or lock deadline this request made, to the ticker (tick.go)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	fail := func(err *kerr.Error) kmsg.Response {
		resp.ErrorCode = err.Code
		return resp
	}
	if req.GroupID == nil || *req.GroupID == "" || req.MemberID == nil || *req.MemberID == "" || len(*req.MemberID) > 36 {
		return fail(kerr.InvalidRequest)
	}
	groupID, member := *req.GroupID, *req.MemberID
	if !r.allowed(auth.OpRead, auth.Group(groupID)) {
		return fail(kerr.GroupAuthorizationFailed)
	}
	if b.isConsumerGroup(groupID) {
		return fail(kerr.GroupIDNotFound)
	}
	sk := shareSessKey{groupID, member}
	s := b.shares
	s.smu.Lock()
	sess := s.sessions[sk]
	switch {
	case req.ShareSessionEpoch == 0:
		s.smu.Unlock()
		return fail(kerr.InvalidShareSessionEpoch)
	case sess == nil:
		s.smu.Unlock()
		return fail(kerr.ShareSessionNotFound)
	case req.ShareSessionEpoch == -1:
		delete(s.sessions, sk)
	case req.ShareSessionEpoch != sess.epoch:
		s.smu.Unlock()
		return fail(kerr.InvalidShareSessionEpoch)
	default:
		sess.epoch = nextShareEpoch(sess.epoch)
		sess.used = b.cfg.Now()
	}
	s.smu.Unlock()

	acks := map[shareTP][]share.AckBatch{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := shareTP{t.TopicID, p.Partition}
			acks[tp] = acks[tp][:len(acks[tp]):len(acks[tp])]
			for _, ab := range p.AcknowledgementBatches {
				acks[tp] = append(acks[tp], share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
			}
		}
	}
	topics := map[[16]byte]int{}
	b.applyShareAcks(r, groupID, member, acks, req.Version >= 2 && req.IsRenewAck, func(tp shareTP, err error) {
		i, ok := topics[tp.topic]
		if !ok {
			i = len(resp.Topics)
			topics[tp.topic] = i
			t := kmsg.NewShareAcknowledgeResponseTopic()
			t.TopicID = tp.topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewShareAcknowledgeResponseTopicPartition()
		p.Partition = tp.part
		p.ErrorCode = code(err)
		p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	})
	if req.ShareSessionEpoch == -1 {
		s.c.ReleaseMember(groupID, member)
		b.persistShareDirty()
	}
	return resp
}
