package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setShareEarliest sets share.auto.offset.reset=earliest on a group.
func setShareEarliest(t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp := send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
}

// TestShareGroupConsumersShareAPartition: several franz-go share consumers
// of one partition receive each record once while acknowledging.
func TestShareGroupConsumersShareAPartition(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	const n = 400
	produceN(t, adm, "q", n)

	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		cl := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					r.Ack(kgo.AckAccept)
					mu.Lock()
					seen[string(r.Value)]++
					done := len(seen) == n
					mu.Unlock()
					if done {
						cancel()
					}
				}
			}
			_ = cl.FlushAcks(context.Background())
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("received %d distinct records, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	// All acknowledged: the start offset reached the end.
	offs := shareStart(t, adm, "sg", "q")
	if offs != n {
		t.Errorf("share-partition start offset %d, want %d", offs, n)
	}
}

func shareStart(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg)
	resp := send[*kmsg.DescribeShareGroupOffsetsResponse](t, cl, req)
	if err := kerr.ErrorForCode(resp.Groups[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0].Topics[0].Partitions[0].StartOffset
}
