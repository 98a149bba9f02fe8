package broker

// The broker's clock-driven work. The coordinators hand out their
// deadlines as values: the group coordinator returns its next one from
// Tick and hands an earlier one made by a request or an applied write to
// Config.Timer; the transaction coordinator returns its next one from Tick
// and an applied write carries its id's (txn.Write.Deadline); the share
// coordinator returns its next one from Tick, and the share handlers hand
// the earlier one a request made (share.Coordinator.NextDeadline: a
// member's session, a record's acquisition lock) to the schedule. ticker, one
// goroutine owned by the broker, sleeps until the earliest of them and
// ticks the coordinator that is due; a deadline earlier than the one it
// sleeps to wakes it (tickSchedule.at). Failed transaction completions
// and failed transaction log writes are retried after txnRetryBackoff.
// Log work (flush.ms) and fetch-session expiry run every second, which
// also bounds the sleep (the clock, Config.Now, may be a test's).

import (
	"sync"
	"time"
)

// timerSource is a coordinator with deadlines.
type timerSource int

const (
	groupTimers timerSource = iota
	txnTimers
	shareTimers
	numTimerSources
)

const (
	// logTickInterval is how often log work and fetch sessions are ticked.
	logTickInterval = time.Second
	// txnRetryBackoff paces retries of transaction log writes and marker
	// writes that failed (Kafka's retry.backoff.ms default).
	txnRetryBackoff = 100 * time.Millisecond
)

// tickSchedule holds the earliest deadline of each coordinator. The zero
// value is ready to use.
type tickSchedule struct {
	mu   sync.Mutex
	due  [numTimerSources]time.Time // zero: none
	wake chan struct{}
}

func (s *tickSchedule) wakeC() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	return s.wake
}

// at notes that src is due at t (zero: no deadline) and wakes the ticker
// when that is earlier than what it knew.
func (s *tickSchedule) at(src timerSource, t time.Time) {
	if s.merge(src, t) {
		select {
		case s.wakeC() <- struct{}{}:
		default: // a wake is already pending
		}
	}
}

// merge notes a deadline without waking the ticker; it reports whether
// the deadline is earlier than the one known.
func (s *tickSchedule) merge(src timerSource, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.due[src]; !d.IsZero() && !t.Before(d) {
		return false
	}
	s.due[src] = t
	return true
}

// take reports whether src is due at now and clears its deadline if so:
// the tick that follows reports the next one.
func (s *tickSchedule) take(src timerSource, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.due[src]; d.IsZero() || now.Before(d) {
		return false
	}
	s.due[src] = time.Time{}
	return true
}

// earliest is the earliest deadline of any source; zero when none.
func (s *tickSchedule) earliest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e time.Time
	for _, d := range s.due {
		if !d.IsZero() && (e.IsZero() || d.Before(e)) {
			e = d
		}
	}
	return e
}

// ticker drives the broker's time-based work until shutdown: each
// coordinator's Tick when its deadline comes (and once at start, to learn
// the first deadlines), log work and fetch sessions every second.
func (b *Broker) ticker() {
	wake := b.timer.wakeC()
	t := time.NewTimer(0)
	defer t.Stop()
	first := true
	var lastLogTick time.Time
	for {
		select {
		case <-b.done:
			return
		case <-wake:
		case <-t.C:
		}
		now := b.cfg.Now()
		if b.timer.take(groupTimers, now) || first {
			b.timer.merge(groupTimers, b.tickGroups(now))
		}
		if b.timer.take(txnTimers, now) || first {
			b.timer.merge(txnTimers, b.tickTxns(now))
		}
		if b.timer.take(shareTimers, now) || first {
			b.timer.merge(shareTimers, b.tickShares(now))
		}
		first = false
		if now.Sub(lastLogTick) >= logTickInterval {
			lastLogTick = now
			for _, p := range b.allPartitions() {
				if err := p.log.Tick(now); err != nil {
					b.logger.Error("periodic log flush failed", "topic", p.topic, "partition", p.index, "err", err)
				}
			}
			if b.lc.files != nil {
				b.lc.files.Enforce() // log.open.files.max, past it while partitions were busy
			}
			b.sessions.expire()
			b.expireShareSessions()
		}
		sleep := min(logTickInterval, logTickInterval-now.Sub(lastLogTick))
		if e := b.timer.earliest(); !e.IsZero() {
			sleep = min(sleep, e.Sub(now))
		}
		t.Reset(max(sleep, 0))
	}
}

// tickGroups ticks the group coordinator, and in cluster mode every loaded
// one of the __consumer_offsets partitions this broker leads; it returns
// the earliest next deadline (zero: none).
func (b *Broker) tickGroups(now time.Time) time.Time {
	next := b.groups.Tick(now)
	if b.cl == nil {
		return next
	}
	for _, c := range b.cl.loadedCoordinators() {
		if t := c.Tick(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}
