package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Allow says whether a scrape may see series with the label name=value;
// it is asked once per distinct pair and scrape.
type Allow func(name, value string) bool

// Handler serves a scrape in Prometheus' text (or negotiated) format,
// leaving out every series with a label allow refuses; a nil allow keeps
// everything.
func (m *Metrics) Handler(allow Allow) http.Handler {
	var g prometheus.Gatherer = m.reg
	if allow != nil {
		g = filtered{g: m.reg, allow: allow}
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

type filtered struct {
	g     prometheus.Gatherer
	allow Allow
}

type labelPair struct{ name, value string }

func (f filtered) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := f.g.Gather()
	seen := map[labelPair]bool{}
	ok := func(lp *dto.LabelPair) bool {
		k := labelPair{lp.GetName(), lp.GetValue()}
		v, hit := seen[k]
		if !hit {
			v = f.allow(k.name, k.value)
			seen[k] = v
		}
		return v
	}
	out := mfs[:0]
	for _, mf := range mfs {
		kept := mf.Metric[:0]
	metrics:
		for _, mt := range mf.Metric {
			for _, lp := range mt.Label {
				if !ok(lp) {
					continue metrics
				}
			}
			kept = append(kept, mt)
		}
		if len(kept) > 0 {
			mf.Metric = kept
			out = append(out, mf)
		}
	}
	return out, err
}
