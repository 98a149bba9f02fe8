package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeSource has n partitions over n/100 topics and a group lagging on
// every partition of the first topic.
type fakeSource struct{ parts []PartitionStats }

func newFakeSource(n int) *fakeSource {
	s := &fakeSource{}
	for i := range n {
		s.parts = append(s.parts, PartitionStats{Topic: fmt.Sprintf("topic-%03d", i/100), Partition: int32(i % 100),
			BytesIn: uint64(i) * 1000, RecordsIn: uint64(i), BytesOut: uint64(i) * 2000, RecordsOut: uint64(i) * 2,
			Size: int64(i) * 1000, Segments: 1, HighWatermark: int64(i), LogStartOffset: 0})
	}
	return s
}

func (s *fakeSource) Partitions() []PartitionStats { return slices.Clone(s.parts) }
func (s *fakeSource) Groups(time.Time) []GroupStats {
	g := GroupStats{Group: "g", Type: "classic", State: "Stable", Members: 3}
	for p := range 100 {
		g.Lag = append(g.Lag, PartitionLag{Topic: "topic-000", Partition: int32(p), Committed: 1, Lag: 5, LagSeconds: 2.5})
	}
	return []GroupStats{g}
}
func (s *fakeSource) Transactions() map[string]int { return map[string]int{"Ongoing": 2, "Empty": 1} }
func (s *fakeSource) FetchWaiting() int            { return 4 }
func (s *fakeSource) Logs() LogStats {
	return LogStats{Loaded: 3, Capped: true, CappedFiles: 5, IdleClosed: 7}
}

func scrape(t testing.TB, h http.Handler) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	took := time.Since(start)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String(), took
}

// allowAllBut099 is an ACL filter hiding one topic of newFakeSource's.
func allowAllBut099(name, value string) bool { return name != "topic" || value != "topic-099" }

// A scrape of 10,000 partitions' series with an ACL filter asked for
// every topic has every allowed partition's series and none of the
// filtered topic's. Its time is BenchmarkScrape10000Partitions' (a timed
// test would flake on a loaded machine).
func TestScrape10000Partitions(t *testing.T) {
	m := New(Options{APIs: map[int16]string{0: "Produce", 1: "Fetch"}, Source: newFakeSource(10000), PartitionSeriesMax: 10000})
	body, took := scrape(t, m.Handler(allowAllBut099))
	series := strings.Count(body, "\nsluice_partition_")
	t.Logf("scrape of 10,000 partitions: %v, %d bytes, %d per-partition series", took, len(body), series)
	if series != 9900*8 {
		t.Fatalf("per-partition series: %d, want %d (100 partitions filtered out)", series, 9900*8)
	}
	if strings.Contains(body, `topic="topic-099"`) {
		t.Fatal("a filtered topic's series are in the scrape")
	}
}

// BenchmarkScrape10000Partitions is the scrape of the test above (the
// issue's target: under 200 ms).
func BenchmarkScrape10000Partitions(b *testing.B) {
	m := New(Options{APIs: map[int16]string{0: "Produce", 1: "Fetch"}, Source: newFakeSource(10000), PartitionSeriesMax: 10000})
	h := m.Handler(allowAllBut099)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	}
}

// Above the budget, no per-partition series; the per-topic ones stay.
func TestPartitionBudget(t *testing.T) {
	m := New(Options{Source: newFakeSource(300), PartitionSeriesMax: 299})
	body, _ := scrape(t, m.Handler(nil))
	if strings.Contains(body, "sluice_partition_") || strings.Contains(body, "sluice_consumer_group_lag{") {
		t.Fatal("per-partition series above the budget")
	}
	for _, want := range []string{`sluice_topic_partitions{topic="topic-002"} 100`, "sluice_metrics_partition_series_dropped 1",
		`sluice_consumer_group_topic_lag{group="g",topic="topic-000"} 500`, `sluice_transactions{state="Ongoing"} 2`, "sluice_fetch_long_polls_waiting 4",
		"sluice_log_partitions_loaded 3", "sluice_log_capped_open_files 5", "sluice_log_idle_closed_total 7"} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	m = New(Options{Source: newFakeSource(300), PartitionSeriesMax: -1})
	if body, _ := scrape(t, m.Handler(nil)); strings.Contains(body, "sluice_partition_") {
		t.Fatal("per-partition series with a negative budget")
	}
}

// Error codes are found at every level of a response.
func TestErrorCodes(t *testing.T) {
	collect := func(r kmsg.Response) []int16 {
		var out []int16
		ErrorCodes(r, func(c int16) { out = append(out, c) })
		slices.Sort(out)
		return out
	}
	md := kmsg.NewPtrMetadataResponse()
	t1, t2 := kmsg.NewMetadataResponseTopic(), kmsg.NewMetadataResponseTopic()
	t1.ErrorCode = kerr.TopicAuthorizationFailed.Code
	p := kmsg.NewMetadataResponseTopicPartition()
	p.ErrorCode = kerr.LeaderNotAvailable.Code
	t2.Partitions = append(t2.Partitions, p, kmsg.NewMetadataResponseTopicPartition())
	md.Topics = append(md.Topics, t1, t2)
	if got := collect(md); !slices.Equal(got, []int16{kerr.LeaderNotAvailable.Code, kerr.TopicAuthorizationFailed.Code}) {
		t.Errorf("metadata: %v", got)
	}
	pr := kmsg.NewPtrProduceResponse()
	pt := kmsg.NewProduceResponseTopic()
	pp := kmsg.NewProduceResponseTopicPartition()
	pp.ErrorCode = kerr.NotLeaderForPartition.Code
	pt.Partitions = append(pt.Partitions, pp, kmsg.NewProduceResponseTopicPartition())
	pr.Topics = append(pr.Topics, pt)
	if got := collect(pr); !slices.Equal(got, []int16{kerr.NotLeaderForPartition.Code}) {
		t.Errorf("produce: %v", got)
	}
	fr := kmsg.NewPtrFetchResponse()
	fr.ErrorCode = kerr.FetchSessionIDNotFound.Code
	if got := collect(fr); !slices.Equal(got, []int16{kerr.FetchSessionIDNotFound.Code}) {
		t.Errorf("fetch: %v", got)
	}
	if got := collect(kmsg.NewPtrApiVersionsResponse()); len(got) != 0 {
		t.Errorf("api versions: %v", got)
	}
}

