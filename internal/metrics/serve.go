package metrics

import (
	"bufio"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Allow says whether a scrape may see series with the label name=value;
// it is asked once per distinct pair and scrape.
type Allow func(name, value string) bool

// textFormat is what a scrape is served as: Prometheus' text format 0.0.4,
// which every scraper accepts.
var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// Handler serves a scrape in Prometheus' text format (gzipped when the
// scraper accepts it), leaving out every series with a label allow
// refuses; a nil allow keeps everything.
func (m *Metrics) Handler(allow Allow) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var g prometheus.Gatherer = m.reg
		if allow != nil {
			g = filtered{g: m.reg, allow: allow}
		}
		mfs, err := g.Gather()
		if err != nil && len(mfs) == 0 {
			http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(textFormat))
		var bw *bufio.Writer
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			defer zw.Close()
			bw = bufio.NewWriterSize(zw, 64<<10)
		} else {
			bw = bufio.NewWriterSize(w, 64<<10)
		}
		defer bw.Flush()
		enc := expfmt.NewEncoder(bw, textFormat)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				return // the scraper went away
			}
		}
		if m.state != nil {
			m.state.write(bw, allow)
		}
	})
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
