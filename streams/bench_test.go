package streams_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// The benchmarks process b.N records each against an embedded broker; run
// them with a fixed count, e.g.
//
//	go test -run '^$' -bench . -benchtime 200000x ./streams/
//
// and compare records/s: BenchmarkMapAgent with BenchmarkPlainMapLoop (the
// same consume-map-produce work as a plain franz-go loop).

const benchPartitions = 4

func benchValue(i int) []byte {
	return fmt.Appendf(nil, "%08d %s", i, bytes.Repeat([]byte("x"), 91))
}

// benchInput creates topic in (and out) and fills in with n records keyed
// by i mod keys.
func benchInput(b *testing.B, addr string, n, keys int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	for _, t := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, benchPartitions, 1, nil, t); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i%keys), Value: benchValue(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// waitOut waits until topic has n records (read_committed end offsets).
func waitOut(b *testing.B, addr, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		offs, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			var sum int64
			offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			if sum >= int64(n) {
				return
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s did not reach %d records", topic, n)
		case <-tick.C:
		}
	}
}

func report(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func upper(v []byte) []byte { return bytes.ToUpper(v) }

func benchMapAgent(b *testing.B, g streams.Guarantee) {
	addr := embed.ForTest(b)
	benchInput(b, addr, b.N, 1000)
	app, err := streams.NewApp("bench", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState(), streams.ProcessingGuarantee(g))
	if err != nil {
		b.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.Bytes(), codec.Bytes())
	out := streams.NewTopic(app, "out", codec.Bytes(), codec.Bytes())
	streams.NewAgent(app, "map", in, func(ctx context.Context, s *streams.Stream[[]byte, []byte]) error {
		for ev := range s.Events() {
			if err := out.Send(ctx, ev.Key, upper(ev.Value)); err != nil {
				return err
			}
		}
		return nil
	}, streams.Concurrency(benchPartitions))
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	waitOut(b, addr, "out", b.N)
	report(b, start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	app.Close()
}

// BenchmarkMapAgent: a stateless agent, consume -> map -> produce.
func BenchmarkMapAgent(b *testing.B) {
	b.Run("at-least-once", func(b *testing.B) { benchMapAgent(b, streams.AtLeastOnce) })
	b.Run("exactly-once", func(b *testing.B) { benchMapAgent(b, streams.ExactlyOnce) })
}

// BenchmarkPlainMapLoop is BenchmarkMapAgent's work as a plain franz-go
// group consumer: poll, produce the mapped records, flush, commit.
func BenchmarkPlainMapLoop(b *testing.B) {
	addr := embed.ForTest(b)
	benchInput(b, addr, b.N, 1000)
	b.ResetTimer()
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("plain"), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	n := 0
	for n < b.N {
		fs := cl.PollRecords(ctx, 10000)
		fs.EachRecord(func(r *kgo.Record) {
			n++
			cl.Produce(ctx, &kgo.Record{Topic: "out", Key: r.Key, Value: upper(r.Value)}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		})
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			b.Fatal(err)
		}
		cl.AllowRebalance()
	}
	waitOut(b, addr, "out", b.N)
	report(b, start)
}

func benchCount(b *testing.B, g streams.Guarantee) {
	addr := embed.ForTest(b)
	benchInput(b, addr, b.N, 1000)
	app, err := streams.NewApp("bench", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState(), streams.ProcessingGuarantee(g))
	if err != nil {
		b.Fatal(err)
	}
	in := streams.NewTopic(app, "in", codec.String(), codec.Bytes())
	out := streams.NewTopic(app, "out", codec.String(), codec.JSON[int64]())
	counts := streams.NewTable(app, "counts", in, codec.String(), codec.JSON[int64]())
	streams.NewAgent(app, "count", in, func(ctx context.Context, s *streams.Stream[string, []byte]) error {
		for ev := range s.Events() {
			n := counts.Get(ev.Partition, ev.Key) + 1
			if err := counts.Set(ctx, ev.Partition, ev.Key, n); err != nil {
				return err
			}
			if err := out.Send(ctx, ev.Key, n); err != nil {
				return err
			}
		}
		return nil
	}, streams.Concurrency(benchPartitions))
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	waitOut(b, addr, "out", b.N)
	report(b, start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	app.Close()
}

// BenchmarkCountAgent: an agent counting keys in a table (a changelog
// record and an output record per event).
func BenchmarkCountAgent(b *testing.B) {
	b.Run("at-least-once", func(b *testing.B) { benchCount(b, streams.AtLeastOnce) })
	b.Run("exactly-once", func(b *testing.B) { benchCount(b, streams.ExactlyOnce) })
}
