package objlog

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
)

// BenchmarkCompact measures one Compact pass over a partition of 100
// index entries of 50 batches of 10 records of about 100 bytes (50,000
// records over 1,000 keys): the key map, the rewrite and the swaps.
// It reports records/s and MB/s read. Run with -benchtime 1x (each
// iteration builds its partition untimed).
func BenchmarkCompact(b *testing.B) {
	e := etcdtest.Start(b, 4096)
	store := benchStore(b)
	br := startBroker(b, e, store, brokerOpts{node: 1})
	ctx := ctxT(b)
	const entries, batches, recs, keys = 100, 50, 10, 1000
	value := make([]byte, 90)
	var read int64
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		p, err := br.f.Acquire(ctx, tpN(byte(100+i%100), int32(i)), compactCfg())
		if err != nil {
			b.Fatal(err)
		}
		k := 0
		for range entries {
			var cs []*Completion
			for range batches {
				kvs := make([]log.KV, recs)
				for r := range kvs {
					kvs[r] = log.KV{Key: []byte(fmt.Sprintf("key-%04d", k%keys)), Value: value}
					k++
				}
				c, err := p.Append(log.EncodeBatch(kvs, 1000, -1, -1, false))
				if err != nil {
					b.Fatal(err)
				}
				cs = append(cs, c)
			}
			for _, c := range cs {
				mustAck(b, c)
			}
		}
		b.StartTimer()
		st, err := p.Compact(ctx, time.UnixMilli(5000))
		b.StopTimer()
		if err != nil || !st.Ran || st.Entries == 0 {
			b.Fatalf("compaction %+v, %v", st, err)
		}
		read += st.BytesRead
		if i == 0 {
			b.Logf("%+v", st)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*entries*batches*recs)/secs, "records/s")
	b.ReportMetric(float64(read)/secs/1e6, "MB/s")
}
