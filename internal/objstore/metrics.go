package objstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the object-store metrics, registered on a caller's Registerer
// by NewMetrics. A nil *Metrics is valid and records nothing.
//
//	sluice_objstore_requests_total{op,result}      HTTP attempts (retries count), result ok|not_found|retriable|permanent
//	sluice_objstore_bytes_total{op}                 object bytes sent (put) or received (get)
//	sluice_objstore_request_duration_seconds{op}    latency of each attempt
//	sluice_objstore_errors_total{op,class}          operations that failed after retries, class not_found|retriable|permanent|corrupt
//	sluice_objstore_cache_requests_total{result}    cache reads: memory_hit|disk_hit|miss
//	sluice_objstore_cache_bytes{tier}               bytes held by the cache: memory|disk
//
// op is put, get, delete or list.
type Metrics struct {
	requests   *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	cacheReqs  *prometheus.CounterVec
	cacheBytes *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_objstore_requests_total",
			Help: "Object-store HTTP requests (each retry attempt counts), by operation and result.",
		}, []string{"op", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_objstore_bytes_total",
			Help: "Object bytes sent to (put) or received from (get) the object store.",
		}, []string{"op"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_objstore_request_duration_seconds",
			Help:    "Latency of object-store HTTP requests (each attempt), by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_objstore_errors_total",
			Help: "Object-store operations that failed after their retries, by operation and error class.",
		}, []string{"op", "class"}),
		cacheReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_objstore_cache_requests_total",
			Help: "Reads through the object-store read cache, by result (memory_hit, disk_hit, miss).",
		}, []string{"result"}),
		cacheBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_objstore_cache_bytes",
			Help: "Bytes held by the object-store read cache, by tier (memory, disk).",
		}, []string{"tier"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.bytes, m.duration, m.errors, m.cacheReqs, m.cacheBytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("objstore: registering metrics: %w", err)
		}
	}
	return m, nil
}

// Class names an error's class for metrics and logs: ok, not_found,
// retriable, permanent or corrupt.
func Class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrRetriable):
		return "retriable"
	default:
		return "permanent"
	}
}

func (m *Metrics) attempt(op string, err error, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(op, Class(err)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

func (m *Metrics) addBytes(op string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.bytes.WithLabelValues(op).Add(float64(n))
}

func (m *Metrics) failed(op string, err error) {
	if m == nil || err == nil {
		return
	}
	m.errors.WithLabelValues(op, Class(err)).Inc()
}

func (m *Metrics) cacheRead(result string) {
	if m == nil {
		return
	}
	m.cacheReqs.WithLabelValues(result).Inc()
}

func (m *Metrics) cacheSize(tier string, n int64) {
	if m == nil {
		return
	}
	m.cacheBytes.WithLabelValues(tier).Set(float64(n))
}
