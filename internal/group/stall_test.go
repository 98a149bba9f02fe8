package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func simpleCommit(group string, off int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 8, group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestSlowWriteDoesNotStallOtherGroups (issue #13): while one group's
// append hangs (a slow fsync), another group's commit is answered, and
// the slow group's commit is answered once its append returns. The
// coordinator used to append under its one mutex, so every group waited.
func TestSlowWriteDoesNotStallOtherGroups(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var c *Coordinator
	c = New(Config{Write: func(w *Write) {
		if w.Group == "slow" {
			close(started)
			<-release
		}
		c.Applied(w, nil)
	}})
	slowDone := make(chan *kmsg.OffsetCommitResponse, 1)
	go c.OffsetCommit(simpleCommit("slow", 1), func(r *kmsg.OffsetCommitResponse) { slowDone <- r })
	<-started // the slow group's append is under way
	fast := make(chan *kmsg.OffsetCommitResponse, 1)
	go c.OffsetCommit(simpleCommit("fast", 2), func(r *kmsg.OffsetCommitResponse) { fast <- r })
	select {
	case r := <-fast:
		if r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("fast commit: %+v", r)
		}
	case <-time.After(time.Minute):
		t.Fatal("a commit of another group waited for the slow group's append")
	}
	select {
	case <-slowDone:
		t.Fatal("the slow commit was answered before its append returned")
	default:
	}
	close(release)
	if r := <-slowDone; r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("slow commit: %+v", r)
	}
}
