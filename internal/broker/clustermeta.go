package broker

// Cluster mode's metadata APIs and the one list of what cluster mode serves.
//
// Behaviour (cluster mode):
// * Metadata and DescribeCluster list the live brokers (etcd membership)
//   at their registered (advertised) addresses; the controller is the
//   lowest live node id; a partition's leader and epoch come from etcd's
//   leaders/ keys (LEADER_NOT_AVAILABLE, leader -1, while it has none).
//   Topics are not created by Metadata.
// * CreateTopics, DeleteTopics and CreatePartitions go to etcd (topics/);
//   the replication factor is validated against the live brokers, as
//   Kafka does (the data's durability is the object store's).
// * FindCoordinator names a group's coordinator: the leader of its
//   partition of __consumer_offsets (clustergroups.go), which serves the
//   group APIs; a transactional id's, the leader of its partition of
//   __transaction_state (clustertxns.go), which serves the transaction
//   APIs at transaction version 1; share keys answer
//   COORDINATOR_NOT_AVAILABLE, and the share-group APIs are not
//   advertised. The ACL, quota and SCRAM APIs are the single-node
//   handlers on stores shared through etcd (clustershared.go).
// * __consumer_offsets is listed as internal.
// * InitProducerId is clusterproducers.go.
// * The data path is clusterdata.go (Produce, Fetch, ListOffsets);
//   OffsetForLeaderEpoch is clusterdata.go too; DeleteRecords is
//   clusterlife.go.

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/meta"
)

// clusterVersions narrows the versions cluster mode serves of an API.
var clusterVersions = map[int16][2]int16{
	0: {3, 12}, // Produce: v2 batches, topics by name
	1: {4, 12}, // Fetch: v2 batches, topics by name
	2: {1, 8},  // ListOffsets
	// Transaction version 1 (clustertxns.go): AddPartitionsToTxn from
	// producers only, EndTxn and TxnOffsetCommit before KIP-890.
	24: {0, 3},
	26: {0, 4},
	28: {0, 4},
}

// clusterAPIs is every API cluster mode serves: a handler of its own, or
// nil for the single-node one (which must not touch local topics).
var clusterAPIs = map[int16]func(*Broker, *request, kmsg.Request) kmsg.Response{
	0: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterProduce(r, k.(*kmsg.ProduceRequest))
	},
	1: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterFetch(r, k.(*kmsg.FetchRequest))
	},
	2: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterListOffsets(r, k.(*kmsg.ListOffsetsRequest))
	},
	apiVersionsKey: nil,
	3: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterMetadata(r, k.(*kmsg.MetadataRequest))
	},
	10: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterFindCoordinator(r, k.(*kmsg.FindCoordinatorRequest))
	},
	// Groups (clustergroups.go): the single-node handlers, which ask
	// groupCoordinator for the group's coordinator on this broker.
	8:  nil, // OffsetCommit
	9:  nil, // OffsetFetch
	11: nil, // JoinGroup
	12: nil, // Heartbeat
	13: nil, // LeaveGroup
	14: nil, // SyncGroup
	15: nil, // DescribeGroups
	16: nil, // ListGroups
	42: nil, // DeleteGroups
	47: nil, // OffsetDelete
	24: nil, // AddPartitionsToTxn, AddOffsetsToTxn, EndTxn: at the
	25: nil, // transaction coordinator of the id (txnFor,
	26: nil, // clustertxns.go)
	61: nil, // DescribeProducers: led partitions (partitionProducers)
	65: nil, // DescribeTransactions: at the id's coordinator (txnFor)
	66: nil, // ListTransactions: this broker's coordinators (allTxns)
	27: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterWriteTxnMarkers(r, k.(*kmsg.WriteTxnMarkersRequest))
	},
	28: nil, // TxnOffsetCommit: at the group coordinator
	68: nil, // ConsumerGroupHeartbeat
	69: nil, // ConsumerGroupDescribe
	19: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterCreateTopics(r, k.(*kmsg.CreateTopicsRequest))
	},
	22: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterInitProducerID(r, k.(*kmsg.InitProducerIDRequest))
	},
	20: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterDeleteTopics(r, k.(*kmsg.DeleteTopicsRequest))
	},
	23: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterOffsetForLeaderEpoch(k.(*kmsg.OffsetForLeaderEpochRequest))
	},
	21: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterDeleteRecords(k.(*kmsg.DeleteRecordsRequest))
	},
	32: nil, // DescribeConfigs, AlterConfigs, IncrementalAlterConfigs:
	33: nil, // topic configs in etcd (configs.go, cluster.go)
	44: nil,
	37: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterCreatePartitions(r, k.(*kmsg.CreatePartitionsRequest))
	},
	60: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return b.clusterDescribeCluster(r, k.(*kmsg.DescribeClusterRequest))
	},
	// SASL, ACLs, client quotas and SCRAM users: the single-node
	// handlers, on the stores shared through etcd (clustershared.go).
	17: nil, // SaslHandshake
	36: nil, // SaslAuthenticate
	29: nil, // DescribeAcls
	30: nil, // CreateAcls
	31: nil, // DeleteAcls
	48: nil, // DescribeClientQuotas
	49: nil, // AlterClientQuotas
	50: nil, // DescribeUserScramCredentials
	51: nil, // AlterUserScramCredentials
}

