package registry

import (
	"sync"
	"testing"
	"time"
)

// gatedStore is a Store whose appends block until the test opens the gate,
// then succeed or (fail) fail.
type gatedStore struct {
	memStore
	gate    chan struct{}
	entered chan struct{} // one token per append that reached the store
}

func newGatedStore() *gatedStore {
	return &gatedStore{gate: make(chan struct{}), entered: make(chan struct{}, 16)}
}

func (g *gatedStore) Append(recs []Record) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.memStore.Append(recs)
}

// testTimer makes the registry's StoreTimeout timers either already fired
// (expired) or never firing, as the test says.
type testTimer struct {
	mu      sync.Mutex
	expired bool
}

func (tt *testTimer) set(expired bool) {
	tt.mu.Lock()
	tt.expired = expired
	tt.mu.Unlock()
}

func (tt *testTimer) newTimer(time.Duration) (<-chan time.Time, func() bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if !tt.expired {
		return nil, func() bool { return true }
	}
	c := make(chan time.Time)
	close(c)
	return c, func() bool { return false }
}

// A write whose _schemas append does not complete within StoreTimeout is
// answered 50002 and leaves no half-written state: nothing is visible until
// the append lands, later writes wait for it (or answer 50002 themselves),
// and once it lands it is applied exactly once, with the id it was given.
func TestStoreTimeoutAnswers50002(t *testing.T) {
	gs := newGatedStore()
	ts := newTestServer(t, Config{Store: gs})
	var tt testTimer
	ts.reg.newTimer = tt.newTimer
	t.Cleanup(ts.reg.Close)

	tt.set(true) // the append blocks on the gate: the timeout wins
	ts.wantErr("POST", "/subjects/s/versions", SchemaRequest{Schema: avroV1}, 500, codeOperationTimeout)
	<-gs.entered
	// Not applied while the append is in flight.
	ts.wantErr("GET", "/subjects/s/versions", nil, 404, codeSubjectNotFound)
	// Another write cannot decide meanwhile: it answers 50002 without
	// appending anything.
	ts.wantErr("PUT", "/config/s", map[string]string{"compatibility": "NONE"}, 500, codeOperationTimeout)
	select {
	case <-gs.entered:
		t.Fatal("a second append started while the first was pending")
	default:
	}

	// The append lands; the retried registration waits for it and finds
	// the schema registered, with the id the first request was given.
	tt.set(false)
	close(gs.gate)
	if id := ts.register("s", SchemaRequest{Schema: avroV1}); id != 1 {
		t.Fatalf("retried registration got id %d, want 1", id)
	}
	if n := len(gs.records()); n != 1 {
		t.Fatalf("%d records in the store, want 1 (the timed-out write, once)", n)
	}
	var versions []int
	if st, raw := ts.do("GET", "/subjects/s/versions", nil, &versions); st != 200 || len(versions) != 1 || versions[0] != 1 {
		t.Fatalf("versions after the append landed: %d %s", st, raw)
	}
	ts.wantErr("GET", "/config/s", nil, 404, codeSubjectConfigNotFound) // the refused write left nothing
}

// A timed-out append that then fails is never applied, and the next write
// proceeds from the unchanged state.
func TestStoreTimeoutThenFailureIsNotApplied(t *testing.T) {
	gs := newGatedStore()
	ts := newTestServer(t, Config{Store: gs})
	var tt testTimer
	ts.reg.newTimer = tt.newTimer
	t.Cleanup(ts.reg.Close)

	tt.set(true)
	gs.fail = true
	ts.wantErr("POST", "/subjects/s/versions", SchemaRequest{Schema: avroV1}, 500, codeOperationTimeout)
	<-gs.entered
	tt.set(false)
	close(gs.gate)
	ts.reg.Close() // the background append has finished (failed)
	ts.wantErr("GET", "/subjects/s/versions", nil, 404, codeSubjectNotFound)
	gs.mu.Lock()
	gs.fail = false
	gs.mu.Unlock()
	if id := ts.register("s", SchemaRequest{Schema: avroV1}); id != 1 {
		t.Fatalf("id after a failed timed-out write %d, want 1", id)
	}
}

func TestStoreTimeoutDefault(t *testing.T) {
	if r := New(Config{Store: &memStore{}}); r.cfg.StoreTimeout != 500*time.Millisecond {
		t.Fatalf("default StoreTimeout %v, want kafkastore.timeout.ms's 500ms", r.cfg.StoreTimeout)
	}
}
