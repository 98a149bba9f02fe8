// Package metrics defines Sluice's Prometheus metrics (names sluice_*,
// mapped to Kafka's JMX names in docs/metrics.md) and serves them.
//
// Two kinds of metrics, chosen so the request path stays cheap:
//
//   - Events the broker reports as they happen (requests, connections,
//     authentication failures, throttling, retention and cleaning) go to
//     metrics resolved in advance: per API key and per listener the
//     counters and histograms are created once (New, Listener), so
//     recording is a few atomic adds, never a label lookup. The request
//     histograms are plain striped counters exported by a collector at
//     scrape time (requests.go).
//   - State the broker already keeps (partition logs and their byte and
//     record counters, consumer groups and their lag, transactions, long
//     polls waiting) is read at scrape time from a Source the broker
//     implements, and written straight in the text format (collector.go):
//     building client_golang metric objects for 10,000 partitions' 80,000
//     series took over a second, writing them takes a few milliseconds.
//
// The event metrics are registered on a registry of their own (not the
// global one), together with the Go runtime and process collectors.
// Handler serves a scrape of both, dropping the series a caller may not
// see (labels topic and group, checked by the broker's authorizer).
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Namespace prefixes every metric name.
const Namespace = "sluice"

// DefaultPartitionSeriesMax is the default cardinality budget: with more
// partitions than this the per-partition series are left out (the
// per-topic ones remain).
const DefaultPartitionSeriesMax = 10000

// latencyBuckets (seconds) span a sub-millisecond local produce to a long
// poll of Kafka's default fetch.max.wait.ms and beyond.
var latencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Options configure New.
type Options struct {
	// APIs are the API keys served, by key, with Kafka's names
	// (kmsg.NameForKey): each gets its request metrics resolved in
	// advance.
	APIs map[int16]string
	// PartitionSeriesMax is the cardinality budget (see
	// DefaultPartitionSeriesMax); 0 means the default, a negative value
	// no per-partition series at all.
	PartitionSeriesMax int
	// Source is read at scrape time; nil: no broker state is exported.
	Source Source
	// Now is the clock of time lag. Default time.Now.
	Now func() time.Time
}

// Metrics holds a broker's metrics. Its recording methods are safe for
// concurrent use; a nil *API or *Listener records nothing.
type Metrics struct {
	reg  *prometheus.Registry
	apis []*API // by API key; nil for a key not served

	requestErrors *prometheus.CounterVec

	listenerAccepted *prometheus.CounterVec
	listenerClosed   *prometheus.CounterVec
	listenerActive   *prometheus.GaugeVec
	authFailures     *prometheus.CounterVec
	listenersMu      sync.Mutex
	listeners        map[string]*Listener

	throttle *prometheus.CounterVec

	state *stateWriter // collector.go; nil without a Source

	retentionSegments prometheus.Counter
	retentionBytes    prometheus.Counter
	cleanerRuns       prometheus.Counter
	cleanerRead       prometheus.Counter
	cleanerReclaimed  prometheus.Counter
	cleanerSegments   prometheus.Counter
	logFlush          prometheus.Histogram
}

// New creates the metrics and registers them, the Go runtime and process
// collectors and, with a Source, the broker state collector.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PartitionSeriesMax == 0 {
		o.PartitionSeriesMax = DefaultPartitionSeriesMax
	}
	m := &Metrics{reg: prometheus.NewRegistry(), listeners: map[string]*Listener{}}
	reg := m.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.requestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "request_errors_total",
		Help: "Error codes in responses, by API and Kafka error name (Kafka's ErrorsPerSec; NONE is not counted)."}, []string{"request", "error"})
	reg.MustRegister(newRequestCollector(m), m.requestErrors) // requests.go
	for key := range o.APIs {
		if key >= 0 && int(key) >= len(m.apis) {
			m.apis = append(m.apis, make([]*API, int(key)+1-len(m.apis))...)
		}
	}
	for key, name := range o.APIs {
		if key < 0 {
			continue
		}
		m.apis[key] = &API{m: m, name: name}
	}

	m.listenerAccepted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "connections_accepted_total",
		Help: "Connections accepted, by listener (Kafka's connection-creation-total)."}, []string{"listener"})
	m.listenerClosed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "connections_closed_total",
		Help: "Connections closed, by listener (Kafka's connection-close-total)."}, []string{"listener"})
	m.listenerActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "connections_active",
		Help: "Open connections, by listener (Kafka's connection-count)."}, []string{"listener"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "authentication_failures_total",
		Help: "Failed authentications (SASL, TLS handshakes, HTTP), by listener (Kafka's failed-authentication-total)."}, []string{"listener"})
	m.throttle = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "quota_throttle_time_seconds_total",
		Help: "Throttle time given to clients, by quota type (produce, fetch, request) and quota entity (Kafka's throttle-time)."}, []string{"quota_type", "user", "client_id"})
	reg.MustRegister(m.listenerAccepted, m.listenerClosed, m.listenerActive, m.authFailures, m.throttle)

	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m.retentionSegments = counter("log_retention_segments_deleted_total", "Segments deleted by retention (retention.ms, retention.bytes) or DeleteRecords.")
	m.retentionBytes = counter("log_retention_deleted_bytes_total", "Bytes of the segments deleted by retention.")
	m.cleanerRuns = counter("log_cleaner_runs_total", "Log cleaner passes over a compacted log.")
	m.cleanerRead = counter("log_cleaner_read_bytes_total", "Bytes the log cleaner read.")
	m.cleanerReclaimed = counter("log_cleaner_reclaimed_bytes_total", "Bytes the log cleaner removed (size of the cleaned segments before minus after).")
	m.cleanerSegments = counter("log_cleaner_segments_cleaned_total", "Segments the log cleaner rewrote.")

	m.logFlush = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "log_flush_seconds",
		Help: "Time of each log flush: the fsyncs of a partition's appended data (flush.messages, flush.ms; Kafka's LogFlushRateAndTimeMs).", Buckets: latencyBuckets[:]})
	reg.MustRegister(m.logFlush)

	if o.Source != nil {
		m.state = &stateWriter{src: o.Source, now: o.Now, maxParts: o.PartitionSeriesMax}
	}
	return m
}

