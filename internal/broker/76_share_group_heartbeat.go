package broker

// ShareGroupHeartbeat: v1 (KIP-932; v0 was Kafka 4.0's early access,
// removed in 4.1)
//
// Behaviour (internal/share):
// * READ on the group (GROUP_AUTHORIZATION_FAILED); DESCRIBE on each
//   subscribed topic (TOPIC_AUTHORIZATION_FAILED).
// * The member id is chosen by the client (INVALID_REQUEST when empty or
//   longer than 36 characters); epoch 0 joins (with subscribed topics,
//   else INVALID_REQUEST), -1 leaves (its acquired records are released),
//   any other epoch must be the member's (FENCED_MEMBER_EPOCH; unknown
//   members UNKNOWN_MEMBER_ID). GROUP_MAX_SIZE_REACHED past
//   group.share.max.size.
// * Server-side assignment by the simple assignor: every subscribed member
//   gets partitions, several members may share one. The assignment comes
//   with the heartbeat that moves the member to a new epoch and with every
//   full heartbeat (epoch 0 or subscribed topics set).
// * A group id used by a classic or consumer group is GROUP_ID_NOT_FOUND.
// * Members are expired after share.session.timeout.ms
//   (group.share.session.timeout.ms) without a heartbeat; membership is
//   not persisted.

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(76, 1, 1, handleShareGroupHeartbeat) }

func handleShareGroupHeartbeat(b *Broker, r *request, req *kmsg.ShareGroupHeartbeatRequest) kmsg.Response {
	defer b.shareDeadline() // a session or lock deadline this request made, to the ticker (tick.go)
	fail := func(err *kerr.Error) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode = err.Code
		return resp
	}
	if strings.TrimSpace(req.GroupID) == "" || req.MemberID == "" || len(req.MemberID) > 36 || req.MemberEpoch < -1 ||
		(req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0) {
		return fail(kerr.InvalidRequest)
	}
	if !r.allowed(auth.OpRead, auth.Group(req.GroupID)) {
		return fail(kerr.GroupAuthorizationFailed)
	}
	for _, t := range req.SubscribedTopicNames {
		if !r.allowed(auth.OpDescribe, auth.Topic(t)) {
			return fail(kerr.TopicAuthorizationFailed)
		}
	}
	if b.isConsumerGroup(req.GroupID) {
		return fail(kerr.GroupIDNotFound)
	}
	resp := b.shares.c.Heartbeat(req, r.clientID, r.clientHost())
	if req.MemberEpoch == -1 {
		b.closeShareSession(req.GroupID, req.MemberID)
	}
	b.persistShareDirty()
	return resp
}

// isConsumerGroup reports whether the group coordinator knows the id as a
// classic or consumer group: a group id has one type.
func (b *Broker) isConsumerGroup(id string) bool {
	if d, ok := b.groups.DescribeGroup(id); ok && d.State != "Dead" {
		return true
	}
	return b.groups.DescribeConsumerGroup(id).ErrorCode == 0
}

// closeShareSession forgets a member's share session.
func (b *Broker) closeShareSession(group, member string) {
	b.shares.smu.Lock()
	delete(b.shares.sessions, shareSessKey{group, member})
	b.shares.smu.Unlock()
}
