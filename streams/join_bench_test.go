package streams_test

import (
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

// BenchmarkJoinStreamTable: b.N stream records (keys k0..k999) left-joined
// with a TableOf of 1000 keys, against an embedded broker, consume -> join
// -> produce; compare records/s with BenchmarkMapAgent.
//
//	go test -run '^$' -bench JoinStreamTable -benchtime 200000x ./streams/
func BenchmarkJoinStreamTable(b *testing.B) {
	b.Run("at-least-once", func(b *testing.B) { benchJoin(b, streams.AtLeastOnce) })
	b.Run("exactly-once", func(b *testing.B) { benchJoin(b, streams.ExactlyOnce) })
}

func benchJoin(b *testing.B, g streams.Guarantee) {
	addr := embed.ForTest(b)
	benchInput(b, addr, b.N, 1000)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, benchPartitions, 1, nil, "tbl"); err != nil {
		b.Fatal(err)
	}
	var rs []*kgo.Record
	for i := range 1000 {
		rs = append(rs, &kgo.Record{Topic: "tbl", Key: fmt.Appendf(nil, "k%d", i), Value: benchValue(i)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	app, err := streams.NewApp("bench", streams.Brokers(addr), streams.Logger(quiet()), streams.InMemoryState(), streams.ProcessingGuarantee(g))
	if err != nil {
		b.Fatal(err)
	}
	tbl := streams.TableOf(app, "tbl", streams.NewTopic(app, "tbl", codec.String(), codec.Bytes()))
	out := streams.NewTopic(app, "out", codec.String(), codec.Bytes())
	strIn := streams.NewTopic(app, "in", codec.String(), codec.Bytes())
	streams.JoinStreamTable(app, "join", strIn, tbl, streams.LeftJoin, func(_ string, v, t []byte, found bool) []byte {
		if !found {
			return v
		}
		return append(append(v[:len(v):len(v)], ' '), t[:8]...)
	}, out)
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(rctx) }()
	waitOut(b, addr, "out", b.N)
	report(b, start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	app.Close()
}
