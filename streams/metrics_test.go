package streams

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue returns the value of the series name{labels} gathered from
// g, and whether it exists.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestMetrics: the app's counters read back from its registry: records
// per agent, late records per table, batches, restored records with the
// remaining gauge back at 0, and the same through the /metrics handler.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newWinApp(t, ExactlyOnce, TumblingWindows(10*time.Millisecond).Grace(0), 2, Metrics(reg))
	// 6 records, 2 of them late (a@3 and a@4 after stream time 20).
	a.send(t, winRec{"a", 1}, winRec{"a", 20}, winRec{"a", 3}, winRec{"a", 4}, winRec{"b", 25}, winRec{"b", 26})
	app := map[string]string{"app": "win"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range app {
			m[k] = v
		}
		return m
	}
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if got, ok := metricValue(t, reg, name, labels); !ok || got != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
		}
	}
	st := a.app.Stats()
	if st.LateRecords != 2 {
		t.Fatalf("Stats().LateRecords = %d, want 2", st.LateRecords)
	}
	check("sluice_streams_records_processed_total", with("agent", "count"), 6)
	check("sluice_streams_late_records_total", with("table", "counts"), 2)
	check("sluice_streams_batches_total", app, float64(st.Batches))
	check("sluice_streams_batches_aborted_total", app, 0)
	check("sluice_streams_decode_errors_total", app, 0)

	// The tables restore from their changelogs, as after a restart.
	before := a.app.RestoreStats().Restored
	a.d.w.requeueTables()
	if err := a.d.w.restorePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	restored := a.app.RestoreStats().Restored - before
	if restored == 0 {
		t.Fatal("nothing restored")
	}
	check("sluice_streams_restored_records_total", with("table", "counts"), float64(restored))
	check("sluice_streams_restore_remaining_records", with("table", "counts"), 0)

	// /metrics serves the registry (a Gatherer) in the text format.
	srv := httptest.NewServer(a.app.metrics.handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `sluice_streams_late_records_total{app="win",table="counts"} 2`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, body)
	}

	// A second app with the same id on the same registry is refused.
	if _, err := NewApp("win", Metrics(reg)); err == nil {
		t.Error("a second app with the same id registered its metrics on the same registry")
	}
	// Another id may share it.
	if _, err := NewApp("win2", Metrics(reg)); err != nil {
		t.Errorf("an app with another id: %v", err)
	}
}

// TestRestoreProgressGauge: a restore counts its changelog range as
// remaining, what each applied chunk read leaves it, and the end of the
// restore, finished or failed, takes the rest away.
func TestRestoreProgressGauge(t *testing.T) {
	// A Registerer that is not a Gatherer: /metrics serves the app's own.
	reg := prometheus.NewRegistry()
	m, err := newAppMetrics("x", prometheus.WrapRegistererWith(prometheus.Labels{"env": "test"}, reg))
	if err != nil {
		t.Fatal(err)
	}
	remaining := func() float64 {
		v, _ := metricValue(t, m.gatherer, "sluice_streams_restore_remaining_records", map[string]string{"app": "x", "table": "t"})
		return v
	}
	p1 := m.startRestore("t", 10, 110)
	p2 := m.startRestore("t", 0, 50)
	if got := remaining(); got != 150 {
		t.Fatalf("remaining %v, want 150", got)
	}
	p1.applied(60)
	if got := remaining(); got != 100 {
		t.Fatalf("remaining %v after 50 of p1, want 100", got)
	}
	p1.done() // failed or finished: its 50 left no longer count
	if got := remaining(); got != 50 {
		t.Fatalf("remaining %v after p1 ended, want 50", got)
	}
	p2.applied(50)
	p2.done()
	if got := remaining(); got != 0 {
		t.Fatalf("remaining %v after both ended, want 0", got)
	}
	if v, ok := metricValue(t, reg, "sluice_streams_restore_remaining_records", map[string]string{"app": "x", "table": "t", "env": "test"}); !ok || v != 0 {
		t.Errorf("the wrapped registry has %v %v", v, ok)
	}
	var nilMetrics *appMetrics // no Metrics option: every method is a no-op
	nilMetrics.startRestore("t", 0, 10).applied(5)
	nilMetrics.addLate("t")
}
