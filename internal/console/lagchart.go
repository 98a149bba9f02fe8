package console

// The consumer-group lag history behind the group page's charts: a ring of
// samples per group over the last hour, kept in memory. A goroutine owned
// by the Console samples every group's lag (Backend.GroupLag, the numbers
// /metrics reports) every lagSampleEvery until Close. Samples are per
// topic, so a page sums only the topics its user may Describe. Memory is
// bounded: lagSamples samples of at most maxLagTopics topics for at most
// maxLagGroups groups.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	lagSampleEvery = 30 * time.Second
	lagWindow      = time.Hour
	lagSamples     = int(lagWindow / lagSampleEvery)
	maxLagGroups   = 1000
	maxLagTopics   = 100
)

// topicLag is a group's lag on one topic at one time.
type topicLag struct {
	Offsets int64   // summed over the partitions
	Seconds float64 // the largest of the partitions'
}

type lagSample struct {
	at     time.Time
	topics map[string]topicLag
}

// lagRing is one group's samples, oldest first once full.
type lagRing struct {
	s    [lagSamples]lagSample
	n    int // samples held
	next int // where the next one goes
}

func (r *lagRing) push(s lagSample) {
	r.s[r.next] = s
	r.next = (r.next + 1) % lagSamples
	r.n = min(r.n+1, lagSamples)
}

// samples are the ring's samples, oldest first.
func (r *lagRing) samples() []lagSample {
	out := make([]lagSample, 0, r.n)
	for i := range r.n {
		out = append(out, r.s[(r.next-r.n+i+lagSamples)%lagSamples])
	}
	return out
}

type lagHistory struct {
	mu     sync.Mutex
	groups map[string]*lagRing
}

// sample records every group's lag at now; groups gone are forgotten.
func (c *Console) sampleLag(now time.Time) {
	gs := c.be.GroupLag(now)
	h := &c.lag
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(gs))
	for _, g := range gs {
		seen[g.Group] = true
	}
	for g := range h.groups {
		if !seen[g] {
			delete(h.groups, g)
		}
	}
	for _, g := range gs {
		r := h.groups[g.Group]
		if r == nil {
			if len(h.groups) >= maxLagGroups {
				continue
			}
			r = &lagRing{}
			h.groups[g.Group] = r
		}
		s := lagSample{at: now, topics: map[string]topicLag{}}
		for _, l := range g.Lag {
			tl, ok := s.topics[l.Topic]
			if !ok && len(s.topics) >= maxLagTopics {
				continue
			}
			tl.Offsets += l.Lag
			tl.Seconds = max(tl.Seconds, l.LagSeconds)
			s.topics[l.Topic] = tl
		}
		r.push(s)
	}
}

// runSampler samples until stop is closed.
func (c *Console) runSampler(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := c.now()
			c.sampleLag(now)
			c.sampleRequests(now)
		}
	}
}

// lagChart is an inline SVG line chart of one series.
type lagChart struct {
	ID, Title  string
	Points     string // the polyline's points
	MaxLabel   string
	LastLabel  string
	Samples    int
	Width      int
	Height     int
	Since, Now string
}

// lagCharts are group's lag charts (offsets and seconds) over the last
// hour, summed over the topics in visible.
func (c *Console) lagCharts(group string, visible map[string]bool, now time.Time) []lagChart {
	c.lag.mu.Lock()
	var ss []lagSample
	if r := c.lag.groups[group]; r != nil {
		ss = r.samples()
	}
	c.lag.mu.Unlock()
	var at []time.Time
	var offs, secs []float64
	for _, s := range ss {
		if now.Sub(s.at) > lagWindow {
			continue
		}
		var o int64
		var sec float64
		for t, tl := range s.topics {
			if visible[t] {
				o += tl.Offsets
				sec = max(sec, tl.Seconds)
			}
		}
		at = append(at, s.at)
		offs = append(offs, float64(o))
		secs = append(secs, sec)
	}
	return []lagChart{
		chart("lag-chart-offsets", "Lag (records)", at, offs, now, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }),
		chart("lag-chart-seconds", "Time lag", at, secs, now, seconds),
	}
}

func chart(id, title string, at []time.Time, vs []float64, now time.Time, label func(float64) string) lagChart {
	const w, h, pad = 600, 120, 4
	ch := lagChart{ID: id, Title: title, Samples: len(vs), Width: w, Height: h,
		Since: now.Add(-lagWindow).UTC().Format("15:04"), Now: now.UTC().Format("15:04")}
	if len(vs) == 0 {
		return ch
	}
	top := 0.0
	for _, v := range vs {
		top = max(top, v)
	}
	ch.MaxLabel, ch.LastLabel = label(top), label(vs[len(vs)-1])
	if top == 0 {
		top = 1
	}
	var b strings.Builder
	start := now.Add(-lagWindow)
	for i, v := range vs {
		x := float64(w) * float64(at[i].Sub(start)) / float64(lagWindow)
		y := pad + (float64(h)-2*pad)*(1-v/top)
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", math.Max(0, math.Min(w, x)), y)
	}
	if len(vs) == 1 { // one sample: a short level line ending at it
		x := float64(w) * float64(at[0].Sub(start)) / float64(lagWindow)
		fmt.Fprintf(&b, " %.1f,%.1f", math.Max(0, math.Min(w, x)-8), pad+(float64(h)-2*pad)*(1-vs[0]/top))
	}
	ch.Points = b.String()
	return ch
}

// seconds is a duration in seconds as people read it.
func seconds(s float64) string {
	switch {
	case s < 60:
		return strconv.FormatFloat(s, 'f', 1, 64) + " s"
	case s < 3600:
		return strconv.FormatFloat(s/60, 'f', 1, 64) + " min"
	case s < 86400:
		return strconv.FormatFloat(s/3600, 'f', 1, 64) + " h"
	}
	return strconv.FormatFloat(s/86400, 'f', 1, 64) + " d"
}
