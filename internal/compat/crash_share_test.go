package compat

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKill9ShareGroupKeepsAcks kills the broker with SIGKILL while a
// franz-go share consumer holds acquired records, some acknowledged
// (accepted, their acks answered) and some not. After a restart the
// accepted records are never delivered again and the acquired ones are.
func TestKill9ShareGroupKeepsAcks(t *testing.T) {
	s := startServer(t, "")
	const topic, group, n = "shareq", "sq", 300
	adm, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 60*time.Second)
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	if r, err := req.RequestWith(ctx, adm); err != nil || r.Resources[0].ErrorCode != 0 {
		t.Fatalf("set share.auto.offset.reset: %v %v", err, r)
	}
	for i := range n {
		adm.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := adm.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	var ackFailed atomic.Bool
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics(topic), kgo.ShareGroup(group), kgo.ShareMaxRecords(40),
		kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) {
			if rs.Error() != nil {
				ackFailed.Store(true)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	accepted := map[int64]bool{}
	for len(accepted) < n/2 && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			r.Ack(kgo.AckAccept)
			accepted[r.Offset] = true
		}
		if err := cl.FlushAcks(ctx); err != nil || ackFailed.Load() {
			t.Fatalf("acks before the kill: %v", err)
		}
	}
	var held []int64
	for len(held) == 0 && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			if accepted[r.Offset] {
				t.Fatalf("accepted offset %d delivered again", r.Offset)
			}
			held = append(held, r.Offset) // acquired, never acknowledged
		}
	}
	s.kill9()
	cl.Close()
	s.start()

	cl2, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics(topic), kgo.ShareGroup(group))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	ctx2, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[int64]bool{}
	for len(accepted)+len(seen) < n && ctx2.Err() == nil {
		fs := cl2.PollFetches(ctx2)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx2.Err() == nil && err != kerr.UnknownTopicOrPartition {
				t.Logf("fetch after restart: %v", err)
			}
		})
		for _, r := range fs.Records() {
			if accepted[r.Offset] {
				t.Fatalf("offset %d, accepted before the kill, delivered after the restart", r.Offset)
			}
			seen[r.Offset] = true
			r.Ack(kgo.AckAccept)
		}
	}
	if len(accepted)+len(seen) != n {
		t.Fatalf("after restart: %d accepted before + %d delivered after, want %d\n%s", len(accepted), len(seen), n, s.logs())
	}
	for _, o := range held {
		if !seen[o] {
			t.Fatalf("offset %d, acquired but not acknowledged at the kill, not redelivered", o)
		}
	}
	t.Logf("%d accepted before the kill, %d held, %d delivered after", len(accepted), len(held), len(seen))
}
