package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceP99WhileCleaning measures what a producer sees while the
// cleaner compacts a large topic (issue #5's target: p99 while cleaning at
// most twice the idle p99). A franz-go producer (acks=all, linger 0, one
// 1 KiB record per synchronous produce request) sends at a steady 2000
// records/s to one topic. Each of a few rounds dirties another topic with
// dirtyMB of 1 KiB records in 64 MiB segments, 10% of them the newest of
// their key, then measures the producer while nothing else happens and
// while the cleaner, run as the cleaner loop runs it (runCleaner, with the
// broker's pacing), compacts it. Idle and cleaning samples alternate by
// round so that load from outside the process weighs on both alike. It
// reports both p99s over all rounds, their ratio, and the cleaner's rate
// (MB of dirty log per second of cleaning).
//
//	go test ./internal/broker -run '^$' -bench ProduceP99WhileCleaning -benchtime 1x -count 3
func BenchmarkProduceP99WhileCleaning(b *testing.B) {
	const (
		dirtyMB  = 300
		rounds   = 3
		rate     = 2000 // records per second
		idleTime = 2 * time.Second
	)
	// The loops must not clean or roll behind the benchmark's back: it
	// runs the cleaner itself, when it wants to.
	tb := startBroker(b, "", map[string]string{
		"log.cleaner.backoff.ms":          "3600000",
		"log.retention.check.interval.ms": "3600000",
	})
	ctx := context.Background()
	admin := newClient(b, tb.addr)
	createTopic(b, admin, "dirty", 1, map[string]*string{
		"cleanup.policy": strp("compact"),
		"segment.bytes":  strp(fmt.Sprint(64 << 20)),
	})
	createTopic(b, admin, "hot", 1, nil)
	dirty := tb.topic("dirty").partitions[0].log

	cl := newClient(b, tb.addr, kgo.DefaultProduceTopic("hot"), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte(rand.IntN(256))
	}
	// produce sends at rate until stop is closed (or n records when stop
	// is nil), appending each request's latency to lat.
	produce := func(lat []time.Duration, n int, stop <-chan struct{}) []time.Duration {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; stop != nil || i < n; i++ {
			select {
			case <-stop:
				return lat
			case <-tick.C:
			}
			t0 := time.Now()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	p99 := func(lat []time.Duration) time.Duration {
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	produce(nil, rate/2, nil) // warm up: connections, metadata, producer id

	for b.Loop() {
		var idle, busy []time.Duration
		var cleaned int64
		var took time.Duration
		for range rounds {
			b.StopTimer()
			fillDirty(b, tb.addr, dirtyMB<<20)
			b.StartTimer()
			idle = produce(idle, int(idleTime.Seconds()*rate), nil)
			before := dirty.Size()
			done := make(chan struct{})
			t0 := time.Now()
			go func() {
				defer close(done)
				for tb.runCleaner(time.Now()) {
				}
			}()
			busy = produce(busy, 0, done)
			took += time.Since(t0)
			after := dirty.Size()
			if after*2 > before {
				b.Fatalf("cleaner shrank the log only from %d to %d bytes", before, after)
			}
			cleaned += before
		}
		ip, bp := p99(idle), p99(busy)
		b.ReportMetric(float64(ip.Microseconds())/1000, "idle-p99-ms")
		b.ReportMetric(float64(bp.Microseconds())/1000, "cleaning-p99-ms")
		b.ReportMetric(float64(bp)/float64(ip), "ratio")
		b.ReportMetric(float64(cleaned)/1e6/took.Seconds(), "clean-MB/s")
		b.ReportMetric(float64(len(busy)), "cleaning-samples")
	}
}

// fillDirty produces about size bytes of 1 KiB records to topic "dirty",
// keys drawn round-robin from a tenth of the records (10% live).
func fillDirty(b *testing.B, addr string, size int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("dirty"),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1<<14))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	// Values are windows of one random buffer: realistic bytes without
	// generating them per record.
	rnd := make([]byte, 1<<16)
	for i := range rnd {
		rnd[i] = byte(rand.IntN(256))
	}
	const valueLen = 1024
	n := size / (valueLen + 40)
	keys := max(n/10, 1)
	ctx := context.Background()
	errs := make(chan error, 1)
	for i := range n {
		at := (i * 37) % (len(rnd) - valueLen)
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%09d", i%keys), Value: rnd[at : at+valueLen]}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
