package broker

import (
	"testing"
	"time"
)

// TestIDLocks: transactional ids' locks are independent (one id's
// transaction end or slow append holds up no other id), readers of one id
// share it, a writer excludes them, and an id's lock is dropped when no
// one holds it.
func TestIDLocks(t *testing.T) {
	var l idLocks
	unlockA := l.lock("a")
	done := make(chan struct{})
	go func() {
		l.lock("b")()
		r1 := l.rlock("c")
		r2 := l.rlock("c") // readers share
		r1()
		r2()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("another id waited for a's lock")
	}
	readA := make(chan struct{})
	go func() { l.rlock("a")(); close(readA) }()
	select {
	case <-readA:
		t.Fatal("a reader got a while it was locked for writing")
	default:
	}
	unlockA()
	<-readA
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) != 0 {
		t.Fatalf("locks kept: %v", l.m)
	}
}
