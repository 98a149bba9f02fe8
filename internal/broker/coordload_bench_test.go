package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceUnderCoordinatorLoad measures produce throughput and
// latency (p50/p99 of a synchronous one-record produce, 8 producers) while
// 200 consumer groups (one client each) commit offsets every 100 ms and a transactional
// producer ends a transaction every 10 ms. With fsync=internal the
// coordinators' internal topics fsync every write
// (log.flush.interval.messages=1) and the produced topics do not
// (flush.messages at its default); with fsync=none nothing is fsynced.
// The figures show how much the coordinators' writes get in the way of
// plain produce, and how much of the offered commit and transaction load
// they serve (issue #13: coordinators do no I/O under their locks).
//
//	go test ./internal/broker -run '^$' -bench ProduceUnderCoordinatorLoad -benchtime 20000x
//
// fsync=internal/commit=800ms offers the commit rate (250/s) that the
// coordinator managed at the offered 2,000/s when it held its lock across
// the fsync, to compare produce at an equal delivered commit rate.
func BenchmarkProduceUnderCoordinatorLoad(b *testing.B) {
	fsync := map[string]string{"log.flush.interval.messages": "1"}
	b.Run("fsync=internal", func(b *testing.B) { benchProduceUnderLoad(b, fsync, 100*time.Millisecond) })
	b.Run("fsync=internal/commit=800ms", func(b *testing.B) { benchProduceUnderLoad(b, fsync, 800*time.Millisecond) })
	b.Run("fsync=none", func(b *testing.B) { benchProduceUnderLoad(b, nil, 100*time.Millisecond) })
}

func benchProduceUnderLoad(b *testing.B, kafka map[string]string, commitEvery time.Duration) {
	tb := startBroker(b, "", kafka)
	admin := newClient(b, tb.addr)
	never := "9223372036854775807"
	createTopic(b, admin, "load-produce", 8, map[string]*string{"flush.messages": &never})
	createTopic(b, admin, "load-commit", 1, nil)
	createTopic(b, admin, "load-txn", 1, map[string]*string{"flush.messages": &never})

	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { cancel(); bg.Wait() }()
	var commits, txns [2]int64 // [0] ok, [1] failed
	var mu sync.Mutex
	count := func(c *[2]int64, err error) {
		mu.Lock()
		if err != nil {
			c[1]++
		} else {
			c[0]++
		}
		mu.Unlock()
	}
	for g := range 200 {
		commitCl := newClient(b, tb.addr) // one connection per group, as real consumers have
		bg.Add(1)
		go func() {
			defer bg.Done()
			req := commitRequest(fmt.Sprintf("load-group-%d", g))
			req.Topics[0].Topic = "load-commit"
			t := time.NewTicker(commitEvery)
			defer t.Stop()
			for i := int64(1); ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				req.Topics[0].Partitions[0].Offset = i
				resp, err := req.RequestWith(ctx, commitCl)
				if err == nil && resp.Topics[0].Partitions[0].ErrorCode != 0 {
					err = fmt.Errorf("error code %d", resp.Topics[0].Partitions[0].ErrorCode)
				}
				if ctx.Err() == nil {
					count(&commits, err)
				}
			}
		}()
	}
	txnCl := newClient(b, tb.addr, kgo.TransactionalID("load-txn"), kgo.DefaultProduceTopic("load-txn"), kgo.ProducerLinger(0))
	bg.Add(1)
	go func() {
		defer bg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := txnCl.BeginTransaction()
			if err == nil {
				err = txnCl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
			}
			if err == nil {
				err = txnCl.EndTransaction(ctx, kgo.TryCommit)
			}
			if ctx.Err() != nil {
				return
			}
			count(&txns, err)
			if err != nil {
				txnCl.EndTransaction(ctx, kgo.TryAbort) //nolint:errcheck // best effort after a failure
			}
		}
	}()
	time.Sleep(time.Second) // let the load start before measuring

	const producers = 8
	value := make([]byte, 1024)
	lat := make([][]time.Duration, producers)
	clients := make([]*kgo.Client, producers)
	for i := range clients {
		clients[i] = newClient(b, tb.addr, kgo.DefaultProduceTopic("load-produce"), kgo.ProducerLinger(0),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	mu.Lock()
	commits, txns = [2]int64{}, [2]int64{}
	mu.Unlock()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for i, cl := range clients {
		n := b.N / producers
		if i == 0 {
			n += b.N % producers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := make([]time.Duration, 0, n)
			for range n {
				t0 := time.Now()
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value, Partition: int32(i)}).FirstErr(); err != nil {
					errs <- err
					return
				}
				ls = append(ls, time.Since(t0))
			}
			lat[i] = ls
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "records/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	mu.Lock()
	b.ReportMetric(float64(commits[0])/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(txns[0])/elapsed.Seconds(), "txns/s")
	b.ReportMetric(float64(commits[1]+txns[1]), "bg-failures")
	mu.Unlock()
}
