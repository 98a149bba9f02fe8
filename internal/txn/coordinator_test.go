package txn

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func newTest() (*tc, *time.Time) {
	next := int64(1000)
	c := newT(testConfig{Config: Config{MaxTimeout: time.Minute}, NextProducerID: func() (int64, error) { next++; return next, nil }})
	now := time.UnixMilli(1_700_000_000_000)
	return c, &now
}

var tp0 = TopicPartition{"t", 0}

func TestInitBumpsEpochAndFences(t *testing.T) {
	c, now := newTest()
	if _, err := c.InitProducerID("a", 2*time.Minute, -1, -1, *now); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Fatalf("timeout above max: %v", err)
	}
	r, err := c.InitProducerID("a", time.Second*10, -1, -1, *now)
	if err != nil || r.ProducerID != 1001 || r.Epoch != 0 {
		t.Fatalf("first init: %+v %v", r, err)
	}
	if err := c.AddPartitions("a", r.ProducerID, 0, []TopicPartition{tp0}, *now); err != nil {
		t.Fatal(err)
	}
	r2, err := c.InitProducerID("a", time.Second*10, -1, -1, *now)
	if err != nil || r2.ProducerID != 1001 || r2.Epoch != 1 || r2.Abort == nil || r2.Abort.Commit || r2.Abort.Epoch != 1 {
		t.Fatalf("second init: %+v %v", r2, err)
	}
	// While the abort completes, everything is CONCURRENT_TRANSACTIONS.
	if _, err := c.InitProducerID("a", time.Second*10, -1, -1, *now); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init while aborting: %v", err)
	}
	if _, err := c.EndTxn("a", 1001, 1, true, false, *now); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("end while aborting: %v", err)
	}
	c.Complete(r2.Abort)
	if err := c.AddPartitions("a", 1001, 0, []TopicPartition{tp0}, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("old epoch: %v", err)
	}
	if err := c.Verify("a", 1001, 0, tp0); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("verify old epoch: %v", err)
	}
	// KIP-360: a stale epoch cannot re-initialise.
	if _, err := c.InitProducerID("a", time.Second*10, 1001, 0, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("stale re-init: %v", err)
	}
}

func TestEndTxnAndTimeout(t *testing.T) {
	c, now := newTest()
	r, _ := c.InitProducerID("a", 10*time.Second, -1, -1, *now)
	if _, err := c.EndTxn("a", r.ProducerID, 0, true, false, *now); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit with no transaction: %v", err)
	}
	if res, err := c.EndTxn("a", r.ProducerID, 0, false, false, *now); err != nil || res.Completion != nil || res.Epoch != 0 {
		t.Fatalf("abort with no transaction: %+v %v", res, err)
	}
	offsets := TopicPartition{"__consumer_offsets", 3}
	c.AddPartitions("a", r.ProducerID, 0, []TopicPartition{{"t", 1}, tp0}, *now)
	if err := c.VerifyOffsets("a", r.ProducerID, 0, offsets); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("offsets before AddOffsetsToTxn: %v", err)
	}
	if err := c.AddPartitions("a", r.ProducerID, 0, []TopicPartition{offsets}, *now); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyOffsets("a", r.ProducerID, 0, offsets); err != nil {
		t.Fatal(err)
	}
	res, err := c.EndTxn("a", r.ProducerID, 0, true, false, *now)
	comp := res.Completion
	if err != nil || !comp.Commit || len(comp.Partitions) != 3 || comp.Partitions[0] != offsets || res.Epoch != 0 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	if err := c.Verify("a", r.ProducerID, 0, tp0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("verify while committing: %v", err)
	}
	c.Complete(comp)
	if res, err := c.EndTxn("a", r.ProducerID, 0, true, false, *now); err != nil || res.Completion != nil {
		t.Fatalf("retried commit: %+v %v", res, err)
	}
	// Timeout: Tick aborts and bumps the epoch.
	c.AddPartitions("a", r.ProducerID, 0, []TopicPartition{tp0}, *now)
	if got := c.Tick(now.Add(9 * time.Second)); len(got) != 0 {
		t.Fatalf("aborted early: %v", got)
	}
	got := c.Tick(now.Add(10 * time.Second))
	if len(got) != 1 || got[0].Commit || got[0].Epoch != 1 {
		t.Fatalf("timeout: %+v", got)
	}
	c.Complete(got[0])
	if st, _, ep, _, _ := c.Describe("a"); st != CompleteAbort || ep != 1 {
		t.Fatalf("after timeout: %v epoch %d", st, ep)
	}
	if _, err := c.EndTxn("a", r.ProducerID, 0, true, false, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("timed-out producer commits: %v", err)
	}
}

