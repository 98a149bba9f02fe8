package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkShareGroupConsume: records/s delivered and acknowledged
// (accepted) by 1, 4 and 16 franz-go share consumers of one partition,
// against a classic consumer group reading the same topic (one member,
// committing its offsets). Each iteration consumes a fresh topic of
// shareBenchRecords records; the clock runs from creating the clients
// (joining included; group.initial.rebalance.delay.ms is 0 here) until
// every record is acknowledged (share) or its offset committed (classic).
//
//	go test -run '^$' -bench BenchmarkShareGroupConsume -benchtime 3x ./internal/broker/
func BenchmarkShareGroupConsume(b *testing.B) {
	const shareBenchRecords = 20000
	tb := startBroker(b, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	adm := newClient(b, tb.addr)
	iter := 0
	setup := func(b *testing.B) (topic string) {
		b.Helper()
		iter++
		topic = "bench" + strconv.Itoa(iter)
		createTopic(b, adm, topic, 1, nil)
		val := make([]byte, 100)
		for range shareBenchRecords {
			adm.Produce(context.Background(), &kgo.Record{Topic: topic, Value: val}, nil)
		}
		if err := adm.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		return topic
	}
	for _, consumers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("share-%d", consumers), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				topic := setup(b)
				group := "g-" + topic
				setShareEarliestB(b, adm, group)
				b.StartTimer()
				first := time.Now()
				var done, last atomic.Int64 // records, unix nanos when all were acknowledged
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				var wg sync.WaitGroup
				for range consumers {
					wg.Go(func() {
						cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumeTopics(topic), kgo.ShareGroup(group))
						if err != nil {
							b.Error(err)
							return
						}
						defer cl.Close()
						for ctx.Err() == nil {
							fs := cl.PollFetches(ctx)
							for _, r := range fs.Records() {
								r.Ack(kgo.AckAccept)
							}
							if n := int64(len(fs.Records())); n > 0 && done.Add(n) >= shareBenchRecords {
								_ = cl.FlushAcks(context.Background())
								last.CompareAndSwap(0, time.Now().UnixNano())
								cancel()
							}
						}
					})
				}
				wg.Wait()
				cancel()
				total += time.Unix(0, last.Load()).Sub(first)
				if done.Load() < shareBenchRecords {
					b.Fatalf("consumed %d of %d", done.Load(), shareBenchRecords)
				}
			}
			b.ReportMetric(float64(shareBenchRecords*b.N)/total.Seconds(), "records/s")
		})
	}
	b.Run("classic-1", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			b.StopTimer()
			topic := setup(b)
			b.StartTimer()
			start := time.Now()
			cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup("c-"+topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			n := 0
			for n < shareBenchRecords && ctx.Err() == nil {
				n += len(cl.PollFetches(ctx).Records())
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			cancel()
			cl.Close()
			if n < shareBenchRecords {
				b.Fatalf("consumed %d", n)
			}
		}
		b.ReportMetric(float64(shareBenchRecords*b.N)/total.Seconds(), "records/s")
	})
}

func setShareEarliestB(b *testing.B, cl *kgo.Client, group string) {
	b.Helper()
	req := newShareResetReq(group)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		b.Fatalf("set share.auto.offset.reset: %v", err)
	}
}
