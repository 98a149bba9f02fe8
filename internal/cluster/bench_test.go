package cluster

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCommit is one flush's commit of P partitions (one index entry
// each) against a local etcd 3.4 on this machine's disk:
//
//	go test -run '^$' -bench Commit -benchtime 200x ./internal/cluster/
func BenchmarkCommit(b *testing.B) {
	e := startEtcd(b, 4096)
	c := e.open(b, nil)
	m := register(b, c, 1)
	for _, parts := range []int{1, 10, 100, 1000} {
		topic := byte(parts % 251)
		held := acquireAll(b, m, topic, parts)
		next := make([]int64, parts) // across the runs b.Run makes
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			ctx := ctxT(b)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				obj := fmt.Sprintf("b%d-%d", parts, i)
				appends := make([]PartitionAppend, parts)
				for p := range parts {
					tp := tpN(topic, int32(p))
					appends[p] = appendOf(tp, held[tp].Epoch, next[p], 10, obj)
					next[p] += 10
				}
				if err := m.Commit(ctx, appends, ObjectMeta{Name: obj, Size: 1 << 20}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
		})
	}
}
