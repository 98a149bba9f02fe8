package broker

// Authorization of cluster mode's own handlers (clustermeta.go,
// clusterdata.go, clusterlife.go), which do not ask the authorizer
// themselves: each is wrapped, at package initialization, by a check that
// answers the topics the principal may not use as the single-node
// handler does, and hands the rest to the handler:
//
// * Produce: WRITE on the topic, else TOPIC_AUTHORIZATION_FAILED for its
//   partitions; with a transactional id WRITE on it, else every
//   partition is TRANSACTIONAL_ID_AUTHORIZATION_FAILED (acks=0: dropped
//   unanswered).
// * Fetch: READ on the topic, else TOPIC_AUTHORIZATION_FAILED; a fetch
//   with a refused topic does not wait (Kafka answers errors at once).
// * ListOffsets, OffsetForLeaderEpoch: DESCRIBE on the topic.
// * DeleteRecords, DeleteTopics: DELETE on the topic (DeleteTopics by id:
//   the topic the id names).
// * CreateTopics: CREATE on the cluster or the topic ("Authorization
//   failed.").
// * CreatePartitions: ALTER on the topic ("Authorization failed.").
// * Metadata: DESCRIBE on the topic: a listing of all topics leaves the
//   others out, a named topic is TOPIC_AUTHORIZATION_FAILED; the cluster's
//   and topics' authorized operations when asked (v8+), as DescribeCluster.
//
// The refused topics' results follow the handler's in the response
// (clients match results by name). With the allow-all authorizer the
// handlers run as they are. The other APIs cluster mode serves are the
// single-node handlers, or ask the authorizer themselves (InitProducerId,
// FindCoordinator).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

type clusterFn = func(*Broker, *request, kmsg.Request) kmsg.Response

// clusterAuthz wraps the handler of each key.
var clusterAuthz = map[int16]func(clusterFn) clusterFn{
	0:  authzProduce,
	1:  authzFetch,
	2:  authzListOffsets,
	3:  authzMetadata,
	19: authzCreateTopics,
	20: authzDeleteTopics,
	21: authzDeleteRecords,
	23: authzOffsetForLeaderEpoch,
	37: authzCreatePartitions,
	60: authzDescribeCluster,
}

func init() {
	for key, wrap := range clusterAuthz {
		if fn := clusterAPIs[key]; fn != nil {
			clusterAPIs[key] = wrap(fn)
		}
	}
}

// authzOff: the allow-all authorizer, nothing to check.
func authzOff(b *Broker) bool {
	_, ok := b.cfg.Authorizer.(auth.AllowAll)
	return ok
}

// splitTopics returns the indexes of ts whose topic r may do op on, and
// the others.
func splitTopics[T any](r *request, op auth.Operation, ts []T, name func(T) string) (ok, refused []int) {
	for i, t := range ts {
		if r.allowed(op, auth.Topic(name(t))) {
			ok = append(ok, i)
		} else {
			refused = append(refused, i)
		}
	}
	return ok, refused
}

func pick[T any](ts []T, idx []int) []T {
	out := make([]T, 0, len(idx))
	for _, i := range idx {
		out = append(out, ts[i])
	}
	return out
}

var authorizationFailed = "Authorization failed."

func authzProduce(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.ProduceRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpWrite, req.Topics, func(t kmsg.ProduceRequestTopic) string { return t.Topic })
		refusal := kerr.TopicAuthorizationFailed
		if req.TransactionID != nil && !r.allowed(auth.OpWrite, auth.TransactionalID(*req.TransactionID)) {
			// A transactional produce needs WRITE on its id, as on a
			// single node: every partition is refused.
			ok, refused, refusal = nil, make([]int, len(req.Topics)), kerr.TransactionalIDAuthorizationFailed
			for i := range refused {
				refused[i] = i
			}
		}
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		if resp == nil {
			return nil // acks=0
		}
		pr, _ := resp.(*kmsg.ProduceResponse)
		if p, isPending := resp.(*pendingResponse); isPending {
			pr, _ = p.Response.(*kmsg.ProduceResponse)
		}
		if pr == nil {
			return resp
		}
		for _, i := range refused {
			rt := req.Topics[i]
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = rp.Partition, -1, -1, -1
				sp.ErrorCode = refusal.Code
				st.Partitions = append(st.Partitions, sp)
			}
			pr.Topics = append(pr.Topics, st)
		}
		return resp
	}
}

func authzFetch(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.FetchRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpRead, req.Topics, func(t kmsg.FetchRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		var fr *kmsg.FetchResponse
		var resp kmsg.Response
		if len(ok) == 0 {
			fr = req.ResponseKind().(*kmsg.FetchResponse)
			resp = fr
		} else {
			cp := *req
			cp.Topics, cp.MaxWaitMillis = pick(req.Topics, ok), 0
			resp = fn(b, r, &cp)
			if fr, _ = resp.(*kmsg.FetchResponse); fr == nil {
				return resp
			}
		}
		for _, i := range refused {
			rt := req.Topics[i]
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			fr.Topics = append(fr.Topics, st)
		}
		return resp
	}
}

func authzListOffsets(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.ListOffsetsRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpDescribe, req.Topics, func(t kmsg.ListOffsetsRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		lr, _ := resp.(*kmsg.ListOffsetsResponse)
		if lr == nil {
			return resp
		}
		for _, i := range refused {
			rt := req.Topics[i]
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			lr.Topics = append(lr.Topics, st)
		}
		return resp
	}
}

