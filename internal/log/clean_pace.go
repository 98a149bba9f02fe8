package log

import (
	"time"
)

// Pacing (CleanOptions): while the broker is serving requests, its cleaner
// works at most CleanerDutyCycle of the time, in cleanWorkSlice slices
// (an idle broker's cleaner runs unpaced), and, paced or
// not, yields its core (sched_yield) every cleanYieldInterval, between
// batches and within large ones, so that requests never wait for a core
// behind it for long. Nothing the appenders take is held while it reads
// or writes: only the swap (clean_swap.go) takes rollMu and, briefly, mu.

const (
	// cleanWorkSlice is how long a paced cleaner works before it sleeps
	// (CleanOptions.DutyCycle): short, so that what waits for the core
	// meanwhile waits little, and not much shorter than the sleeps the
	// runtime's timers can make (about a millisecond), since those set
	// the cleaner's rate. A batch is never split, so a slice may run
	// over by one batch's work.
	cleanWorkSlice = time.Millisecond
	// cleanYieldInterval: a cleaner working (paced or not) gives up its
	// core to threads waiting for it this often (yieldThread), so that
	// a request does not wait out the kernel's time slice (milliseconds)
	// behind it.
	cleanYieldInterval = 50 * time.Microsecond
	// cleanPaceBytes: within a batch, the cleaner paces after this many
	// bytes of records (tens of microseconds of work), rather than after
	// each record, whose clock reading would cost more than the record.
	cleanPaceBytes = 16 << 10
)

// CleanerDutyCycle is the duty cycle the broker's cleaner runs at
// (CleanOptions.DutyCycle): at most half a core, so that with every core
// busy a produce request waits for a core behind the cleaner at most half
// the time, and never longer than a slice, while compaction still runs
// at about half its unpaced rate.
const CleanerDutyCycle = 0.5

// pacer keeps one Clean call to its duty cycle and yields its core. Its
// clock, sleep and yield are time.Now, a timer sleep ending early when
// stop closes, and yieldThread, except in tests.
type pacer struct {
	duty      float64
	busy      func() bool   // nil: always paced (CleanOptions.Busy)
	start     time.Time     // of the current work slice
	owed      time.Duration // sleep owed for the work done (negative: slept ahead)
	lastYield time.Time
	bytes     int    // of records processed since the last pace
	buf       []byte // the read window, reused by every pass

	now   func() time.Time
	sleep func(time.Duration)
	yield func()
}

func newPacer(duty float64, busy func() bool, stop <-chan struct{}) *pacer {
	now := time.Now()
	return &pacer{duty: duty, busy: busy, start: now, lastYield: now, buf: make([]byte, cleanWindow),
		now: time.Now, yield: yieldThread,
		sleep: func(d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-stop:
			}
		}}
}

// record is called for each record processed: within a large batch it
// paces every cleanPaceBytes of records, so that a megabyte batch does
// not run a slice over (or go unyielded) by its whole work.
func (p *pacer) record(n int) {
	if p == nil {
		return
	}
	p.bytes += n
	if p.bytes >= cleanPaceBytes {
		p.pace()
	}
}

// pace is called between batches. It yields the core every
// cleanYieldInterval; in a paced Clean, once a work slice has run, it
// sleeps what the duty cycle owes for it. Timers oversleep (by about
// 0.1 ms here); what they overslept is credited to the next slice, up
// to a slice's worth, so the cleaner's rate stays near its duty cycle's
// share of its unpaced rate without a long oversleep buying a long burst
// of work.
func (p *pacer) pace() {
	p.bytes = 0
	now := p.now()
	if now.Sub(p.lastYield) >= cleanYieldInterval {
		p.yield()
		now = p.now()
		p.lastYield = now
	}
	if p.duty <= 0 || p.duty >= 1 {
		return
	}
	worked := now.Sub(p.start)
	if worked < cleanWorkSlice {
		return
	}
	if p.busy != nil && !p.busy() {
		// Nobody to leave the core to: no sleep owed for this slice.
		p.start, p.owed = now, 0
		return
	}
	p.owed += time.Duration(float64(worked) * (1 - p.duty) / p.duty)
	// A sleep much shorter than a slice is carried over instead: it
	// would cost a timer's granularity (about a millisecond) anyway.
	if p.owed > cleanWorkSlice/10 {
		p.sleep(p.owed)
		end := p.now()
		p.owed = max(p.owed-end.Sub(now), -cleanWorkSlice)
		now = end
	}
	p.start = now
}
