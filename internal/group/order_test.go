package group

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTickWriteOrderIsDeterministic: the writes of one Tick (offset
// retention here) come out by group id, and each group's records by
// topic and partition, whatever the maps' order.
func TestTickWriteOrderIsDeterministic(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	var got []string
	var c *Coordinator
	c = New(Config{Now: func() time.Time { return now }, OffsetsRetention: time.Hour, RetentionCheckInterval: time.Minute,
		Write: func(w *Write) {
			for _, r := range w.Records {
				got = append(got, w.Group+" "+describeRecord(r))
			}
			c.Applied(w, nil)
		}})
	var want []string
	for i := range 30 {
		g := fmt.Sprintf("g%02d", (i*7)%30)
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = 8, g, -1
		for _, topic := range []string{"b", "a", "c"} {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			for _, p := range []int32{3, 1, 2} {
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = p, 1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		commitSync(c, req)
	}
	for i := range 30 {
		g := fmt.Sprintf("g%02d", i)
		for _, topic := range []string{"a", "b", "c"} {
			for p := 1; p <= 3; p++ {
				want = append(want, fmt.Sprintf("%s offset %s/%d tombstone", g, topic, p))
			}
		}
		want = append(want, g+" metadata tombstone")
	}
	got = nil
	now = now.Add(2 * time.Hour)
	c.Tick(now)
	if !slices.Equal(got, want) {
		t.Fatalf("tick wrote, in this order:\n%v\nwant:\n%v", got, want)
	}
}
