package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerGroupConfigTimeouts: a group's own consumer.session.timeout.ms
// and consumer.heartbeat.interval.ms (Config.GroupTimeouts) replace the
// broker's for that group only.
func TestConsumerGroupConfigTimeouts(t *testing.T) {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000), topics: []TopicInfo{topicInfo("t", 4)}}
	h.c = New(Config{Now: func() time.Time { return h.now }, Write: h.write, MinSessionTimeout: time.Second,
		NewID:  func() string { h.ids++; return fmt.Sprint(h.ids) },
		Topics: func() []TopicInfo { return h.topics },
		GroupTimeouts: func(g string) (time.Duration, time.Duration) {
			if g == "short" {
				return 3 * time.Second, time.Second
			}
			return 0, 0
		}})
	as, bs := map[string]*client{}, map[string]*client{}
	for _, g := range []string{"short", "long"} {
		a, b := h.client(g, "A", "t"), h.client(g, "B", "t")
		mustOK(t, a.join(), "join A")
		mustOK(t, b.join(), "join B")
		settle(t, h, g, a, b)
		want := int32(5000)
		if g == "short" {
			want = 1000
		}
		if a.resp.HeartbeatIntervalMillis != want {
			t.Fatalf("%s: heartbeat interval %d, want %d", g, a.resp.HeartbeatIntervalMillis, want)
		}
		as[g], bs[g] = a, b
	}
	// B of both groups goes silent for 5 s: only the group with the 3 s
	// session timeout loses it.
	for i := 0; i < 5; i++ {
		h.advance(time.Second)
		for _, g := range []string{"short", "long"} {
			mustOK(t, as[g].heartbeat(), g+" A")
		}
	}
	if len(as["short"].owned) != 4 {
		t.Fatalf("short: A after B expired owns %v", as["short"].ownedList())
	}
	if code := bs["short"].heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("short: expired member: %v", kerr.ErrorForCode(code))
	}
	if code := bs["long"].heartbeat(); code != 0 {
		t.Fatalf("long: B expired after 5 s with the 45 s default: %v", kerr.ErrorForCode(code))
	}
}