func TestPersistAndReplay(t *testing.T) {
	type rec struct{ k, v []byte }
	var log []rec
	fail := false
	next := int64(0)
	cfg := testConfig{Config: Config{MaxTimeout: time.Minute}, NextProducerID: func() (int64, error) { next++; return next, nil },
		Persist: func(_ string, k, v []byte) error {
			if fail {
				return errors.New("disk")
			}
			log = append(log, rec{k, v})
			return nil
		}}
	c := newT(cfg)
	now := time.UnixMilli(1_700_000_000_000)
	a, _ := c.InitProducerID("a", 10*time.Second, -1, -1, now)
	b, _ := c.InitProducerID("b", 10*time.Second, -1, -1, now)
	c.InitProducerID("idle", 10*time.Second, -1, -1, now)
	c.AddPartitions("a", a.ProducerID, 0, []TopicPartition{tp0}, now)
	c.AddPartitions("b", b.ProducerID, 0, []TopicPartition{{"t", 1}}, now)
	resB, _ := c.EndTxn("b", b.ProducerID, 0, true, false, now)
	compB := resB.Completion
	// A failed write changes nothing.
	fail = true
	if err := c.AddPartitions("a", a.ProducerID, 0, []TopicPartition{{"u", 0}}, now); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("add with a failing log: %v", err)
	}
	fail = false
	if _, _, _, parts, _ := c.Describe("a"); len(parts) != 1 {
		t.Fatalf("failed add left partitions %v", parts)
	}

	r := newT(cfg)
	for _, x := range log {
		if err := r.Replay(x.k, x.v); err != nil {
			t.Fatal(err)
		}
	}
	comps := r.Loaded(now.Add(time.Second))
	if len(comps) != 1 {
		t.Fatalf("completions after replay: %+v", comps)
	}
	// b was committing: the commit is completed again. a was ongoing and
	// stays so, at its epoch, until it ends or times out from its start.
	if c1 := comps[0]; c1.TransactionalID != "b" || !c1.Commit || c1.Epoch != compB.Epoch || c1.Partitions[0] != (TopicPartition{"t", 1}) {
		t.Fatalf("b: %+v", c1)
	}
	if st, pid, ep, parts, _ := r.Describe("a"); st != Ongoing || pid != a.ProducerID || ep != 0 || len(parts) != 1 {
		t.Fatalf("a after replay: %v %d/%d %v", st, pid, ep, parts)
	}
	if err := r.AddPartitions("a", a.ProducerID, 0, []TopicPartition{{"u", 0}}, now.Add(time.Second)); err != nil {
		t.Fatalf("a goes on after replay: %v", err)
	}
	timedOut := r.Tick(now.Add(10 * time.Second))
	if len(timedOut) != 1 || timedOut[0].TransactionalID != "a" || timedOut[0].Epoch != 1 || len(timedOut[0].Partitions) != 2 {
		t.Fatalf("a times out from its persisted start: %+v", timedOut)
	}
	if st, _, _, _, ok := r.Describe("idle"); !ok || st != Empty {
		t.Fatalf("idle: %v %v", st, ok)
	}
	if open := r.OpenPartitions(); !open[tp0][a.ProducerID] || !open[TopicPartition{"t", 1}][b.ProducerID] {
		t.Fatalf("open partitions: %v", open)
	}
	for _, comp := range append(comps, timedOut...) {
		r.Complete(comp)
	}
	if open := r.OpenPartitions(); len(open) != 0 {
		t.Fatalf("open partitions after completing: %v", open)
	}
}

