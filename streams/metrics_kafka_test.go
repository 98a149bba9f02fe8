package streams_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// TestQueryServerServesMetrics: a worker with Metrics and QueryServer
// serves its metrics at GET /metrics.
func TestQueryServerServesMetrics(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "to-in", 4)
	app, _ := setApp(t, addr, "a", streams.AtLeastOnce, streams.Metrics(prometheus.NewRegistry()))
	runApp(t, app)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range 24 {
		rs = append(rs, &kgo.Record{Topic: "to-in", Key: fmt.Appendf(nil, "key%d", i), Value: []byte("1")})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := `sluice_streams_records_processed_total{agent="set",app="to"} 24`
	until(t, "/metrics shows the 24 records", func() error {
		resp, err := http.Get("http://" + app.QueryAddress() + "/metrics")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return fmt.Errorf("GET /metrics: %d, no %q in:\n%s", resp.StatusCode, want, body)
		}
		return nil
	})
}
