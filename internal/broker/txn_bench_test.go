package broker

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTransactionalProduce1KiB compares produce throughput of 1 KiB
// records without transactions and in transactions of 100 records, each
// flushed and ended before the next begins (the target:
// transactional at least 50% of plain), with one producer and with four
// concurrent producers, each on its own topic.
//
//	go test ./internal/broker -run '^$' -bench TransactionalProduce1KiB -benchtime 100000x
func BenchmarkTransactionalProduce1KiB(b *testing.B) {
	tb := startBroker(b, "", nil)
	for _, producers := range []int{1, 4} {
		for _, txn := range []bool{false, true} {
			name := "plain"
			if txn {
				name = "txn100"
			}
			name = fmt.Sprintf("%s/producers=%d", name, producers)
			b.Run(name, func(b *testing.B) {
				value := make([]byte, 1024)
				rand.Read(value)
				b.SetBytes(int64(len(value)))
				var wg sync.WaitGroup
				errs := make(chan error, producers)
				clients := make([]*kgo.Client, producers)
				for i := range clients {
					topic := fmt.Sprintf("bench-%s-%d-%d", map[bool]string{false: "plain", true: "txn"}[txn], producers, i)
					opts := []kgo.Opt{kgo.SeedBrokers(tb.addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
						kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0)}
					if txn {
						opts = append(opts, kgo.TransactionalID(topic))
					}
					cl, err := kgo.NewClient(opts...)
					if err != nil {
						b.Fatal(err)
					}
					defer cl.Close()
					clients[i] = cl
				}
				b.ResetTimer()
				for i, cl := range clients {
					n := b.N / producers
					if i == 0 {
						n += b.N % producers
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- produceRecords(cl, n, value, txn)
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// produceRecords produces n records of value, in transactions of 100 when txn.
func produceRecords(cl *kgo.Client, n int, value []byte, txn bool) error {
	ctx := context.Background()
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	for i := 0; i < n; i += 100 {
		if txn {
			if err := cl.BeginTransaction(); err != nil {
				return err
			}
		}
		for range min(100, n-i) {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		if txn {
			// EndTransaction does not flush: a record still buffered
			// would miss its transaction.
			if err := cl.Flush(ctx); err != nil {
				return err
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return err
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}