// TestTransactionVersion2 follows a KIP-890 client: every end bumps the
// epoch, which the markers carry; a retried end from the previous epoch
// succeeds; an empty abort bumps too; the last epoch moves to a new id.
func TestTransactionVersion2(t *testing.T) {
	c, now := newTest()
	r, _ := c.InitProducerID("a", 10*time.Second, -1, -1, *now)
	pid := r.ProducerID
	if err := c.AddPartitions("a", pid, 0, []TopicPartition{tp0}, *now); err != nil {
		t.Fatal(err)
	}
	res, err := c.EndTxn("a", pid, 0, true, true, *now)
	if err != nil || res.Completion == nil || res.Completion.Epoch != 1 || res.ProducerID != pid || res.Epoch != 1 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	if _, err := c.EndTxn("a", pid, 0, true, true, *now); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("retry while completing: %v", err)
	}
	c.Complete(res.Completion)
	if res, err := c.EndTxn("a", pid, 0, true, true, *now); err != nil || res.Completion != nil || res.Epoch != 1 {
		t.Fatalf("retried commit: %+v %v", res, err)
	}
	if _, err := c.EndTxn("a", pid, 0, false, true, *now); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("retry with the other outcome: %v", err)
	}
	// The old epoch is fenced for new work, and its end once the next
	// transaction began.
	if err := c.AddPartitions("a", pid, 0, []TopicPartition{tp0}, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("old epoch adds: %v", err)
	}
	if err := c.AddPartitions("a", pid, 1, []TopicPartition{tp0}, *now); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EndTxn("a", pid, 0, true, true, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("stale end during the next transaction: %v", err)
	}
	res, err = c.EndTxn("a", pid, 1, false, true, *now)
	if err != nil || res.Epoch != 2 {
		t.Fatalf("abort: %+v %v", res, err)
	}
	c.Complete(res.Completion)
	if _, err := c.EndTxn("a", pid, 2, true, true, *now); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit of nothing: %v", err)
	}
	if res, err := c.EndTxn("a", pid, 2, false, true, *now); err != nil || res.Completion != nil || res.Epoch != 3 {
		t.Fatalf("empty abort: %+v %v", res, err)
	}

	// The end that reaches the last epoch hands over a new producer id;
	// its markers still carry the old one.
	c.ids["a"].epoch = 32766
	if err := c.AddPartitions("a", pid, 32766, []TopicPartition{tp0}, *now); err != nil {
		t.Fatal(err)
	}
	res, err = c.EndTxn("a", pid, 32766, false, true, *now)
	if err != nil || res.Completion.ProducerID != pid || res.Completion.Epoch != 32767 || res.ProducerID == pid || res.Epoch != 0 {
		t.Fatalf("exhausting end: %+v %+v %v", res, res.Completion, err)
	}
	next := res.ProducerID
	c.Complete(res.Completion)
	if _, gotPid, ep, _, _ := c.Describe("a"); gotPid != next || ep != 0 {
		t.Fatalf("after the switch: %d/%d", gotPid, ep)
	}
	if res, err := c.EndTxn("a", pid, 32766, false, true, *now); err != nil || res.ProducerID != next || res.Epoch != 0 {
		t.Fatalf("retry from the old id: %+v %v", res, err)
	}
	if err := c.AddPartitions("a", next, 0, []TopicPartition{tp0}, *now); err != nil {
		t.Fatalf("new id: %v", err)
	}
}

