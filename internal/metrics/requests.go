package metrics

// The request metrics (sluice_requests_total and the five request time
// histograms, by API) are recorded into plain atomic counters and turned
// into Prometheus metrics at scrape time by requestCollector: recording
// one request is a bucket search over integer nanoseconds and two atomic
// adds per histogram, where client_golang's Histogram took a float
// conversion, a binary search, a compare-and-swap loop for the sum and
// its hot/cold count swapping for each. Every request of an API goes to
// one of a few stripes (chosen by the caller, e.g. per connection), so
// connections serving the same API on different cores do not contend
// for one cache line; a scrape sums the stripes.

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The request time histograms, in the order Observe takes them.
const (
	histQueue = iota
	histLocal
	histRemote
	histSend
	histTotal
	numHists
)

// numStripes is how many stripes an API's request metrics are split in.
const numStripes = 8

// numBuckets counts latencyBuckets and the +Inf bucket.
const numBuckets = len(latencyBuckets) + 1

// latencyBoundsNs are latencyBuckets in nanoseconds.
var latencyBoundsNs = func() (b [len(latencyBuckets)]int64) {
	for i, s := range latencyBuckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// stripe is one stripe of an API's request histograms: per histogram the
// count of each bucket (not cumulative; the last is +Inf) and the sum in
// nanoseconds (which holds 292 years).
type stripe struct {
	counts [numHists][numBuckets]atomic.Uint64
	sums   [numHists]atomic.Int64
	_      [64]byte // no cache line shared with the next stripe
}

// observe adds d to histogram h.
func (s *stripe) observe(h int, d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(latencyBoundsNs) && ns > latencyBoundsNs[i] {
		i++ // Prometheus' buckets are upper bounds, inclusive (le)
	}
	s.counts[h][i].Add(1)
	s.sums[h].Add(ns)
}

// requestStats is an API's request histograms, its stripes allocated on
// its first request.
type requestStats struct {
	stripes atomic.Pointer[[numStripes]stripe]
}

func (r *requestStats) stripe(n uint32) *stripe {
	s := r.stripes.Load()
	if s == nil {
		r.stripes.CompareAndSwap(nil, new([numStripes]stripe))
		s = r.stripes.Load()
	}
	return &s[n%numStripes]
}

// snapshot sums the stripes: per histogram the cumulative bucket counts
// (the last is the total count) and the sum in nanoseconds.
func (r *requestStats) snapshot() (cum [numHists][numBuckets]uint64, sums [numHists]int64) {
	s := r.stripes.Load()
	if s == nil {
		return
	}
	for i := range s {
		for h := range numHists {
			for b := range numBuckets {
				cum[h][b] += s[i].counts[h][b].Load()
			}
			sums[h] += s[i].sums[h].Load()
		}
	}
	for h := range numHists {
		for b := 1; b < numBuckets; b++ {
			cum[h][b] += cum[h][b-1]
		}
	}
	return
}

// requests counts the requests: the count of the total time histogram.
func (r *requestStats) requests() uint64 {
	cum, _ := r.snapshot()
	return cum[histTotal][numBuckets-1]
}

// requestCollector exports every API's request metrics.
type requestCollector struct {
	m        *Metrics
	requests *prometheus.Desc
	hists    [numHists]*prometheus.Desc
}

func newRequestCollector(m *Metrics) *requestCollector {
	hist := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, []string{"request"}, nil)
	}
	return &requestCollector{
		m: m,
		requests: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "requests_total"),
			"Requests handled, by API (Kafka's RequestsPerSec).", []string{"request"}, nil),
		hists: [numHists]*prometheus.Desc{
			histQueue:  hist("request_queue_time_seconds", "Time a request waited after it was read before its handler ran (admission to queued.max.request.bytes; Kafka's RequestQueueTimeMs)."),
			histLocal:  hist("request_local_time_seconds", "Time the handler worked on a request, excluding long-poll waits (Kafka's LocalTimeMs)."),
			histRemote: hist("request_remote_time_seconds", "Time a request waited in a long poll (fetch.max.wait.ms; Kafka's RemoteTimeMs)."),
			histSend:   hist("response_send_time_seconds", "Time to write the response to the socket (Kafka's ResponseSendTimeMs)."),
			histTotal:  hist("request_total_time_seconds", "Time from a request read to its response written (Kafka's TotalTimeMs)."),
		},
	}
}

func (c *requestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	for _, d := range c.hists {
		ch <- d
	}
}

func (c *requestCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.m.apis {
		if a == nil {
			continue
		}
		cum, sums := a.stats.snapshot()
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(cum[histTotal][numBuckets-1]), a.name)
		for h, d := range c.hists {
			buckets := make(map[float64]uint64, len(latencyBuckets))
			for b, le := range latencyBuckets {
				buckets[le] = cum[h][b]
			}
			ch <- prometheus.MustNewConstHistogram(d, cum[h][numBuckets-1], float64(sums[h])/1e9, buckets, a.name)
		}
	}
}
