package quota

import (
	"math"
	"sync"
	"time"
)

// Class is what a quota limits; each has its own rates, as Kafka has one
// ClientQuotaManager per quota type.
type Class uint8

// Quota classes and their keys.
const (
	Produce Class = iota // producer_byte_rate: bytes of produce requests
	Fetch                // consumer_byte_rate: bytes of fetch responses
	Request              // request_percentage: handler time, % of one core
	numClasses
)

var classKeys = [numClasses]string{ProducerByteRate, ConsumerByteRate, RequestPercentage}

// Manager measures rates and computes throttle times as Kafka's
// ClientQuotaManager does: each (user, client id) a quota applies to (the
// names its entity has, Limit) has a rate measured over a sliding window of
// quota.window.num samples of quota.window.size.seconds each; when a record
// takes the rate above the quota, the throttle time is
//
//	(rate - quota) / quota * window length
//
// where the window length is the time the retained samples cover, at least
// (samples - 1) sample spans (Kafka's Rate.windowSize).
type Manager struct {
	store   *Store
	now     func() time.Time
	span    int64 // ms per sample
	samples int

	mu         sync.Mutex
	rates      [numClasses]map[rateKey]*rate
	lastExpire int64 // ms
}

type rateKey struct{ user, client string }

// NewManager returns a manager of the store's quotas.
func NewManager(s *Store, now func() time.Time, samples int, span time.Duration) *Manager {
	m := &Manager{store: s, now: now, span: span.Milliseconds(), samples: samples}
	if m.span <= 0 {
		m.span = 1000
	}
	if m.samples < 1 {
		m.samples = 11
	}
	for i := range m.rates {
		m.rates[i] = map[rateKey]*rate{}
	}
	return m
}

// Store is the quota store the manager enforces.
func (m *Manager) Store() *Store { return m.store }

// Record adds value (bytes, or percent-seconds of handler time for
// Request) to the rate of user and clientID in class c and returns how
// long to throttle them: zero when no quota applies or the rate is within
// it.
func (m *Manager) Record(c Class, user, clientID string, value float64) time.Duration {
	lim := m.store.Lookup(classKeys[c], user, clientID)
	if !lim.OK {
		return 0
	}
	now := m.now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now-m.lastExpire >= int64(m.samples)*m.span {
		m.expireLocked(now)
	}
	k := rateKey{lim.User, lim.Client}
	r := m.rates[c][k]
	if r == nil {
		r = newRate(m.samples, now)
		m.rates[c][k] = r
	}
	r.record(value, now, m.span)
	total, windowMs := r.measure(now, m.span)
	observed := total / (float64(windowMs) / 1000)
	if observed <= lim.Value {
		return 0
	}
	ms := math.Round((observed - lim.Value) / lim.Value * float64(windowMs))
	return time.Duration(ms) * time.Millisecond
}

// expireLocked forgets rates that saw nothing for a whole window, so
// short-lived client ids do not accumulate (Kafka expires idle quota
// sensors after an hour; a forgotten rate restarts at zero, which is what
// an idle window measures anyway). Record calls it once per window.
func (m *Manager) expireLocked(now int64) {
	m.lastExpire = now
	for _, rs := range m.rates {
		for k, r := range rs {
			if now-r.last >= int64(m.samples)*m.span {
				delete(rs, k)
			}
		}
	}
}

// rate is Kafka's Rate over a SampledStat of sums.
type rate struct {
	start []int64 // sample start, ms
	sum   []float64
	cur   int
	last  int64 // last record, ms
}

func newRate(n int, now int64) *rate {
	r := &rate{start: make([]int64, n), sum: make([]float64, n), last: now}
	for i := range r.start {
		r.start[i] = now
	}
	return r
}

func (r *rate) record(v float64, now, span int64) {
	if now-r.start[r.cur] >= span {
		r.cur = (r.cur + 1) % len(r.sum)
		r.start[r.cur], r.sum[r.cur] = now, 0
	}
	r.sum[r.cur] += v
	r.last = now
}

// measure purges samples older than the whole window and returns the sum
// of the rest and the window length in ms.
func (r *rate) measure(now, span int64) (float64, int64) {
	n := int64(len(r.sum))
	total, oldest := 0.0, now
	for i := range r.sum {
		if now-r.start[i] >= n*span {
			r.start[i], r.sum[i] = now, 0
		}
		total += r.sum[i]
		oldest = min(oldest, r.start[i])
	}
	elapsed := now - oldest
	if full := elapsed / span; full < n-1 {
		elapsed += (n - 1 - full) * span
	}
	return total, max(elapsed, 1)
}
