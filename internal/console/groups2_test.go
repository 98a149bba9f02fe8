package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
)

// TestGroupTimeLagAndResetToTime: a group with a known backlog of records
// an hour old shows a time lag of about an hour; reset to a time moves it
// to the first record at or after that time.
func TestGroupTimeLagAndResetToTime(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "aged", 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "aged", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "aged", Partition: 0, At: 0, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "aged", Partition: 1, At: 5, LeaderEpoch: -1}) // caught up
	if _, err := adm.CommitOffsets(ctx, "agers", os); err != nil {
		t.Fatal(err)
	}
	r := tb.get(t, "/groups/agers")
	want(t, r, http.StatusOK, `id="total-lag">5<`, `id="max-time-lag">1.0 h<`, `<td class="num time-lag">0.0 s</td>`, `id="lag-chart-offsets"`, "No samples yet")

	// Reset to a time: partition 0 holds v0, v2, ... at old+0s, +2s, ...
	at := old.Add(4 * time.Second).UTC().Format(time.RFC3339)
	if r := tb.post(t, "/groups/agers/reset", url.Values{"topic": {"aged"}, "to": {"time"}, "time": {at}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset to time: %d %s", r.status, r.body)
	}
	// p0: v4 is offset 2, lag 3; p1: v5 at +5s is offset 2, lag 3.
	want(t, tb.get(t, "/groups/agers"), http.StatusOK, `id="total-lag">6<`)
	// A time after every record: the end.
	if r := tb.post(t, "/groups/agers/reset", url.Values{"topic": {"aged"}, "to": {"time"}, "time": {"2100-01-01"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset to a future time: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/groups/agers"), http.StatusOK, `id="total-lag">0<`)
	want(t, tb.post(t, "/groups/agers/reset", url.Values{"topic": {"aged"}, "to": {"time"}, "time": {"soon"}, "confirm": {"yes"}}), http.StatusBadRequest, "is not a time")
	want(t, tb.post(t, "/groups/agers/reset", url.Values{"topic": {"aged"}, "to": {"sideways"}, "confirm": {"yes"}}), http.StatusBadRequest, "a time or an offset")
}

// denyGroupTopic denies everything on one topic.
type denyGroupTopic struct{ topic string }

func (d denyGroupTopic) Authorize(_ auth.Subject, _ auth.Operation, res auth.Resource) bool {
	return res != auth.Topic(d.topic)
}

// TestGroupTimeLagACL: a topic the user may not Describe is not in the
// group's lag, nor its time lag.
func TestGroupTimeLagACL(t *testing.T) {
	tb := startBroker(t, broker.Config{Authorizer: denyGroupTopic{"hidden"}})
	tb.createTopic(t, "shown", 1)
	tb.createTopic(t, "hidden", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "shown", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "shown", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", os); err != nil {
		t.Fatal(err)
	}
	r := tb.get(t, "/groups/g")
	want(t, r, http.StatusOK, `id="total-lag">1<`, ">shown</a>")
	if strings.Contains(r.body, "hidden") {
		t.Fatal("an undescribable topic is shown in a group's lag")
	}
}
