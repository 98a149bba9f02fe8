package broker

// Metadata: v0-13
//
// Behaviour:
// * One broker (this node), which is also the controller and the leader of
//   every partition (leader epoch 0, replicas = ISR = [node]).
// * Topic IDs (v10+), cluster id (v2+), internal flag (v1+).
// * Null topics (v1+) or an empty list (v0) lists every topic the
//   principal may describe.
// * Unknown requested topics are created when auto.create.topics.enable is
//   true and the request allows it (always before v4), with num.partitions
//   and the broker's default configs; the created topic is returned at
//   once. Otherwise UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for IDs).
// * Authorized operations (v8+) are reported when asked for.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(3, 0, 13, handleMetadata) }

// noAuthorizedOps is Kafka's "not requested" value for authorized ops.
const noAuthorizedOps = -2147483648

func handleMetadata(b *Broker, r *request, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID, broker.Host, broker.Port = b.cfg.NodeID, r.c.l.advertise.host, r.c.l.advertise.port
	resp.Brokers = append(resp.Brokers, broker)
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.cfg.NodeID
	resp.AuthorizedOperations = noAuthorizedOps
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = authorizedOps(r, auth.Cluster(), clusterOps)
	}

	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		ts := b.sortedTopics()
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(ts))
		for _, t := range ts {
			if !r.allowed(auth.OpDescribe, auth.Topic(t.meta.Name)) {
				continue
			}
			resp.Topics = append(resp.Topics, metadataTopic(r, t, req.IncludeTopicAuthorizedOperations))
		}
		return resp
	}

	autoCreate := r.version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var t *topic
		if rt.Topic == nil || *rt.Topic == "" {
			t = b.topicByID(rt.TopicID)
			if t == nil {
				resp.Topics = append(resp.Topics, errorTopic(rt, kerr.UnknownTopicID))
				continue
			}
		} else {
			t = b.topic(*rt.Topic)
		}
		if t == nil {
			name := *rt.Topic
			if !r.allowed(auth.OpDescribe, auth.Topic(name)) {
				resp.Topics = append(resp.Topics, errorTopic(rt, kerr.TopicAuthorizationFailed))
				continue
			}
			var err error
			t, err = b.autoCreate(r, name, autoCreate)
			if err != nil {
				resp.Topics = append(resp.Topics, errorTopic(rt, err))
				continue
			}
		}
		if !r.allowed(auth.OpDescribe, auth.Topic(t.meta.Name)) {
			resp.Topics = append(resp.Topics, errorTopic(rt, kerr.TopicAuthorizationFailed))
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(r, t, req.IncludeTopicAuthorizedOperations))
	}
	return resp
}

// autoCreate creates a topic a client asked for by name, as Kafka does with
// auto.create.topics.enable; the error is a wire error.
func (b *Broker) autoCreate(r *request, name string, allowedByRequest bool) (*topic, error) {
	if !allowedByRequest || !b.brokerBool("auto.create.topics.enable") {
		return nil, kerr.UnknownTopicOrPartition
	}
	if err := meta.ValidateTopicName(name); err != nil {
		return nil, kerr.InvalidTopicException
	}
	if !r.allowed(auth.OpCreate, auth.Cluster()) && !r.allowed(auth.OpCreate, auth.Topic(name)) {
		return nil, kerr.TopicAuthorizationFailed
	}
	n := int32(b.brokerInt("num.partitions"))
	t, err := b.createTopic(meta.Topic{Name: name, Partitions: n, Configs: map[string]string{}})
	switch {
	case errors.Is(err, meta.ErrTopicExists):
		if t = b.topic(name); t != nil {
			return t, nil
		}
		return nil, kerr.LeaderNotAvailable
	case err != nil:
		b.logger.Error("auto-creating topic failed", "topic", name, "err", err)
		return nil, kerr.KafkaStorageError
	}
	b.logger.Info("auto-created topic", "topic", name, "partitions", n, "client_id", r.clientID)
	return t, nil
}

func errorTopic(rt kmsg.MetadataRequestTopic, err error) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = rt.Topic
	t.TopicID = rt.TopicID
	t.ErrorCode = code(err)
	t.AuthorizedOperations = noAuthorizedOps
	return t
}

func metadataTopic(r *request, t *topic, includeOps bool) kmsg.MetadataResponseTopic {
	node := r.c.b.cfg.NodeID
	mt := kmsg.NewMetadataResponseTopic()
	name := t.meta.Name
	mt.Topic = &name
	mt.TopicID = t.meta.ID
	mt.IsInternal = t.meta.Internal
	mt.AuthorizedOperations = noAuthorizedOps
	if includeOps {
		mt.AuthorizedOperations = authorizedOps(r, auth.Topic(name), topicOps)
	}
	// Every partition has the same replica set: one slice, shared by all
	// (the response is only encoded, never changed), not two allocations
	// per partition, which at 100,000 partitions were most of the cost.
	replicas := []int32{node}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.partitions))
	for i := range mt.Partitions {
		p := &mt.Partitions[i]
		p.Default()
		p.Partition = int32(i)
		p.Leader = node
		p.LeaderEpoch = 0
		p.Replicas = replicas
		p.ISR = replicas
		p.OfflineReplicas = replicas[:0]
	}
	return mt
}

var (
	clusterOps = []auth.Operation{auth.OpCreate, auth.OpAlter, auth.OpDescribe, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs, auth.OpIdempotentWrite}
	topicOps   = []auth.Operation{auth.OpRead, auth.OpWrite, auth.OpCreate, auth.OpDelete, auth.OpAlter, auth.OpDescribe, auth.OpDescribeConfigs, auth.OpAlterConfigs}
)

// authorizedOps is the bit field of operations the principal may perform.
func authorizedOps(r *request, res auth.Resource, ops []auth.Operation) int32 {
	var bits int32
	for _, op := range ops {
		if r.allowed(op, res) {
			bits |= 1 << op
		}
	}
	return bits
}
