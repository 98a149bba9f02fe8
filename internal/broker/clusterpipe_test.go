package broker

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// TestClusterPipelinedProduce: a producer with up to 5 produce requests in
// flight on its connection gets every one answered, in order, each record
// acknowledged at an offset of its own that holds it, while the broker
// reads the next requests as earlier ones wait for their flush.
func TestClusterPipelinedProduce(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	b := startClusterBrokerOn(t, e, 1, fakeS3(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "piped"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	prod := mustClient(t, b, kgo.DefaultProduceTopic("piped"), kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(5), kgo.ProducerBatchMaxBytes(1<<10), kgo.MetadataMinAge(10*time.Millisecond))
	clusterEventually(t, "the partition is led", func() error {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		return prod.ProduceSync(pctx, &kgo.Record{Value: []byte("first")}).FirstErr()
	})
	const n = 400
	var mu sync.Mutex
	acked := map[int64]string{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		v := strconv.Itoa(i) + "-" + string(make([]byte, 200)) // ~5 records a batch
		prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("record %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := acked[r.Offset]; dup {
				t.Errorf("offset %d acknowledged twice (%q and %q)", r.Offset, prev[:4], v[:4])
			}
			acked[r.Offset] = v
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cons := mustClient(t, b, kgo.ConsumeTopics("piped"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int64]string{}
	for len(got) < n+1 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), n+1)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d holds %.8q, acknowledged %.8q", off, got[off], v)
		}
	}
}