// TestVersion2StateReplays: the KIP-890 fields (the next producer id of
// an end that exhausted the epoch, the client's transaction version) are
// persisted, so a restart mid-end completes the switch and recognises a
// retried end.
func TestVersion2StateReplays(t *testing.T) {
	type rec struct{ k, v []byte }
	var records []rec
	next := int64(0)
	cfg := testConfig{Config: Config{MaxTimeout: time.Minute}, NextProducerID: func() (int64, error) { next++; return next, nil },
		Persist: func(_ string, k, v []byte) error { records = append(records, rec{k, v}); return nil }}
	c := newT(cfg)
	now := time.UnixMilli(1_700_000_000_000)
	r, _ := c.InitProducerID("a", 10*time.Second, -1, -1, now)
	c.ids["a"].epoch = 32766
	if err := c.AddPartitions("a", r.ProducerID, 32766, []TopicPartition{tp0}, now); err != nil {
		t.Fatal(err)
	}
	res, err := c.EndTxn("a", r.ProducerID, 32766, true, true, now)
	if err != nil || res.Completion == nil {
		t.Fatalf("end: %+v %v", res, err)
	}
	// Restart while the markers are pending.
	c2 := newT(cfg)
	for _, x := range records {
		if err := c2.Replay(x.k, x.v); err != nil {
			t.Fatal(err)
		}
	}
	comps := c2.Loaded(now)
	if len(comps) != 1 || comps[0].ProducerID != r.ProducerID || comps[0].Epoch != 32767 || !comps[0].Commit {
		t.Fatalf("completion after replay: %+v", comps)
	}
	if err := c2.Complete(comps[0]); err != nil {
		t.Fatal(err)
	}
	if _, pid, ep, _, _ := c2.Describe("a"); pid != res.ProducerID || ep != 0 {
		t.Fatalf("after completing: %d/%d, want %d/0", pid, ep, res.ProducerID)
	}
	if got, err := c2.EndTxn("a", r.ProducerID, 32766, true, true, now); err != nil || got.ProducerID != res.ProducerID || got.Epoch != 0 {
		t.Fatalf("retried end after restart: %+v %v", got, err)
	}
}

// TestIdleIDsExpire: transactional.id.expiration.ms forgets ids with no
// transaction in progress, with a tombstone that replays as a removal;
// an ongoing transaction keeps its id.
func TestIdleIDsExpire(t *testing.T) {
	type rec struct{ k, v []byte }
	var records []rec
	next := int64(0)
	cfg := testConfig{Config: Config{MaxTimeout: 2 * time.Hour, IDExpiration: time.Hour}, NextProducerID: func() (int64, error) { next++; return next, nil },
		Persist: func(_ string, k, v []byte) error { records = append(records, rec{k, v}); return nil }}
	c := newT(cfg)
	now := time.UnixMilli(1_700_000_000_000)
	c.InitProducerID("idle", time.Minute, -1, -1, now)
	b, _ := c.InitProducerID("busy", 2*time.Hour, -1, -1, now)
	c.AddPartitions("busy", b.ProducerID, 0, []TopicPartition{tp0}, now)
	if got := c.Tick(now.Add(time.Hour - time.Millisecond)); len(got) != 0 {
		t.Fatalf("early tick: %+v", got)
	}
	if _, ok := c.Get("idle"); !ok {
		t.Fatal("idle id expired early")
	}
	c.Tick(now.Add(time.Hour))
	if _, ok := c.Get("idle"); ok {
		t.Fatal("idle id kept after its expiration")
	}
	if in, ok := c.Get("busy"); !ok || in.State != Ongoing {
		t.Fatalf("ongoing id: %+v %v", in, ok)
	}
	last := records[len(records)-1]
	if last.v != nil {
		t.Fatal("no tombstone written")
	}
	r := newT(cfg)
	for _, x := range records {
		if err := r.Replay(x.k, x.v); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := r.Get("idle"); ok {
		t.Fatal("expired id back after replay")
	}
	if _, ok := r.Get("busy"); !ok {
		t.Fatal("busy id lost in replay")
	}
}

// TestVersion2AbortAfterTimeout: a version-2 client whose transaction
// timed out (the coordinator bumped the epoch and aborted it) may still
// abort at its old epoch and go on with the bumped one, as Kafka treats it
// as a retry; committing is refused, and a version-1 client is fenced.
func TestVersion2AbortAfterTimeout(t *testing.T) {
	c, now := newTest()
	r, _ := c.InitProducerID("a", 10*time.Second, -1, -1, *now)
	c.AddPartitions("a", r.ProducerID, 0, []TopicPartition{tp0}, *now)
	got := c.Tick(now.Add(10 * time.Second))
	if len(got) != 1 {
		t.Fatalf("timeout: %+v", got)
	}
	c.Complete(got[0])
	if _, err := c.EndTxn("a", r.ProducerID, 0, true, true, *now); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("v2 commit after the timeout: %v", err)
	}
	if _, err := c.EndTxn("a", r.ProducerID, 0, false, false, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("v1 abort after the timeout: %v", err)
	}
	res, err := c.EndTxn("a", r.ProducerID, 0, false, true, *now)
	if err != nil || res.ProducerID != r.ProducerID || res.Epoch != 1 || res.Completion != nil {
		t.Fatalf("v2 abort after the timeout: %+v %v", res, err)
	}
	// After InitProducerId's bump the old epoch is fenced, not retried.
	r2, _ := c.InitProducerID("a", 10*time.Second, -1, -1, *now)
	if _, err := c.EndTxn("a", r.ProducerID, r2.Epoch-1, false, true, *now); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("v2 abort at the epoch before InitProducerId: %v", err)
	}
}

