package broker

import (
	"testing"
	"time"
)

// TestTickSchedule: each coordinator's earliest deadline is kept, an
// earlier one wakes the ticker and a later one does not, and take clears
// a deadline only once it is due.
func TestTickSchedule(t *testing.T) {
	var s tickSchedule
	t0 := time.UnixMilli(1_700_000_000_000)
	woken := func() bool {
		select {
		case <-s.wakeC():
			return true
		default:
			return false
		}
	}
	if !s.earliest().IsZero() || woken() {
		t.Fatal("a new schedule has a deadline or a wake")
	}
	s.at(groupTimers, t0.Add(10*time.Second))
	if !woken() {
		t.Fatal("a first deadline did not wake the ticker")
	}
	s.at(groupTimers, t0.Add(20*time.Second))
	s.at(txnTimers, time.Time{})
	if woken() {
		t.Fatal("a later deadline (or none) woke the ticker")
	}
	s.at(txnTimers, t0.Add(5*time.Second))
	if !woken() || !s.earliest().Equal(t0.Add(5*time.Second)) {
		t.Fatalf("earliest %v after an earlier txn deadline", s.earliest())
	}
	if s.take(txnTimers, t0.Add(4*time.Second)) {
		t.Fatal("took a deadline before it was due")
	}
	if !s.take(txnTimers, t0.Add(5*time.Second)) || s.take(txnTimers, t0.Add(5*time.Second)) {
		t.Fatal("a due deadline is taken exactly once")
	}
	if !s.earliest().Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("earliest %v, want the group's 10s", s.earliest())
	}
	if s.merge(groupTimers, t0.Add(11*time.Second)) || !s.merge(groupTimers, t0.Add(9*time.Second)) || woken() {
		t.Fatal("merge keeps the earliest and never wakes")
	}
}
