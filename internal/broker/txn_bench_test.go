package broker

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTransactionalProduce1KiB compares produce throughput of 1 KiB
// records without transactions (flushed once at the end) and in
// transactions of 100 records, each ended before the next begins (the
// issue's target: transactional at least 50% of plain).
//
//	go test ./internal/broker -run '^$' -bench TransactionalProduce1KiB -benchtime 50000x
func BenchmarkTransactionalProduce1KiB(b *testing.B) {
	tb := startBroker(b, "", nil)
	for _, txn := range []bool{false, true} {
		name := "plain"
		opts := []kgo.Opt{kgo.SeedBrokers(tb.addr), kgo.DefaultProduceTopic("bench-" + name), kgo.AllowAutoTopicCreation(),
			kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerBatchCompression(kgo.NoCompression())}
		if txn {
			name = "txn100"
			opts = append(opts, kgo.TransactionalID("bench"), kgo.DefaultProduceTopic("bench-"+name))
		}
		b.Run(name, func(b *testing.B) {
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			var failed atomic.Pointer[error]
			promise := func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
			value := make([]byte, 1024)
			rand.Read(value)
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for i := 0; i < b.N; i += 100 {
				if txn {
					if err := cl.BeginTransaction(); err != nil {
						b.Fatal(err)
					}
				}
				for range min(100, b.N-i) {
					cl.Produce(ctx, &kgo.Record{Value: value}, promise)
				}
				if txn {
					// EndTransaction does not flush: a record still
					// buffered would miss its transaction.
					if err := cl.Flush(ctx); err != nil {
						b.Fatal(err)
					}
					if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
		})
	}
}