// Registry is the metrics' registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// API returns the request metrics of an API key; nil (which records
// nothing) for a key not given to New.
func (m *Metrics) API(key int16) *API {
	if m == nil || key < 0 || int(key) >= len(m.apis) {
		return nil
	}
	return m.apis[key]
}

// RequestTotals calls fn with each API's name and the requests it has
// handled so far (sluice_requests_total), for the console's request-rate
// charts; no scrape is built.
func (m *Metrics) RequestTotals(fn func(api string, n float64)) {
	if m == nil {
		return
	}
	for _, a := range m.apis {
		if a != nil {
			fn(a.name, float64(a.stats.requests()))
		}
	}
}

// API is one API key's request metrics.
type API struct {
	m     *Metrics
	name  string
	stats requestStats // requests.go
	errs  sync.Map     // int16 -> prometheus.Counter
}

// Observe records one request: the time it queued, its handler's time
// excluding long-poll waits, the long-poll wait, the response write and
// the total. It is ObserveStripe's stripe 0.
func (a *API) Observe(queue, local, remote, send, total time.Duration) {
	a.ObserveStripe(0, queue, local, remote, send, total)
}

// ObserveStripe records one request in one of the API's stripes (any
// number; a caller recording from one connection passes the same one
// each time, so that connections on different cores touch different
// cache lines).
func (a *API) ObserveStripe(stripe uint32, queue, local, remote, send, total time.Duration) {
	if a == nil {
		return
	}
	s := a.stats.stripe(stripe)
	s.observe(histQueue, queue)
	s.observe(histLocal, local)
	s.observe(histRemote, remote)
	s.observe(histSend, send)
	s.observe(histTotal, total)
}

// Error counts one error code of a response (NONE is ignored).
func (a *API) Error(code int16) {
	if a == nil || code == 0 {
		return
	}
	if c, ok := a.errs.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	name := "UNKNOWN_SERVER_ERROR"
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			name = ke.Message
		}
	}
	c, _ := a.errs.LoadOrStore(code, a.m.requestErrors.WithLabelValues(a.name, name))
	c.(prometheus.Counter).Inc()
}

// Listener is one listener's connection metrics, resolved in advance.
type Listener struct {
	accepted, closed, authFailures prometheus.Counter
	active                         prometheus.Gauge
}

// Listener returns the named listener's metrics, creating them the first
// time; nil when m is nil.
func (m *Metrics) Listener(name string) *Listener {
	if m == nil {
		return nil
	}
	m.listenersMu.Lock()
	defer m.listenersMu.Unlock()
	l := m.listeners[name]
	if l == nil {
		l = &Listener{
			accepted:     m.listenerAccepted.WithLabelValues(name),
			closed:       m.listenerClosed.WithLabelValues(name),
			active:       m.listenerActive.WithLabelValues(name),
			authFailures: m.authFailures.WithLabelValues(name),
		}
		m.listeners[name] = l
	}
	return l
}

// Opened records an accepted connection.
func (l *Listener) Opened() {
	if l != nil {
		l.accepted.Inc()
		l.active.Inc()
	}
}

// Closed records a connection closed.
func (l *Listener) Closed() {
	if l != nil {
		l.closed.Inc()
		l.active.Dec()
	}
}

// AuthFailed records a failed authentication.
func (l *Listener) AuthFailed() {
	if l != nil {
		l.authFailures.Inc()
	}
}

// Throttled records throttle time given to a quota entity; quotaType is
// produce, fetch or request.
func (m *Metrics) Throttled(quotaType, user, clientID string, d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	m.throttle.WithLabelValues(quotaType, user, clientID).Add(d.Seconds())
}

// RetentionDeleted records segments deleted by retention.
func (m *Metrics) RetentionDeleted(segments int, bytes int64) {
	if m == nil || segments <= 0 {
		return
	}
	m.retentionSegments.Add(float64(segments))
	m.retentionBytes.Add(float64(bytes))
}

// LogFlushed records one log flush and how long its fsyncs took.
func (m *Metrics) LogFlushed(d time.Duration) {
	if m == nil {
		return
	}
	m.logFlush.Observe(d.Seconds())
}

// Cleaned records one cleaner pass.
func (m *Metrics) Cleaned(segments int, read, before, after int64) {
	if m == nil {
		return
	}
	m.cleanerRuns.Inc()
	m.cleanerSegments.Add(float64(segments))
	m.cleanerRead.Add(float64(read))
	if before > after {
		m.cleanerReclaimed.Add(float64(before - after))
	}
}
