package broker

// CreateTopics: v2-7
//
// Behaviour:
// * NumPartitions -1 takes num.partitions, ReplicationFactor -1 takes
//   default.replication.factor (v4+). Zero or negative partition counts are
//   INVALID_PARTITIONS; a replication factor other than 1 is
//   INVALID_REPLICATION_FACTOR (one broker); a manual assignment must place
//   every partition on this broker only (INVALID_REPLICA_ASSIGNMENT).
// * Names are validated as Kafka does (INVALID_TOPIC_EXCEPTION), configs by
//   the meta package (INVALID_CONFIG), a topic named twice in one request
//   is INVALID_REQUEST, an existing one TOPIC_ALREADY_EXISTS.
// * ValidateOnly checks everything and creates nothing.
// * v5+ returns the partition count, replication factor and configs; v7+
//   the topic id.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(19, 2, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, r *request, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	clusterCreate := r.allowed(auth.OpCreate, auth.Cluster())
	// The valid topics are created together: one metadata write for the
	// request (createTopics).
	type valid struct {
		resp    int // index in resp.Topics
		configs map[string]string
		n       int32
	}
	var ok []valid
	var create []meta.Topic
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		n, err := b.validateNewTopic(rt, seen[rt.Topic] > 1, clusterCreate || r.allowed(auth.OpCreate, auth.Topic(rt.Topic)))
		if err != nil {
			var we *wireError
			if errors.As(err, &we) {
				failCreate(&st, we.code, we.msg)
			} else {
				failCreate(&st, kerr.UnknownServerError, err.Error())
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		ok = append(ok, valid{len(resp.Topics), configs, n})
		create = append(create, meta.Topic{Name: rt.Topic, Partitions: n, Configs: configs})
		resp.Topics = append(resp.Topics, st)
	}
	var created []*topic
	var errs []error
	if !req.ValidateOnly && len(create) > 0 {
		created, errs = b.createTopics(create)
	}
	for k, v := range ok {
		st := &resp.Topics[v.resp]
		var id [16]byte
		if !req.ValidateOnly {
			switch err := errs[k]; {
			case errors.Is(err, meta.ErrTopicExists):
				failCreate(st, kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", st.Topic))
				continue
			case err != nil:
				b.logger.Error("creating topic failed", "topic", st.Topic, "err", err)
				failCreate(st, kerr.KafkaStorageError, err.Error())
				continue
			}
			id = created[k].meta.ID
		}
		st.TopicID = id
		st.NumPartitions, st.ReplicationFactor = v.n, 1
		if r.version >= 5 {
			for _, e := range meta.ResolveTopic(v.configs, b.brokerConfigs()) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.ReadOnly, int8(e.Source), e.Sensitive
				if !e.IsNull && !e.Sensitive {
					val := e.Value
					c.Value = &val
				}
				st.Configs = append(st.Configs, c)
			}
		}
	}
	return resp
}

func failCreate(st *kmsg.CreateTopicsResponseTopic, e *kerr.Error, msg string) {
	st.ErrorCode = e.Code
	st.ErrorMessage = &msg
}

// wireError is a protocol error code with Kafka's message for it.
type wireError struct {
	code *kerr.Error
	msg  string
}

func (e *wireError) Error() string { return e.msg }

func wireErrf(code *kerr.Error, format string, args ...any) error {
	return &wireError{code: code, msg: fmt.Sprintf(format, args...)}
}

// validateNewTopic checks a CreateTopics entry and returns its partition
// count.
func (b *Broker) validateNewTopic(rt kmsg.CreateTopicsRequestTopic, duplicate, allowed bool) (int32, error) {
	if duplicate {
		return 0, wireErrf(kerr.InvalidRequest, "Create topics request from client contains multiple entries for topic '%s'.", rt.Topic)
	}
	if !allowed {
		return 0, wireErrf(kerr.TopicAuthorizationFailed, "Authorization failed.")
	}
	if err := meta.ValidateTopicName(rt.Topic); err != nil {
		return 0, wireErrf(kerr.InvalidTopicException, "%s", err.Error())
	}
	if b.topic(rt.Topic) != nil {
		return 0, wireErrf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
	}
	n := rt.NumPartitions
	rf := rt.ReplicationFactor
	if len(rt.ReplicaAssignment) > 0 {
		if n != -1 || rf != -1 {
			return 0, wireErrf(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		n = int32(len(rt.ReplicaAssignment))
		for i, a := range rt.ReplicaAssignment {
			if a.Partition != int32(i) {
				return 0, wireErrf(kerr.InvalidReplicaAssignment, "Partitions should be a consecutive 0-based integer sequence")
			}
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return 0, wireErrf(kerr.InvalidReplicaAssignment, "Replica assignment for partition %d must be exactly broker %d: this cluster has one broker", i, b.cfg.NodeID)
			}
		}
		rf = 1
	}
	if n == -1 {
		n = int32(b.brokerInt("num.partitions"))
	}
	if n <= 0 {
		return 0, wireErrf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if n > 1<<20 {
		return 0, wireErrf(kerr.InvalidPartitions, "Number of partitions %d is more than this broker serves (1048576).", n)
	}
	if rf == -1 {
		rf = int16(b.brokerInt("default.replication.factor"))
	}
	if rf <= 0 {
		return 0, wireErrf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if rf != 1 {
		return 0, wireErrf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only 1 broker(s) are registered.", rf, rf)
	}
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return 0, wireErrf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	if err := meta.ValidateTopicConfigs(configs); err != nil {
		return 0, wireErrf(kerr.InvalidConfig, "%s", err.Error())
	}
	return n, nil
}
