package broker

// ConsumerGroupHeartbeat: v0-1 (KIP-848)
//
// Behaviour (the next-generation protocol, see internal/group/consumer.go):
// * READ on the group is required (GROUP_AUTHORIZATION_FAILED); as in
//   Kafka, a subscription naming a topic the member may not DESCRIBE is
//   TOPIC_AUTHORIZATION_FAILED (regular-expression subscriptions are not
//   filtered by ACLs yet).
// * Epoch 0 joins (v0: the coordinator names the member; v1: the client
//   does), -1 leaves, -2 is a static member's temporary leave; any other
//   epoch heartbeats, fenced with FENCED_MEMBER_EPOCH when it is not the
//   member's (or its previous epoch with a subset of its partitions),
//   UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID.
// * Subscriptions by topic names or by regular expression (v1; Go RE2
//   syntax, matched against whole topic names, INVALID_REGULAR_EXPRESSION).
// * Server-side assignors from group.consumer.assignors ("uniform", the
//   default, and "range"); any other is UNSUPPORTED_ASSIGNOR.
// * Reconciliation as KIP-848: partitions are revoked before they are given
//   to another member; a member not revoking within its rebalance timeout,
//   or silent for group.consumer.session.timeout.ms, is removed.
// * A classic group with members is GROUP_ID_NOT_FOUND (Kafka's "disabled"
//   group.consumer.migration.policy); an empty one becomes a consumer group.
// * Consumer-group membership is kept in memory only (no ConsumerGroup*
//   record schemas in kmsg); offsets are persisted as for classic groups.
//   In cluster mode, the members are lost when the coordinator moves.
// * Cluster mode: NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//   loading) when this broker does not coordinate the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(68, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(b *Broker, r *request, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	if !r.allowed(auth.OpRead, auth.Group(req.Group)) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	for _, topic := range req.SubscribedTopicNames {
		if !r.allowed(auth.OpDescribe, auth.Topic(topic)) {
			resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return resp
		}
	}
	coord, cerr := b.groupCoordinator(req.Group)
	if cerr != nil {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = cerr.Code
		return resp
	}
	return coord.ConsumerGroupHeartbeat(req, r.clientID, r.clientHost())
}
