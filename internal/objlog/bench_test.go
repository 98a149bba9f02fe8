package objlog

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// benchStore is gofakes3, or the store of $SLUICE_S3_URL (credentials
// from the AWS environment variables; scripts/s3-server.sh prints both).
func benchStore(b *testing.B) objstore.Store {
	raw := os.Getenv("SLUICE_S3_URL")
	if raw == "" {
		return openStore(b, fakeS3(b))
	}
	s, err := objstore.OpenS3(context.Background(), raw, objstore.S3Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// timedStore records the duration of each Put.
type timedStore struct {
	objstore.Store
	mu   sync.Mutex
	puts []time.Duration
}

func (s *timedStore) Put(ctx context.Context, key string, data []byte) error {
	t0 := time.Now()
	err := s.Store.Put(ctx, key, data)
	s.mu.Lock()
	s.puts = append(s.puts, time.Since(t0))
	s.mu.Unlock()
	return err
}

// BenchmarkAppendAck measures append -> acknowledgement (the flush's
// object PUT and etcd commit) at the default 25 ms flush interval:
// writers appenders, each appending one batch of 10 records of 100 bytes
// and waiting for its ack, spread over the partitions; paced, when rate
// is set, at that many batches per second in all. It reports the ack
// latency's p50 and p99, records/s and MB/s. The idempotent cases make
// each writer an idempotent producer (its own producer id, sequences per
// partition): every flush commits the producer state of its partitions.
func BenchmarkAppendAck(b *testing.B) {
	for _, c := range []struct {
		parts, writers, rate int
		idem                 bool
	}{
		{1, 4, 100, false}, // 1,000 records/s
		{16, 16, 100, false},
		{1, 64, 0, false},
		{16, 256, 0, false},
		{64, 512, 0, false},
		{1, 64, 0, true},
		{16, 256, 0, true},
		{64, 512, 0, true},
	} {
		name := fmt.Sprintf("partitions=%d/writers=%d", c.parts, c.writers)
		if c.rate > 0 {
			name += fmt.Sprintf("/batches_per_s=%d", c.rate)
		}
		if c.idem {
			name += "/idempotent"
		}
		b.Run(name, func(b *testing.B) { benchAppendAck(b, c.parts, c.writers, c.rate, c.idem) })
	}
}

func benchAppendAck(b *testing.B, parts, writers, rate int, idem bool) {
	e := etcdtest.Start(b, 4096)
	ts := &timedStore{Store: benchStore(b)}
	br := startBroker(b, e, ts, brokerOpts{node: 1, noStart: true})
	var commitMu sync.Mutex
	var commits []time.Duration
	br.f.commit = func(ctx context.Context, apps []cluster.PartitionAppend, obj cluster.ObjectMeta) error {
		t0 := time.Now()
		err := br.member.Commit(ctx, apps, obj)
		commitMu.Lock()
		commits = append(commits, time.Since(t0))
		commitMu.Unlock()
		return err
	}
	br.f.Start(context.Background())
	ps := make([]*Partition, parts)
	topic := byte(time.Now().UnixNano())
	for i := range ps {
		ps[i] = acquire(b, br, tpN(topic, int32(i)))
	}
	recs := make([]log.KV, 10)
	for i := range recs {
		recs[i] = log.KV{Value: make([]byte, 100)}
	}
	template := log.EncodeBatch(recs, time.Now().UnixMilli(), -1, -1, false)
	var (
		next    atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		wg      sync.WaitGroup
		failed  atomic.Int64
		pace    <-chan time.Time
		stopped = make(chan struct{})
	)
	if rate > 0 {
		tk := time.NewTicker(time.Second / time.Duration(rate))
		defer tk.Stop()
		pace = tk.C
	}
	b.SetBytes(int64(len(template)))
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			seqs := make([]int32, parts)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				if pace != nil {
					select {
					case <-pace:
					case <-stopped:
						return
					}
				}
				batch := slices.Clone(template)
				part := (int(i) + w) % parts
				if idem {
					setProducer(batch, int64(w), 0, seqs[part])
					seqs[part] += int32(len(recs))
				}
				t0 := time.Now()
				c, err := ps[part].Append(batch)
				if err == nil {
					_, err = c.Result()
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopped)
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d appends failed", f)
	}
	pct := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lats, 0.5), "p50_ms")
	b.ReportMetric(pct(lats, 0.99), "p99_ms")
	ts.mu.Lock()
	b.ReportMetric(pct(ts.puts, 0.5), "put_p50_ms")
	b.ReportMetric(pct(ts.puts, 0.99), "put_p99_ms")
	ts.mu.Unlock()
	commitMu.Lock()
	b.ReportMetric(pct(commits, 0.5), "commit_p50_ms")
	b.ReportMetric(pct(commits, 0.99), "commit_p99_ms")
	commitMu.Unlock()
	b.ReportMetric(float64(b.N*len(recs))/elapsed.Seconds(), "records/s")
	objs := objectNames(b, br.client)
	b.ReportMetric(float64(len(objs))/elapsed.Seconds(), "objects/s")
}
