package broker

// DescribeLogDirs: v1-4
//
// Behaviour:
// * One log directory, the data directory, with the size of every
//   requested partition's log (all partitions when Topics is null);
//   offset lag 0 and no future replicas (no replica movement).
// * v4+: total and usable bytes of the file system holding it.
// * Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(35, 1, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, r *request, req *kmsg.DescribeLogDirsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !r.allowed(auth.OpDescribe, auth.Cluster()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	} else {
		dir.Dir = b.cfg.DataDir
	}
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * st.Bsize
		dir.UsableBytes = int64(st.Bavail) * st.Bsize
	}
	add := func(t *topic, parts []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.meta.Name
		for _, i := range parts {
			if i < 0 || int(i) >= len(t.partitions) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			dp.Size = t.partitions[i].log.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		for _, t := range b.sortedTopics() {
			all := make([]int32, len(t.partitions))
			for i := range all {
				all[i] = int32(i)
			}
			add(t, all)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.topic(rt.Topic); t != nil {
				add(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
