package streams

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics of an app (Kafka Streams' metrics, in Prometheus
// style), every one labelled app (the app id):
//
//	sluice_streams_records_processed_total{agent}   records handed to each agent (process-total);
//	                                                the join processor is agent "__joins"
//	sluice_streams_late_records_total{table}        records dropped as late (dropped-records-total) by a
//	                                                windowed table, or by a stream-stream join (its name)
//	sluice_streams_restored_records_total{table}    changelog records restored into the table's assigned
//	                                                partitions (restore-total)
//	sluice_streams_restore_remaining_records{table} changelog records the running restores of the table
//	                                                still have to read (restore-remaining-records-total)
//	sluice_streams_standby_records_total{table}     changelog records applied to standby copies (update-total)
//	sluice_streams_batches_total                    batches committed
//	sluice_streams_batches_aborted_total            batches whose transaction aborted (ExactlyOnce)
//	sluice_streams_decode_errors_total              records no agent could decode
//
// They count from NewApp, as Stats and RestoreStats do.

// Metrics registers the app's Prometheus metrics on reg (e.g.
// prometheus.DefaultRegisterer). With QueryServer, the query server also
// serves them at GET /metrics: reg's metrics when reg is also a
// prometheus.Gatherer (a *prometheus.Registry, the default registerer),
// else the app's own. Two apps with different ids may share reg.
func Metrics(reg prometheus.Registerer) Option {
	return func(c *appConfig) error {
		if reg == nil {
			return errors.New("streams: nil Metrics registerer")
		}
		c.registerer = reg
		return nil
	}
}

type appMetrics struct {
	gatherer prometheus.Gatherer // what /metrics serves

	processed, late, restored, standby *prometheus.CounterVec
	remaining                          *prometheus.GaugeVec
	batches, aborted, decodeErrors     prometheus.Counter
}

func newAppMetrics(id string, reg prometheus.Registerer) (*appMetrics, error) {
	own := prometheus.NewRegistry()
	m := &appMetrics{gatherer: own}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	labels := prometheus.Labels{"app": id}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "streams", Name: name, Help: help, ConstLabels: labels}, []string{label})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "streams", Name: name, Help: help, ConstLabels: labels})
	}
	m.processed = counterVec("records_processed_total", "Records handed to the agent.", "agent")
	m.late = counterVec("late_records_total", "Records dropped as late by the windowed table or stream-stream join.", "table")
	m.restored = counterVec("restored_records_total", "Changelog records restored into the table's assigned partitions.", "table")
	m.standby = counterVec("standby_records_total", "Changelog records applied to the table's standby copies.", "table")
	m.remaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "streams", Name: "restore_remaining_records",
		Help: "Changelog records the table's running restores still have to read.", ConstLabels: labels}, []string{"table"})
	m.batches = counter("batches_total", "Batches committed.")
	m.aborted = counter("batches_aborted_total", "Batches whose transaction aborted.")
	m.decodeErrors = counter("decode_errors_total", "Records no agent could decode.")
	cs := []prometheus.Collector{m.processed, m.late, m.restored, m.standby, m.remaining, m.batches, m.aborted, m.decodeErrors}
	for _, c := range cs {
		if err := own.Register(c); err != nil {
			return nil, fmt.Errorf("streams: metrics: %w", err)
		}
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("streams: registering metrics (is another app with id %q registered there?): %w", id, err)
		}
	}
	return m, nil
}

// The methods are no-ops on a nil *appMetrics (no Metrics option).

func (m *appMetrics) processedCounter(agent string) prometheus.Counter {
	if m == nil {
		return nil
	}
	return m.processed.WithLabelValues(agent)
}

func (m *appMetrics) addLate(table string) {
	if m != nil {
		m.late.WithLabelValues(table).Inc()
	}
}

func (m *appMetrics) addRestored(table string, n int64) {
	if m != nil {
		m.restored.WithLabelValues(table).Add(float64(n))
	}
}

func (m *appMetrics) addStandby(table string, n int64) {
	if m != nil && n > 0 {
		m.standby.WithLabelValues(table).Add(float64(n))
	}
}

func (m *appMetrics) addRemaining(table string, n int64) {
	if m != nil {
		m.remaining.WithLabelValues(table).Add(float64(n))
	}
}

func (m *appMetrics) incBatches() {
	if m != nil {
		m.batches.Inc()
	}
}

func (m *appMetrics) incAborted() {
	if m != nil {
		m.aborted.Inc()
	}
}

func (m *appMetrics) incDecodeErrors() {
	if m != nil {
		m.decodeErrors.Inc()
	}
}

// restoreProgress is one partition's restore in the remaining gauge.
type restoreProgress struct {
	m       *appMetrics
	table   string
	at, end int64
}

// startRestore counts a restore of the changelog offsets [from, end) as
// remaining.
func (m *appMetrics) startRestore(table string, from, end int64) *restoreProgress {
	if m == nil {
		return nil
	}
	m.addRemaining(table, end-from)
	return &restoreProgress{m: m, table: table, at: from, end: end}
}

// applied: the store holds the changelog up to next.
func (p *restoreProgress) applied(next int64) {
	if p == nil {
		return
	}
	p.m.addRemaining(p.table, -(next - p.at))
	p.at = next
}

// done: the restore ended; what it did not read no longer counts.
func (p *restoreProgress) done() {
	if p == nil {
		return
	}
	p.m.addRemaining(p.table, -(p.end - p.at))
	p.at = p.end
}

// handler serves the metrics in Prometheus' text format.
func (m *appMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}
