package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metrics"
)

// lagBackend serves GroupLag from a settable value; nothing else.
type lagBackend struct {
	groups []metrics.GroupStats
	totals map[string]float64
}

func (b *lagBackend) Request(context.Context, kmsg.Request) (kmsg.Response, error) {
	return nil, errors.New("not served")
}
func (b *lagBackend) Info() Info                              { return Info{} }
func (b *lagBackend) Registry() (http.Handler, error)         { return nil, ErrNoRegistry }
func (b *lagBackend) GroupLag(time.Time) []metrics.GroupStats { return b.groups }
func (b *lagBackend) RequestTotals() map[string]float64       { return b.totals }
func (b *lagBackend) GroupTimeLag(context.Context, string, time.Time) (map[string]map[int32]float64, error) {
	return nil, errors.New("not served")
}

func TestLagHistory(t *testing.T) {
	be := &lagBackend{}
	c := New(Options{Backend: be, LagSampleEvery: -1})
	defer c.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// Two hours of samples: the ring keeps the last hour.
	for i := range 2 * lagSamples {
		be.groups = []metrics.GroupStats{{Group: "g", Lag: []metrics.PartitionLag{
			{Topic: "seen", Partition: 0, Lag: int64(i), LagSeconds: float64(i)},
			{Topic: "seen", Partition: 1, Lag: 1, LagSeconds: 0.5},
			{Topic: "hidden", Partition: 0, Lag: 1000, LagSeconds: 9999},
		}}}
		c.sampleLag(now.Add(time.Duration(i) * lagSampleEvery))
	}
	end := now.Add(time.Duration(2*lagSamples-1) * lagSampleEvery)
	if n := c.lag.groups["g"].n; n != lagSamples {
		t.Fatalf("%d samples kept, want %d", n, lagSamples)
	}
	charts := c.lagCharts("g", map[string]bool{"seen": true}, end)
	if len(charts) != 2 {
		t.Fatalf("%d charts", len(charts))
	}
	last := 2*lagSamples - 1
	if charts[0].Samples != lagSamples || charts[0].LastLabel != strconvI(last+1) {
		t.Fatalf("offsets chart: %d samples, last %q; want %d, %d", charts[0].Samples, charts[0].LastLabel, lagSamples, last+1)
	}
	if charts[1].MaxLabel != seconds(float64(last)) {
		t.Fatalf("seconds chart peak %q, want %q (a hidden topic must not count)", charts[1].MaxLabel, seconds(float64(last)))
	}
	if got := strings.Count(charts[0].Points, ","); got != lagSamples {
		t.Fatalf("%d points, want %d", got, lagSamples)
	}
	// Nothing visible: zeros, not the hidden topic's lag.
	if ch := c.lagCharts("g", nil, end); ch[0].MaxLabel != "0" {
		t.Fatalf("no visible topic: peak %q", ch[0].MaxLabel)
	}
	// A group gone is forgotten; the number of groups is bounded.
	be.groups = nil
	for i := range maxLagGroups + 10 {
		be.groups = append(be.groups, metrics.GroupStats{Group: "x" + strconvI(i)})
	}
	c.sampleLag(end.Add(lagSampleEvery))
	if _, ok := c.lag.groups["g"]; ok {
		t.Fatal("a deleted group's history is kept")
	}
	if n := len(c.lag.groups); n != maxLagGroups {
		t.Fatalf("%d groups held, want %d", n, maxLagGroups)
	}
	// Samples older than the window are not drawn.
	if ch := c.lagCharts("x1", nil, end.Add(2*lagWindow)); ch[0].Samples != 0 {
		t.Fatalf("%d stale samples drawn", ch[0].Samples)
	}
}

// TestSamplerStops: Close stops the sampling goroutine and waits for it,
// and may be called twice.
func TestSamplerStops(t *testing.T) {
	c := New(Options{Backend: &lagBackend{}, LagSampleEvery: time.Millisecond})
	c.Close()
	select {
	case <-c.done:
	default:
		t.Fatal("sampler still running after Close")
	}
	c.Close()
}

func strconvI(i int) string { return strconv.Itoa(i) }

// TestRequestRates: the overview's rates are the counters' increase per
// second between samples, over the last hour.
func TestRequestRates(t *testing.T) {
	be := &lagBackend{}
	c := New(Options{Backend: be, LagSampleEvery: -1})
	defer c.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if ch := c.rateCharts(now); len(ch) != 3 || ch[0].Samples != 0 {
		t.Fatalf("charts before any sample: %+v", ch)
	}
	c.sampleRequests(now) // nil totals (not ready): no sample
	for i := range 4 {
		// 30 s apart: Produce +300 (10/s), Fetch +600 (20/s), Metadata +30.
		be.totals = map[string]float64{"Produce": float64(300 * i), "Fetch": float64(600 * i), "Metadata": float64(30 * i)}
		c.sampleRequests(now.Add(time.Duration(i) * lagSampleEvery))
	}
	ch := c.rateCharts(now.Add(3 * lagSampleEvery))
	if ch[0].Samples != 3 || ch[0].LastLabel != "31.0/s" {
		t.Fatalf("all requests: %d samples, last %q; want 3, 31.0/s", ch[0].Samples, ch[0].LastLabel)
	}
	if ch[1].ID != "rate-Produce" || ch[1].LastLabel != "10.0/s" || ch[2].LastLabel != "20.0/s" {
		t.Fatalf("per API: %s %q, %s %q", ch[1].ID, ch[1].LastLabel, ch[2].ID, ch[2].LastLabel)
	}
	// A counter reset (restart) is not a negative rate.
	be.totals = map[string]float64{"Produce": 0, "Fetch": 0}
	c.sampleRequests(now.Add(4 * lagSampleEvery))
	if ch := c.rateCharts(now.Add(4 * lagSampleEvery)); ch[0].LastLabel != "0.0/s" {
		t.Fatalf("after a reset: %q", ch[0].LastLabel)
	}
}