// handler is the handler of an API key in this broker's mode.
func (b *Broker) handler(key int16) (handler, bool) {
	h, ok := handlers[key]
	if !ok || b.cl == nil {
		return h, ok
	}
	fn, ok := clusterAPIs[key]
	if !ok {
		return handler{}, false
	}
	if fn != nil {
		h.fn = fn
	}
	if v, ok := clusterVersions[key]; ok {
		h.min, h.max = v[0], v[1]
	}
	return h, true
}

// servedKeys lists the API keys this broker serves, in order.
func (b *Broker) servedKeys() []int16 {
	if b.cl == nil {
		return sortedKeys()
	}
	var out []int16
	for _, k := range sortedKeys() {
		if _, ok := clusterAPIs[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func (b *Broker) clusterMetadata(r *request, req *kmsg.MetadataRequest) kmsg.Response {
	n := b.cl
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	live := n.brokersWithSelf()
	resp.ControllerID = -1
	for _, br := range live {
		host, port, ok := br.Endpoint(r.c.l.Name)
		if !ok {
			continue // no listener of this name: left out, as Kafka does
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.NodeID, host, port
		if br.Rack != "" {
			mb.Rack = kmsg.StringPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, mb)
		if resp.ControllerID < 0 || br.NodeID < resp.ControllerID {
			resp.ControllerID = br.NodeID
		}
	}
	resp.ClusterID = kmsg.StringPtr(b.cfg.Cluster.ID)
	var want []cluster.TopicInfo
	var missing []kmsg.MetadataRequestTopic
	n.mu.Lock()
	if req.Topics == nil {
		for _, t := range n.topics {
			want = append(want, t)
		}
	} else {
		for _, rt := range req.Topics {
			var t cluster.TopicInfo
			var ok bool
			if rt.Topic != nil {
				t, ok = n.topics[*rt.Topic]
			} else {
				t, ok = n.byID[rt.TopicID]
			}
			if ok {
				want = append(want, t)
			} else {
				missing = append(missing, rt)
			}
		}
	}
	n.mu.Unlock()
	slices.SortFunc(want, func(a, c cluster.TopicInfo) int {
		if a.Name < c.Name {
			return -1
		}
		if a.Name > c.Name {
			return 1
		}
		return 0
	})
	for _, t := range want {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = kmsg.StringPtr(t.Name), t.ID
		mt.IsInternal = t.Name == group.TopicName
		for p := range t.Partitions {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = p
			if l, ok := n.leader(t.Partition(p)); ok {
				mp.Leader, mp.LeaderEpoch = l.NodeID, l.Epoch
				mp.Replicas, mp.ISR = []int32{l.NodeID}, []int32{l.NodeID}
			} else {
				mp.ErrorCode, mp.Leader, mp.LeaderEpoch = kerr.LeaderNotAvailable.Code, -1, -1
				mp.Replicas, mp.ISR = []int32{}, []int32{}
			}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	for _, rt := range missing {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (b *Broker) clusterDescribeCluster(r *request, req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterID = b.cfg.Cluster.ID
	resp.ControllerID = -1
	for _, br := range b.cl.brokersWithSelf() {
		host, port, ok := br.Endpoint(r.c.l.Name)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = br.NodeID, host, port
		if br.Rack != "" {
			rb.Rack = kmsg.StringPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, rb)
		if resp.ControllerID < 0 || br.NodeID < resp.ControllerID {
			resp.ControllerID = br.NodeID
		}
	}
	return resp
}

func (b *Broker) clusterCreateTopics(r *request, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout(req.TimeoutMillis))
	defer cancel()
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	live := len(b.cl.brokersWithSelf()) // as Metadata lists them: this broker serves
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.NumPartitions, st.ReplicationFactor = rt.Topic, -1, -1
		n, rf, configs, err := b.validateClusterTopic(rt, seen[rt.Topic] > 1, live)
		if err == nil && !req.ValidateOnly {
			t := cluster.TopicInfo{Name: rt.Topic, ID: newTopicID(), Partitions: n, ReplicationFactor: rf, Configs: configs}
			err = b.cl.client.CreateTopic(ctx, t)
			st.TopicID = t.ID
			if errors.Is(err, cluster.ErrTopicExists) {
				err = wireErrf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
			}
		}
		if err != nil {
			var we *wireError
			if errors.As(err, &we) {
				failCreate(&st, we.code, we.msg)
			} else {
				failCreate(&st, kerr.RequestTimedOut, err.Error())
			}
		} else {
			st.NumPartitions, st.ReplicationFactor = n, rf
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// validateClusterTopic checks a CreateTopics entry in cluster mode.
func (b *Broker) validateClusterTopic(rt kmsg.CreateTopicsRequestTopic, duplicate bool, live int) (int32, int16, map[string]string, error) {
	if duplicate {
		return 0, 0, nil, wireErrf(kerr.InvalidRequest, "Create topics request from client contains multiple entries for topic '%s'.", rt.Topic)
	}
	if err := meta.ValidateTopicName(rt.Topic); err != nil {
		return 0, 0, nil, wireErrf(kerr.InvalidTopicException, "%s", err.Error())
	}
	if len(rt.ReplicaAssignment) > 0 {
		return 0, 0, nil, wireErrf(kerr.InvalidReplicaAssignment, "cluster mode places partitions itself: manual replica assignments are not supported")
	}
	n, rf := rt.NumPartitions, rt.ReplicationFactor
	if n == -1 {
		n = int32(b.brokerInt("num.partitions"))
	}
	if n <= 0 || n > 1<<20 {
		return 0, 0, nil, wireErrf(kerr.InvalidPartitions, "Number of partitions was set to an invalid value %d.", n)
	}
	if rf == -1 {
		rf = int16(b.brokerInt("default.replication.factor"))
	}
	if rf <= 0 {
		return 0, 0, nil, wireErrf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if int(rf) > live {
		return 0, 0, nil, wireErrf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, live)
	}
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return 0, 0, nil, wireErrf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	if err := meta.ValidateTopicConfigs(configs); err != nil {
		return 0, 0, nil, wireErrf(kerr.InvalidConfig, "%s", err.Error())
	}
	return n, rf, configs, nil
}

func (b *Broker) clusterDeleteTopics(r *request, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout(req.TimeoutMillis))
	defer cancel()
	enabled := b.brokerBool("delete.topic.enable")
	for _, t := range deleteTargets(r, req) { // 20_delete_topics.go
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		name := ""
		if t.name != nil {
			name = *t.name
		}
		if name == "" {
			if ti, ok := b.cl.topicByID(t.id); ok {
				name = ti.Name
				st.Topic = kmsg.StringPtr(name)
			}
		}
		if name == "" {
			st.ErrorCode = kerr.UnknownTopicID.Code
		} else if !enabled {
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		} else if ti, err := b.cl.client.DeleteTopic(ctx, name); errors.Is(err, cluster.ErrUnknownTopic) {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		} else if err != nil {
			st.ErrorCode, st.ErrorMessage = kerr.RequestTimedOut.Code, errMessage(err)
		} else {
			st.TopicID = ti.ID
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) clusterCreatePartitions(r *request, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout(req.TimeoutMillis))
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		switch {
		case len(rt.Assignment) > 0:
			err = wireErrf(kerr.InvalidReplicaAssignment, "cluster mode places partitions itself: manual replica assignments are not supported")
		case req.ValidateOnly:
			var t cluster.TopicInfo
			if t, err = b.cl.client.Topic(ctx, rt.Topic); err == nil && rt.Count <= t.Partitions {
				err = wireErrf(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", t.Partitions, rt.Count)
			}
		default:
			_, err = b.cl.client.SetPartitions(ctx, rt.Topic, rt.Count, nil)
		}
		var we *wireError
		switch {
		case err == nil:
		case errors.As(err, &we):
			st.ErrorCode, st.ErrorMessage = we.code.Code, &we.msg
		case errors.Is(err, cluster.ErrUnknownTopic):
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case errors.Is(err, cluster.ErrInvalid):
			st.ErrorCode, st.ErrorMessage = kerr.InvalidPartitions.Code, errMessage(err)
		default:
			st.ErrorCode, st.ErrorMessage = kerr.RequestTimedOut.Code, errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// requestTimeout is a request's TimeoutMillis as the bound of its etcd
// calls (at least 1 s, 30 s when not positive).
func requestTimeout(ms int32) time.Duration {
	if ms <= 0 {
		return 30 * time.Second
	}
	return max(time.Duration(ms)*time.Millisecond, time.Second)
}

// newTopicID is a random topic id (Kafka's Uuid), never all zero.
func newTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		_, _ = rand.Read(id[:])
	}
	return id
}
