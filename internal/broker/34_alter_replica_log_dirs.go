package broker

// AlterReplicaLogDirs: v1-2
//
// Behaviour:
// * This broker has one log directory, the data directory, so no replica
//   ever moves: a partition asked into that directory (compared as an
//   absolute path, as Kafka does) is NONE, into any other directory
//   LOG_DIR_NOT_FOUND (checked first, as in Kafka), and a partition this
//   broker does not host REPLICA_NOT_AVAILABLE.
// * Needs ALTER on the cluster: otherwise every partition is
//   CLUSTER_AUTHORIZATION_FAILED.

import (
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(34, 1, 2, handleAlterReplicaLogDirs) }

func handleAlterReplicaLogDirs(b *Broker, r *request, req *kmsg.AlterReplicaLogDirsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	authorized := r.allowed(auth.OpAlter, auth.Cluster())
	dataDir, err := filepath.Abs(b.cfg.DataDir)
	if err != nil {
		dataDir = filepath.Clean(b.cfg.DataDir)
	}
	for _, d := range req.Dirs {
		dir, err := filepath.Abs(d.Dir)
		known := err == nil && d.Dir != "" && dir == dataDir
		for _, dt := range d.Topics {
			rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
			rt.Topic = dt.Topic
			t := b.topic(dt.Topic)
			for _, p := range dt.Partitions {
				rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
				rp.Partition = p
				switch {
				case !authorized:
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				case !known:
					rp.ErrorCode = kerr.LogDirNotFound.Code
				case t == nil || p < 0 || int(p) >= len(t.partitions):
					rp.ErrorCode = kerr.ReplicaNotAvailable.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}