// TestInitRollsBackWhenNoNewID: InitProducerId at an exhausted epoch
// needs a new producer id; when the coordinator has none left (and the
// block it asks for cannot be persisted) it answers
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka does, and nothing changes.
func TestInitRollsBackWhenNoNewID(t *testing.T) {
	fail := false
	next := int64(0)
	c := newT(testConfig{Config: Config{MaxTimeout: time.Minute}, NextProducerID: func() (int64, error) {
		if fail {
			return 0, errors.New("no ids")
		}
		next++
		return next, nil
	}})
	now := time.UnixMilli(1_700_000_000_000)
	r, _ := c.InitProducerID("a", 10*time.Second, -1, -1, now)
	c.ids["a"].epoch = 32766
	before, _ := c.Get("a")
	fail = true
	c.pids = nil // the block handed in after the first init is used up
	if _, err := c.InitProducerID("a", 20*time.Second, -1, -1, now.Add(time.Second)); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("init without ids: %v", err)
	}
	if after, _ := c.Get("a"); after.ProducerID != r.ProducerID || after.Epoch != before.Epoch || after.Timeout != before.Timeout {
		t.Fatalf("metadata changed: %+v, was %+v", after, before)
	}
}

// TestTickOrderIsDeterministic: Tick's writes (timeouts and expiries) come
// out sorted by transactional id, whatever the map's order.
func TestTickOrderIsDeterministic(t *testing.T) {
	c, now := newTest()
	for i := range 50 {
		id := fmt.Sprintf("id-%02d", (i*37)%50)
		r, err := c.InitProducerID(id, 10*time.Second, -1, -1, *now)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := c.AddPartitions(id, r.ProducerID, 0, []TopicPartition{tp0}, *now); err != nil {
				t.Fatal(err)
			}
		}
	}
	ws, _ := c.Coordinator.Tick(now.Add(7 * 24 * time.Hour))
	if len(ws) != 50 {
		t.Fatalf("%d writes, want 50", len(ws))
	}
	for i, w := range ws {
		if want := fmt.Sprintf("id-%02d", i); w.ID != want {
			t.Fatalf("write %d is for %s, want %s", i, w.ID, want)
		}
	}
}

// TestSlowWriteDoesNotStallOtherIDs (issue #13): while one id's
// transaction log write is out (its append slow), other ids go through
// whole transactions; requests on the slow id get CONCURRENT_TRANSACTIONS
// until it is applied. The coordinator used to append under its mutex.
func TestSlowWriteDoesNotStallOtherIDs(t *testing.T) {
	c, now := newTest()
	c.ProducerIDs(ProducerIDBlock{Start: 1, End: 100}, nil)
	_, slow, err := c.Coordinator.InitProducerID("slow", 10*time.Second, -1, -1, *now)
	if err != nil || slow == nil {
		t.Fatal(slow, err)
	}
	r, err := c.InitProducerID("fast", 10*time.Second, -1, -1, *now)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions("fast", r.ProducerID, 0, []TopicPartition{tp0}, *now); err != nil {
		t.Fatal(err)
	}
	res, err := c.EndTxn("fast", r.ProducerID, 0, true, false, *now)
	if err != nil || c.Complete(res.Completion) != nil {
		t.Fatal(res, err)
	}
	if _, _, err := c.Coordinator.InitProducerID("slow", 10*time.Second, -1, -1, *now); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("a second init while the first is out: %v", err)
	}
	if err := c.Applied(slow, nil); err != nil {
		t.Fatal(err)
	}
	if in, ok := c.Get("slow"); !ok || in.State != Empty {
		t.Fatalf("slow after its write: %+v %v", in, ok)
	}
}