func authzOffsetForLeaderEpoch(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.OffsetForLeaderEpochRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpDescribe, req.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		or, _ := resp.(*kmsg.OffsetForLeaderEpochResponse)
		if or == nil {
			return resp
		}
		for _, i := range refused {
			rt := req.Topics[i]
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				sp.LeaderEpoch, sp.EndOffset = -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			or.Topics = append(or.Topics, st)
		}
		return resp
	}
}

func authzDeleteRecords(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.DeleteRecordsRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpDelete, req.Topics, func(t kmsg.DeleteRecordsRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		dr, _ := resp.(*kmsg.DeleteRecordsResponse)
		if dr == nil {
			return resp
		}
		for _, i := range refused {
			rt := req.Topics[i]
			st := kmsg.NewDeleteRecordsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewDeleteRecordsResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.LowWatermark = rp.Partition, kerr.TopicAuthorizationFailed.Code, -1
				st.Partitions = append(st.Partitions, sp)
			}
			dr.Topics = append(dr.Topics, st)
		}
		return resp
	}
}

func authzCreateTopics(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.CreateTopicsRequest)
		if authzOff(b) || r.allowed(auth.OpCreate, auth.Cluster()) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpCreate, req.Topics, func(t kmsg.CreateTopicsRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		cr, _ := resp.(*kmsg.CreateTopicsResponse)
		if cr == nil {
			return resp
		}
		for _, i := range refused {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.NumPartitions, st.ReplicationFactor = req.Topics[i].Topic, -1, -1
			failCreate(&st, kerr.TopicAuthorizationFailed, authorizationFailed)
			cr.Topics = append(cr.Topics, st)
		}
		return resp
	}
}

func authzCreatePartitions(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.CreatePartitionsRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		ok, refused := splitTopics(r, auth.OpAlter, req.Topics, func(t kmsg.CreatePartitionsRequestTopic) string { return t.Topic })
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		cp.Topics = pick(req.Topics, ok)
		resp := fn(b, r, &cp)
		cr, _ := resp.(*kmsg.CreatePartitionsResponse)
		if cr == nil {
			return resp
		}
		for _, i := range refused {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic, st.ErrorCode, st.ErrorMessage = req.Topics[i].Topic, kerr.TopicAuthorizationFailed.Code, &authorizationFailed
			cr.Topics = append(cr.Topics, st)
		}
		return resp
	}
}

func authzDeleteTopics(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.DeleteTopicsRequest)
		if authzOff(b) {
			return fn(b, r, req)
		}
		targets := deleteTargets(r, req) // 20_delete_topics.go
		var ok, refused []int
		for i, t := range targets {
			name := ""
			if t.name != nil && *t.name != "" {
				name = *t.name
			} else if ti, found := b.cl.topicByID(t.id); found {
				name = ti.Name
			}
			// An id that names no topic is the handler's to answer
			// (UNKNOWN_TOPIC_ID), as in Kafka.
			if name == "" || r.allowed(auth.OpDelete, auth.Topic(name)) {
				ok = append(ok, i)
			} else {
				refused = append(refused, i)
			}
		}
		if len(refused) == 0 {
			return fn(b, r, req)
		}
		cp := *req
		if r.version >= 6 {
			cp.Topics = pick(req.Topics, ok)
		} else {
			cp.TopicNames = pick(req.TopicNames, ok)
		}
		resp := fn(b, r, &cp)
		dr, _ := resp.(*kmsg.DeleteTopicsResponse)
		if dr == nil {
			return resp
		}
		for _, i := range refused {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID = targets[i].name, targets[i].id
			if st.Topic != nil && *st.Topic == "" {
				st.Topic = nil
			}
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			dr.Topics = append(dr.Topics, st)
		}
		return resp
	}
}

func authzMetadata(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.MetadataRequest)
		resp := fn(b, r, req)
		mr, _ := resp.(*kmsg.MetadataResponse)
		if authzOff(b) || mr == nil {
			return resp
		}
		mr.AuthorizedOperations = noAuthorizedOps
		if req.IncludeClusterAuthorizedOperations {
			mr.AuthorizedOperations = authorizedOps(r, auth.Cluster(), clusterOps)
		}
		byID := map[[16]byte]bool{}
		for _, rt := range req.Topics {
			if rt.Topic == nil {
				byID[rt.TopicID] = true
			}
		}
		kept := mr.Topics[:0]
		for _, mt := range mr.Topics {
			mt.AuthorizedOperations = noAuthorizedOps
			name := ""
			if mt.Topic != nil {
				name = *mt.Topic
			}
			switch {
			case name != "" && r.allowed(auth.OpDescribe, auth.Topic(name)):
				if req.IncludeTopicAuthorizedOperations && mt.ErrorCode == 0 {
					mt.AuthorizedOperations = authorizedOps(r, auth.Topic(name), topicOps)
				}
			case name == "":
				// An unknown id: nothing is revealed.
			case req.Topics == nil:
				continue // a listing leaves out what may not be described
			default:
				if byID[mt.TopicID] {
					mt.Topic = nil
				}
				mt.ErrorCode, mt.Partitions, mt.IsInternal = kerr.TopicAuthorizationFailed.Code, nil, false
			}
			kept = append(kept, mt)
		}
		mr.Topics = kept
		return resp
	}
}

func authzDescribeCluster(fn clusterFn) clusterFn {
	return func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		req := k.(*kmsg.DescribeClusterRequest)
		resp := fn(b, r, req)
		if dr, _ := resp.(*kmsg.DescribeClusterResponse); dr != nil && !authzOff(b) {
			dr.ClusterAuthorizedOperations = noAuthorizedOps
			if req.IncludeClusterAuthorizedOperations {
				dr.ClusterAuthorizedOperations = authorizedOps(r, auth.Cluster(), clusterOps)
			}
		}
		return resp
	}
}
