package compat

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metricValue is the value of the one series of the scrape matching
// name{labels} exactly (labels as Prometheus writes them, sorted).
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		t.Fatalf("no series %s in the scrape", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func httpBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// The real binary's HTTP listener: health endpoints, and counters that
// read back what a franz-go producer and consumer group did.
func TestMetricsEndpoint(t *testing.T) {
	httpAddr := freePort(t)
	s := startServer(t, "", "--http-listen", httpAddr)
	base := "http://" + httpAddr
	if st, body := httpBody(t, base+"/healthz"); st != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", st, body)
	}
	if st, body := httpBody(t, base+"/readyz"); st != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", st, body)
	}
	if st, _ := httpBody(t, base+"/debug/pprof/"); st != 404 {
		t.Fatalf("pprof without --pprof: %d", st)
	}
	ctx := ctxT(t, 60*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("metered"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "metered"); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		r := &kgo.Record{Value: []byte(fmt.Sprintf("value-%04d", i)), Partition: int32(i % 2)}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumerGroup("metered-group"), kgo.ConsumeTopics("metered"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	consumer.Close()

	st, scrape := httpBody(t, base+"/metrics")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	if v := metricValue(t, scrape, `sluice_topic_records_in_total{topic="metered"}`); v != n {
		t.Errorf("records in: %v, want %d", v, n)
	}
	for p := range 2 {
		tp := fmt.Sprintf(`{topic="metered",partition="%d"}`, p)
		if v := metricValue(t, scrape, "sluice_partition_high_watermark"+tp); v != n/2 {
			t.Errorf("partition %d high watermark %v", p, v)
		}
		if in, size := metricValue(t, scrape, "sluice_partition_bytes_in_total"+tp), metricValue(t, scrape, "sluice_partition_log_size_bytes"+tp); in != size || in == 0 {
			t.Errorf("partition %d: bytes in %v, log size %v", p, in, size)
		}
		gtp := fmt.Sprintf(`{group="metered-group",topic="metered",partition="%d"}`, p)
		if v := metricValue(t, scrape, "sluice_consumer_group_lag"+gtp); v != 0 {
			t.Errorf("partition %d: lag %v after consuming everything", p, v)
		}
	}
	if v := metricValue(t, scrape, `sluice_topic_records_out_total{topic="metered"}`); v < n {
		t.Errorf("records out: %v, want at least %d", v, n)
	}
	if v := metricValue(t, scrape, `sluice_consumer_group_state{group="metered-group",type="classic",state="Empty"}`); v != 1 {
		t.Errorf("group state: %v", v)
	}
	if !strings.Contains(scrape, `sluice_requests_total{request="Produce"}`) || !strings.Contains(scrape, "go_goroutines") {
		t.Error("request or runtime metrics missing")
	}
}
