package console

// The overview's request-rate charts: the broker's request counters
// (sluice_requests_total by API, Backend.RequestTotals) sampled by the
// console's sampler with the lag history, lagSamples samples (an hour)
// kept; a chart's points are the rates between consecutive samples.

import (
	"sort"
	"strconv"
	"sync"
	"time"
)

// rateAPIs are charted on their own besides the total (at most
// maxRateAPIs of the busiest are kept otherwise).
var rateAPIs = []string{"Produce", "Fetch"}

type reqSample struct {
	at     time.Time
	total  float64
	perAPI map[string]float64 // rateAPIs only
}

type reqHistory struct {
	mu   sync.Mutex
	s    [lagSamples]reqSample
	n    int
	next int
}

func (c *Console) sampleRequests(now time.Time) {
	totals := c.be.RequestTotals()
	if totals == nil {
		return
	}
	s := reqSample{at: now, perAPI: map[string]float64{}}
	for _, n := range totals {
		s.total += n
	}
	for _, api := range rateAPIs {
		s.perAPI[api] = totals[api]
	}
	h := &c.reqs
	h.mu.Lock()
	h.s[h.next] = s
	h.next = (h.next + 1) % lagSamples
	h.n = min(h.n+1, lagSamples)
	h.mu.Unlock()
}

// rateCharts are the request-rate charts: all requests, then rateAPIs.
func (c *Console) rateCharts(now time.Time) []lagChart {
	h := &c.reqs
	h.mu.Lock()
	ss := make([]reqSample, 0, h.n)
	for i := range h.n {
		ss = append(ss, h.s[(h.next-h.n+i+lagSamples)%lagSamples])
	}
	h.mu.Unlock()
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].at.Before(ss[j].at) })
	perSec := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "/s" }
	series := func(get func(reqSample) float64) ([]time.Time, []float64) {
		var at []time.Time
		var vs []float64
		for i := 1; i < len(ss); i++ {
			dt := ss[i].at.Sub(ss[i-1].at).Seconds()
			if dt <= 0 || now.Sub(ss[i].at) > lagWindow {
				continue
			}
			at = append(at, ss[i].at)
			vs = append(vs, max(0, get(ss[i])-get(ss[i-1]))/dt)
		}
		return at, vs
	}
	at, vs := series(func(s reqSample) float64 { return s.total })
	out := []lagChart{chart("rate-all", "All requests", at, vs, now, perSec)}
	for _, api := range rateAPIs {
		at, vs := series(func(s reqSample) float64 { return s.perAPI[api] })
		out = append(out, chart("rate-"+api, api+" requests", at, vs, now, perSec))
	}
	return out
}
