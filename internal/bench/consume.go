package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchRecordPool lets kgo decode fetched batches into reused record
// slices.
type benchRecordPool struct{ p sync.Pool }

func (rp *benchRecordPool) GetRecords(n int) []kgo.Record {
	if v, ok := rp.p.Get().(*[]kgo.Record); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]kgo.Record, n)
}

func (rp *benchRecordPool) PutRecords(rs []kgo.Record) { rp.p.Put(&rs) }

func consumerOpts(o *benchOptions, seeds []string, offsets map[int32]kgo.Offset) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-bench"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}),
		kgo.FetchMaxBytes(int32(o.fetchBytes)),
		kgo.FetchMaxPartitionBytes(int32(o.fetchBytes)),
		kgo.BrokerMaxReadBytes(int32(max(o.fetchBytes+1<<20, 100<<20))),
		kgo.WithPools(new(benchRecordPool)),
	}
}

func consumePhase(ctx context.Context, o *benchOptions, seeds []string, want int64, meter *brokerMeter) (*throughputResult, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range o.partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(consumerOpts(o, seeds, offsets)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got, n int64
	var shown atomic.Int64 // got, for the progress line
	stopProgress := cmdline.Progress(o.progress, func() string {
		return fmt.Sprintf("consume: %s of %s records", commas(shown.Load()), commas(want))
	})
	defer stopProgress()
	meter.start()
	start := time.Now()
	for got < want {
		pctx, cancel := context.WithTimeout(ctx, o.stallTimeout)
		fs := cl.PollFetches(pctx)
		cancel()
		for _, fe := range fs.Errors() {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(fe.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("stalled: no records for %s after %d of %d", o.stallTimeout, got, want)
			}
			return nil, fmt.Errorf("partition %d: %w", fe.Partition, fe.Err)
		}
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				n += int64(len(r.Value) + len(r.Key))
				r.Recycle()
			}
			got += int64(len(ftp.Records))
		})
		shown.Store(got)
	}
	elapsed := time.Since(start)
	res := throughput(got, n, elapsed)
	res.Broker = meter.stop(n, elapsed)
	res.ClientCPUSeconds = meter.selfCPU
	return res, nil
}
