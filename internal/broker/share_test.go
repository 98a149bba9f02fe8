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

// pollShare polls a share consumer until it has want records or times out,
// acknowledging each with ack (none: leave it acquired).
func pollShare(t *testing.T, cl *kgo.Client, want int, ack func(*kgo.Record)) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollRecords(ctx, want-len(out))
		for _, r := range fs.Records() {
			if ack != nil {
				ack(r)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestShareRestartKeepsAcks: after a broker restart, accepted records are
// never redelivered and acquired-but-unacknowledged ones are.
func TestShareRestartKeepsAcks(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	produceN(t, adm, "q", 10)

	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"), kgo.ShareMaxRecords(10))
	if err != nil {
		t.Fatal(err)
	}
	recs := pollShare(t, cl, 10, nil)
	if len(recs) != 10 {
		t.Fatalf("got %d records", len(recs))
	}
	accepted := map[int64]bool{}
	for _, r := range recs[:6] {
		r.Ack(kgo.AckAccept)
		accepted[r.Offset] = true
	}
	if err := cl.FlushAcks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	adm.Close()
	tb.stop(t) // the client still holds 4 acquired records
	cl.Close()

	tb2 := startBroker(t, dir, nil)
	cl2 := newClient(t, tb2.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	again := pollShare(t, cl2, 4, func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
	if len(again) != 4 {
		t.Fatalf("redelivered %d records after restart, want 4", len(again))
	}
	for _, r := range again {
		if accepted[r.Offset] {
			t.Errorf("accepted offset %d redelivered after restart", r.Offset)
		}
	}
}

// TestShareLockExpiryRedelivers: records a consumer stops acknowledging
// go to another consumer after the lock duration; reject archives.
func TestShareLockExpiryRedelivers(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"group.share.record.lock.duration.ms": "1000", "group.share.min.record.lock.duration.ms": "1000"})
	adm := newClient(t, tb.addr)
	createTopic(t, adm, "q", 1, nil)
	setShareEarliest(t, adm, "sg")
	produceN(t, adm, "q", 5)

	stuck := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"), kgo.ShareMaxRecords(5))
	held := pollShare(t, stuck, 5, nil) // acquired, never acknowledged
	if len(held) != 5 {
		t.Fatalf("first consumer got %d", len(held))
	}
	other := newClient(t, tb.addr, kgo.ConsumeTopics("q"), kgo.ShareGroup("sg"))
	got := pollShare(t, other, 5, func(r *kgo.Record) {
		if r.Offset == 0 {
			r.Ack(kgo.AckReject)
		} else {
			r.Ack(kgo.AckAccept)
		}
	})
	if len(got) != 5 {
		t.Fatalf("second consumer got %d redelivered records, want 5", len(got))
	}
	if err := other.FlushAcks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s := shareStart(t, adm, "sg", "q"); s != 5 {
		t.Errorf("start offset %d after accept+reject, want 5", s)
	}
}
