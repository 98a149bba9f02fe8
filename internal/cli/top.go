package cli

// sluice top: a terminal view of a broker's /metrics (internal/metrics),
// refreshed: per-topic rates and disk use, consumer group lag, request
// rates, connections, CPU and memory.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluice-io/sluice/internal/cmdline"
)

const topUsage = `Usage: sluice top [flags]

Shows a broker's activity from its Prometheus metrics (the HTTP listener of
'sluice serve', --http-listen): per topic the bytes and records in and out
per second and the disk used, consumer group lag in records and seconds,
request rates per API, connections, CPU and memory. The view is redrawn
every --interval until interrupted; rates are over the last interval.
--once prints one view (two scrapes --interval apart) and exits.

Examples:
  sluice top
  sluice top --url https://broker:8080/metrics --user admin --password-env ADMIN_PASSWORD
  sluice top --once --interval 5s

Flags:
`

func runTop(ctx context.Context, cio *cmdIO, args []string) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(cio.stderr)
	fs.Usage = func() { fmt.Fprint(cio.stderr, topUsage); fs.PrintDefaults() }
	defURL := cio.getenv("SLUICE_METRICS_URL")
	if defURL == "" {
		defURL = "http://127.0.0.1:8080/metrics"
	}
	url := fs.String("url", defURL, "the broker's metrics `URL` (default $SLUICE_METRICS_URL, else http://127.0.0.1:8080/metrics)")
	user := fs.String("user", "", "HTTP basic user (a SASL/SCRAM user of the broker)")
	passEnv := fs.String("password-env", "", "environment `VARIABLE` holding the password of --user")
	interval := fs.Duration("interval", 2*time.Second, "refresh interval")
	once := fs.Bool("once", false, "print one view and exit")
	rows := fs.Int("rows", 10, "rows per table")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *interval <= 0 || *rows <= 0 {
		return usageError{errors.New("--interval and --rows must be positive")}
	}
	pass := ""
	if *passEnv != "" {
		pass = cio.getenv(*passEnv)
	}
	sc := &topScraper{url: *url, user: *user, pass: pass, client: &http.Client{Timeout: 30 * time.Second}}
	prev, err := sc.scrape(ctx)
	if err != nil {
		return err
	}
	clear := cmdline.Terminal(cio.stdout) && !*once
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := sc.scrape(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if clear {
			fmt.Fprint(cio.stdout, "\x1b[H\x1b[2J")
		}
		if err := renderTop(cio.stdout, *url, prev, cur, *rows); err != nil {
			return err
		}
		if *once {
			return nil
		}
		prev = cur
	}
}

type topScraper struct {
	url, user, pass string
	client          *http.Client
}

// topSnap is one scrape.
type topSnap struct {
	at  time.Time
	mfs map[string]*dto.MetricFamily
}

func (s *topScraper) scrape(ctx context.Context) (*topSnap, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.url, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("--url: %w", err)}
	}
	if s.user != "" {
		req.SetBasicAuth(s.user, s.pass)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scraping %s: %s: %s", s.url, resp.Status, strings.TrimSpace(string(body)))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", s.url, err)
	}
	return &topSnap{at: time.Now(), mfs: mfs}, nil
}

// each calls fn with every series of a family: its labels and value.
func (s *topSnap) each(name string, fn func(labels map[string]string, v float64)) {
	mf := s.mfs[name]
	if mf == nil {
		return
	}
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, lp := range m.Label {
			labels[lp.GetName()] = lp.GetValue()
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		fn(labels, v)
	}
}

// byLabel sums a family's series by one label.
func (s *topSnap) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	s.each(name, func(l map[string]string, v float64) { out[l[label]] += v })
	return out
}

func (s *topSnap) sum(name string) float64 {
	var t float64
	s.each(name, func(_ map[string]string, v float64) { t += v })
	return t
}

// rate is the per-second increase of a counter between two scrapes (0 on
// a reset).
func rate(prev, cur float64, secs float64) float64 {
	if cur < prev || secs <= 0 {
		return 0
	}
	return (cur - prev) / secs
}

