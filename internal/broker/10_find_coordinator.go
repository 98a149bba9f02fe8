package broker

// FindCoordinator: v0-6
//
// Behaviour:
// * Key type 0 (group): this broker is the coordinator of every group
//   (node id, advertised host and port); DESCRIBE on the group is required
//   (GROUP_AUTHORIZATION_FAILED).
// * Key type 1 (transaction): this broker is the transaction coordinator
//   of every transactional id; DESCRIBE on the transactional id is
//   required (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
// * Key type 2 (share, v6; KIP-932): the key is "group:topicId:partition"
//   (parsed from the right, the topic id in Kafka's base64 form), else
//   INVALID_REQUEST; CLUSTER_ACTION on the cluster is required
//   (CLUSTER_AUTHORIZATION_FAILED), as share coordinators serve brokers.
//   This broker is the share coordinator of every share-partition.
// * Unknown types: INVALID_REQUEST.
// * v4+ batches keys (CoordinatorKeys) with an entry per key.

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(10, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, r *request, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		var err *kerr.Error
		switch req.CoordinatorType {
		case 0:
			if !r.allowed(auth.OpDescribe, auth.Group(key)) {
				err = kerr.GroupAuthorizationFailed
			}
		case 1:
			if !r.allowed(auth.OpDescribe, auth.Resource{Type: auth.ResourceTransactionalID, Name: key}) {
				err = kerr.TransactionalIDAuthorizationFailed
			}
		case 2:
			switch {
			case r.version < 6 || !validShareKey(key):
				err = kerr.InvalidRequest
			case !r.allowed(auth.OpClusterAction, auth.Cluster()):
				err = kerr.ClusterAuthorizationFailed
			}
		default:
			err = kerr.InvalidRequest
		}
		if err != nil {
			c.ErrorCode = err.Code
			msg := err.Message
			c.ErrorMessage = &msg
			return c
		}
		c.NodeID, c.Host, c.Port = b.cfg.NodeID, r.c.l.advertise.host, r.c.l.advertise.port
		return c
	}
	return answerCoordinators(r, req, resp, find)
}

// answerCoordinators fills resp with find's answer for each key: the
// batched Coordinators of v4+, or the one key's top-level fields before.
func answerCoordinators(r *request, req *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse,
	find func(key string) kmsg.FindCoordinatorResponseCoordinator) kmsg.Response {
	if r.version >= 4 {
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, find(k))
		}
		return resp
	}
	c := find(req.CoordinatorKey)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	return resp
}

// validShareKey checks a share coordinator key, "group:topicId:partition"
// parsed from the right (the group id may hold colons).
func validShareKey(key string) bool {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return false
	}
	if n, err := strconv.ParseInt(key[i+1:], 10, 32); err != nil || n < 0 {
		return false
	}
	rest := key[:i]
	j := strings.LastIndexByte(rest, ':')
	if j <= 0 {
		return false
	}
	id, err := base64.RawURLEncoding.DecodeString(rest[j+1:])
	return err == nil && len(id) == 16
}
