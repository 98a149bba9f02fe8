package txn

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTransaction is one transaction through the coordinator: add
// two partitions, end (commit), complete, each write encoded and applied
// at once, over 100 transactional ids, plus a Tick every 100
// transactions.
func BenchmarkTransaction(b *testing.B) {
	next := int64(0)
	c := newBenchCoordinator(func() (int64, error) { next++; return next, nil })
	now := time.UnixMilli(1_700_000_000_000)
	const ids = 100
	pids := make([]int64, ids)
	names := make([]string, ids)
	for i := range ids {
		names[i] = fmt.Sprintf("txn-%d", i)
		r, err := c.InitProducerID(names[i], time.Minute, -1, -1, now)
		if err != nil {
			b.Fatal(err)
		}
		pids[i] = r.ProducerID
	}
	parts := []TopicPartition{{"t", 0}, {"t", 1}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % ids
		if err := c.AddPartitions(names[k], pids[k], 0, parts, now); err != nil {
			b.Fatal(err)
		}
		res, err := c.EndTxn(names[k], pids[k], 0, true, false, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Complete(res.Completion); err != nil {
			b.Fatal(err)
		}
		if i%100 == 0 {
			c.Tick(now)
		}
		i++
	}
}