func renderTop(w io.Writer, url string, prev, cur *topSnap, rows int) error {
	secs := cur.at.Sub(prev.at).Seconds()
	cpu := rate(prev.sum("process_cpu_seconds_total"), cur.sum("process_cpu_seconds_total"), secs) * 100
	reqRate := rate(prev.sum("sluice_requests_total"), cur.sum("sluice_requests_total"), secs)
	fmt.Fprintf(w, "sluice top  %s  %s  (rates over %.1fs)\n", url, cur.at.Format(time.DateTime), secs)
	fmt.Fprintf(w, "connections %.0f  requests %.0f/s  cpu %.1f%%  memory %s\n\n",
		cur.sum("sluice_connections_active"), reqRate, cpu, humanBytes(cur.sum("process_resident_memory_bytes")))

	type topicRow struct {
		name                             string
		inB, outB, inR, outR, size, part float64
	}
	get := func(s *topSnap, name string) map[string]float64 { return s.byLabel(name, "topic") }
	pIn, cIn := get(prev, "sluice_topic_bytes_in_total"), get(cur, "sluice_topic_bytes_in_total")
	pOut, cOut := get(prev, "sluice_topic_bytes_out_total"), get(cur, "sluice_topic_bytes_out_total")
	pRIn, cRIn := get(prev, "sluice_topic_records_in_total"), get(cur, "sluice_topic_records_in_total")
	pROut, cROut := get(prev, "sluice_topic_records_out_total"), get(cur, "sluice_topic_records_out_total")
	size, parts := get(cur, "sluice_topic_log_size_bytes"), get(cur, "sluice_topic_partitions")
	var topics []topicRow
	for name := range parts {
		topics = append(topics, topicRow{name: name,
			inB: rate(pIn[name], cIn[name], secs), outB: rate(pOut[name], cOut[name], secs),
			inR: rate(pRIn[name], cRIn[name], secs), outR: rate(pROut[name], cROut[name], secs),
			size: size[name], part: parts[name]})
	}
	sort.Slice(topics, func(i, j int) bool {
		a, b := topics[i], topics[j]
		if a.inB+a.outB != b.inB+b.outB {
			return a.inB+a.outB > b.inB+b.outB
		}
		if a.size != b.size {
			return a.size > b.size
		}
		return a.name < b.name
	})
	var disk float64
	for _, t := range topics {
		disk += t.size
	}
	fmt.Fprintf(w, "TOPICS (%d, %s on disk)\n", len(topics), humanBytes(disk))
	tt := newTable(w, "TOPIC", "PARTITIONS", "IN/s", "OUT/s", "RECORDS IN/s", "RECORDS OUT/s", "SIZE")
	for _, t := range topics[:min(rows, len(topics))] {
		tt.row(t.name, fmt.Sprintf("%.0f", t.part), humanBytes(t.inB), humanBytes(t.outB),
			fmt.Sprintf("%.0f", t.inR), fmt.Sprintf("%.0f", t.outR), humanBytes(t.size))
	}
	if err := tt.flush(); err != nil {
		return err
	}

	type lagRow struct {
		group, topic string
		lag, secs    float64
	}
	var lags []lagRow
	lagSecs := map[[2]string]float64{}
	cur.each("sluice_consumer_group_topic_max_lag_seconds", func(l map[string]string, v float64) {
		lagSecs[[2]string{l["group"], l["topic"]}] = v
	})
	cur.each("sluice_consumer_group_topic_lag", func(l map[string]string, v float64) {
		lags = append(lags, lagRow{l["group"], l["topic"], v, lagSecs[[2]string{l["group"], l["topic"]}]})
	})
	sort.Slice(lags, func(i, j int) bool {
		if lags[i].lag != lags[j].lag {
			return lags[i].lag > lags[j].lag
		}
		return lags[i].group+"\x00"+lags[i].topic < lags[j].group+"\x00"+lags[j].topic
	})
	fmt.Fprintf(w, "\nCONSUMER GROUP LAG (%d)\n", len(lags))
	lt := newTable(w, "GROUP", "TOPIC", "LAG", "LAG SECONDS")
	for _, l := range lags[:min(rows, len(lags))] {
		lt.row(l.group, l.topic, fmt.Sprintf("%.0f", l.lag), fmt.Sprintf("%.1f", l.secs))
	}
	if err := lt.flush(); err != nil {
		return err
	}

	type reqRow struct {
		name       string
		rate, errs float64
	}
	pReq, cReq := prev.byLabel("sluice_requests_total", "request"), cur.byLabel("sluice_requests_total", "request")
	pErr, cErr := prev.byLabel("sluice_request_errors_total", "request"), cur.byLabel("sluice_request_errors_total", "request")
	var reqs []reqRow
	for name, v := range cReq {
		if r := rate(pReq[name], v, secs); r > 0 {
			reqs = append(reqs, reqRow{name, r, rate(pErr[name], cErr[name], secs)})
		}
	}
	sort.Slice(reqs, func(i, j int) bool {
		if reqs[i].rate != reqs[j].rate {
			return reqs[i].rate > reqs[j].rate
		}
		return reqs[i].name < reqs[j].name
	})
	fmt.Fprintf(w, "\nREQUESTS\n")
	rt := newTable(w, "API", "REQUESTS/s", "ERRORS/s")
	for _, r := range reqs[:min(rows, len(reqs))] {
		rt.row(r.name, fmt.Sprintf("%.1f", r.rate), fmt.Sprintf("%.1f", r.errs))
	}
	return rt.flush()
}

// humanBytes formats a byte count (or rate) with a binary unit.
func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