// Request metrics resolved per API key count and time each request; an
// unknown key records nothing.
func TestAPIObserve(t *testing.T) {
	m := New(Options{APIs: map[int16]string{3: "Metadata"}})
	a := m.API(3)
	a.Observe(time.Millisecond, 2*time.Millisecond, 0, time.Millisecond, 4*time.Millisecond)
	a.Error(kerr.UnknownTopicOrPartition.Code)
	a.Error(kerr.UnknownTopicOrPartition.Code)
	a.Error(0)
	m.API(99).Observe(0, 0, 0, 0, 0) // nil: nothing
	var nilM *Metrics
	nilM.Listener("x").Opened()
	nilM.Throttled("produce", "u", "c", time.Second)
	body, _ := scrape(t, m.Handler(nil))
	for _, want := range []string{`sluice_requests_total{request="Metadata"} 1`,
		`sluice_request_errors_total{error="UNKNOWN_TOPIC_OR_PARTITION",request="Metadata"} 2`,
		`sluice_request_total_time_seconds_sum{request="Metadata"} 0.004`,
		`sluice_request_local_time_seconds_bucket{request="Metadata",le="0.0025"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, `error="NONE"`) {
		t.Error("NONE counted")
	}
}

// The cost the request path pays per request with metrics on: four clock
// reads (conn.handleFrame) and one Observe.
func BenchmarkRequestRecording(b *testing.B) {
	m := New(Options{APIs: map[int16]string{0: "Produce"}})
	a := m.API(0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			t1 := time.Now()
			t2 := time.Now()
			t3 := time.Now()
			a.Observe(t1.Sub(t0), t2.Sub(t1), 0, t3.Sub(t2), t3.Sub(t0))
		}
	})
}

func BenchmarkErrorCodesProduce(b *testing.B) {
	r := kmsg.NewPtrProduceResponse()
	t := kmsg.NewProduceResponseTopic()
	t.Partitions = make([]kmsg.ProduceResponseTopicPartition, 4)
	r.Topics = append(r.Topics, t)
	n := 0
	for b.Loop() {
		ErrorCodes(r, func(int16) { n++ })
	}
}

func BenchmarkErrorCodesMetadata(b *testing.B) {
	r := kmsg.NewPtrMetadataResponse()
	for range 10 {
		t := kmsg.NewMetadataResponseTopic()
		t.Partitions = make([]kmsg.MetadataResponseTopicPartition, 3)
		r.Topics = append(r.Topics, t)
	}
	n := 0
	for b.Loop() {
		ErrorCodes(r, func(int16) { n++ })
	}
}

// Lifecycle and listener events add up; nil metrics record nothing.
func TestLifecycleAndListenerCounters(t *testing.T) {
	m := New(Options{})
	m.RetentionDeleted(2, 300)
	m.RetentionDeleted(0, 0)
	m.Cleaned(3, 1000, 800, 500)
	m.Cleaned(0, 10, 0, 0)
	m.LogFlushed(2 * time.Millisecond)
	m.LogFlushed(20 * time.Millisecond)
	l := m.Listener("SASL")
	if m.Listener("SASL") != l {
		t.Fatal("a listener's metrics resolved twice")
	}
	l.Opened()
	l.Opened()
	l.Closed()
	l.AuthFailed()
	body, _ := scrape(t, m.Handler(nil))
	for _, want := range []string{"sluice_log_retention_segments_deleted_total 2", "sluice_log_retention_deleted_bytes_total 300",
		"sluice_log_cleaner_runs_total 2", "sluice_log_cleaner_segments_cleaned_total 3", "sluice_log_cleaner_read_bytes_total 1010",
		"sluice_log_cleaner_reclaimed_bytes_total 300", `sluice_connections_active{listener="SASL"} 1`,
		`sluice_connections_accepted_total{listener="SASL"} 2`, `sluice_connections_closed_total{listener="SASL"} 1`,
		`sluice_authentication_failures_total{listener="SASL"} 1`, "sluice_log_flush_seconds_count 2",
		`sluice_log_flush_seconds_bucket{le="0.0025"} 1`, `sluice_log_flush_seconds_bucket{le="0.025"} 2`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	var nilM *Metrics
	nilM.RetentionDeleted(1, 1)
	nilM.Cleaned(1, 1, 1, 1)
	nilM.LogFlushed(time.Second)
	nilM.Listener("x").AuthFailed()
}
