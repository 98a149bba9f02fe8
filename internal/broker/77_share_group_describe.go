package broker

// ShareGroupDescribe: v1 (KIP-932)
//
// Behaviour: DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED); an unknown
// group is GROUP_ID_NOT_FOUND. State Empty (no members) or Stable, the
// group and assignment epochs, the assignor "simple", and each member with
// its epoch, client id and host, rack, subscribed topics and assignment
// (topic ids and names). AuthorizedOperations when asked for.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/share"
)

func init() { register(77, 1, 1, handleShareGroupDescribe) }

func handleShareGroupDescribe(b *Broker, r *request, req *kmsg.ShareGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	for _, id := range req.GroupIDs {
		g := kmsg.NewShareGroupDescribeResponseGroup()
		g.GroupID = id
		g.AuthorizedOperations = noAuthorizedOps
		if !r.allowed(auth.OpDescribe, auth.Group(id)) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, ok := b.shares.c.Describe(id)
		if !ok {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			g.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.GroupState, g.GroupEpoch, g.AssignmentEpoch, g.Assignor = d.State, d.Epoch, d.AssignmentEpoch, "simple"
		for _, m := range d.Members {
			rm := kmsg.NewShareGroupDescribeResponseGroupMember()
			rm.MemberID, rm.RackID, rm.MemberEpoch, rm.ClientID, rm.ClientHost = m.ID, m.Rack, m.Epoch, m.ClientID, m.ClientHost
			rm.SubscribedTopicNames = m.Topics
			rm.Assignment.TopicPartitions = b.shareAssignment(m.Assigned)
			g.Members = append(g.Members, rm)
		}
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = authorizedOps(r, auth.Group(id), groupOps)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

func (b *Broker) shareAssignment(tps []share.TP) []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition {
	var out []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition
	for _, tp := range tps {
		if n := len(out); n > 0 && out[n-1].TopicID == tp.Topic {
			out[n-1].Partitions = append(out[n-1].Partitions, tp.Partition)
			continue
		}
		name := ""
		if t := b.topicByID(tp.Topic); t != nil {
			name = t.meta.Name
		}
		out = append(out, kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition{TopicID: tp.Topic, Topic: name, Partitions: []int32{tp.Partition}})
	}
	return out
}
