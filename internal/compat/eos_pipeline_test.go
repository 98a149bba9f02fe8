package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// soakDuration is SLUICE_SOAK (a Go duration, e.g. "10m"): how long the
// soak variants of the randomized tests run. Unset, they run their short
// CI form.
func soakDuration(t testing.TB) time.Duration {
	v := os.Getenv("SLUICE_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("SLUICE_SOAK=%q: want a positive duration such as 10m", v)
	}
	return d
}

// eosStage is one stage of the pipeline: a consumer group reading in,
// writing out in the same transaction as its offsets.
type eosStage struct {
	k       int
	in, out string

	mu      sync.Mutex
	stops   map[int]chan struct{} // running member slots
	commits map[int]int           // member slot -> non-empty transactions committed

	// zombie asks the next member with records to become a zombie: it
	// stops after producing, its supervisor starts a new incarnation
	// with the same transactional id, and the old transaction is
	// committed only after the new one has committed (zombieEnd).
	zombie atomic.Bool
}

// errZombie is how a member's loop hands its open transaction to a zombie.
type errZombie struct{ sess *kgo.GroupTransactSession }

func (errZombie) Error() string { return "turned into a zombie" }

// eosPipeline runs the members of every stage under supervisors that
// restart a member (a fresh client, the same transactional id) whenever
// its client fails, as an application would.
type eosPipeline struct {
	t    *testing.T
	ctx  context.Context
	addr string
	wg   sync.WaitGroup

	commits, aborts, restarts atomic.Int64
	errMu                     sync.Mutex
	lastErrs                  []string // a few restart reasons, for the log
	zombies                   []string // what each zombie's End returned
}

func (p *eosPipeline) noteRestart(who string, err error) {
	p.restarts.Add(1)
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if len(p.lastErrs) < 20 {
		p.lastErrs = append(p.lastErrs, fmt.Sprintf("%s: %v", who, err))
	}
}

// addMember starts member slot of stage st.
func (p *eosPipeline) addMember(st *eosStage, slot int) {
	stop := make(chan struct{})
	st.mu.Lock()
	st.stops[slot] = stop
	st.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.supervise(st, slot, stop)
	}()
}

// removeMember stops member slot of stage st after its current
// transaction and waits until its client is closed.
func (p *eosPipeline) removeMember(st *eosStage, slot int) {
	st.mu.Lock()
	stop := st.stops[slot]
	delete(st.stops, slot)
	st.mu.Unlock()
	close(stop)
}

func (p *eosPipeline) stopAll(stages []*eosStage) {
	for _, st := range stages {
		st.mu.Lock()
		for slot, stop := range st.stops {
			close(stop)
			delete(st.stops, slot)
		}
		st.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		p.t.Errorf("pipeline members did not stop within 60s")
	}
}

func (p *eosPipeline) supervise(st *eosStage, slot int, stop <-chan struct{}) {
	who := fmt.Sprintf("stage%d/member%d", st.k, slot)
	tid := fmt.Sprintf("eos-stage%d-member%d", st.k, slot)
	for inc := 0; ; inc++ {
		select {
		case <-stop:
			return
		case <-p.ctx.Done():
			return
		default:
		}
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(p.addr),
			kgo.TransactionalID(tid),
			kgo.ConsumerGroup(fmt.Sprintf("stage%d", st.k)),
			kgo.ConsumeTopics(st.in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			// No kgo.RequireStableFetchOffsets: franz-go now always
			// asks OffsetFetch for stable offsets (the option is a
			// deprecated no-op).
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.SessionTimeout(10*time.Second),
			kgo.RebalanceTimeout(20*time.Second),
			kgo.ClientID(fmt.Sprintf("%s-%d", who, inc)),
		)
		if err != nil {
			p.t.Errorf("%s: %v", who, err)
			return
		}
		err = p.transform(sess, st, slot, stop)
		if z, ok := err.(errZombie); ok {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.zombieEnd(who, tid, z.sess, st, slot)
			}()
			continue
		}
		sess.Close()
		if err == nil {
			return
		}
		p.noteRestart(fmt.Sprintf("%s incarnation %d", who, inc), err)
		time.Sleep(100 * time.Millisecond)
	}
}

// zombieEnd plays a member that stalled mid-transaction (after producing,
// before ending) and was replaced: it leaves the group (a stalled process
// stops heartbeating and is dropped after the session timeout; leaving is
// the same, sooner), waits until the member's next incarnation (same
// transactional id) has committed a transaction, then asks the broker to
// commit the stale transaction with its old producer id and epoch, which
// the new incarnation's InitProducerId fenced: it must be refused. The
// records it produced must never be read (the final exactly-once check).
func (p *eosPipeline) zombieEnd(who, tid string, sess *kgo.GroupTransactSession, st *eosStage, slot int) {
	defer sess.Close()
	st.mu.Lock()
	before := st.commits[slot]
	st.mu.Unlock()
	id, epoch, idErr := sess.Client().ProducerID(p.ctx)
	lctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	sess.Client().LeaveGroupContext(lctx)
	cancel()
	fenced := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && p.ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		st.mu.Lock()
		fenced = st.commits[slot] > before
		st.mu.Unlock()
		if fenced {
			break
		}
	}
	result := fmt.Sprintf("producer id %d epoch %d (%v)", id, epoch, idErr)
	if idErr == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
		if err != nil {
			p.t.Error(err)
			return
		}
		defer cl.Close()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = tid, id, epoch, true
		resp, err := req.RequestWith(p.ctx, cl)
		switch {
		case err != nil:
			result += fmt.Sprintf(": EndTxn commit: %v", err)
		case resp.ErrorCode == 0 && fenced:
			p.t.Errorf("%s: the broker committed a zombie's transaction (%s) after its transactional id's next incarnation had committed", who, result)
		default:
			result += fmt.Sprintf(": EndTxn commit: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	p.errMu.Lock()
	p.zombies = append(p.zombies, fmt.Sprintf("%s (replacement committed %v): %s", who, fenced, result))
	p.errMu.Unlock()
}

// transform is one incarnation's consume-transform-produce loop; it returns
// nil when stopped and the error that ended it otherwise.
func (p *eosPipeline) transform(sess *kgo.GroupTransactSession, st *eosStage, slot int, stop <-chan struct{}) error {
	suffix := fmt.Sprintf(":%d", st.k)
	failedPolls := 0
	for {
		select {
		case <-stop:
			return nil
		case <-p.ctx.Done():
			return nil
		default:
		}
		pctx, cancel := context.WithCancel(p.ctx)
		go func() {
			select {
			case <-stop:
			case <-pctx.Done():
			}
			cancel()
		}()
		fs := sess.PollFetches(pctx)
		cancel()
		if fs.IsClientClosed() {
			return errors.New("client closed")
		}
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fetchErr = err
			}
		})
		recs := fs.Records()
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for _, r := range recs {
			v := append(append([]byte(nil), r.Value...), suffix...)
			sess.Produce(p.ctx, &kgo.Record{Topic: st.out, Key: r.Key, Value: v}, nil)
		}
		if len(recs) > 0 && st.zombie.CompareAndSwap(true, false) {
			sess.Client().Flush(p.ctx)
			return errZombie{sess}
		}
		committed, err := sess.End(p.ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if len(recs) > 0 {
			if committed {
				p.commits.Add(1)
				st.mu.Lock()
				st.commits[slot]++
				st.mu.Unlock()
			} else {
				p.aborts.Add(1)
			}
		}
		if fetchErr != nil && len(recs) == 0 {
			if failedPolls++; failedPolls >= 100 {
				return fmt.Errorf("fetch keeps failing: %w", fetchErr)
			}
			time.Sleep(100 * time.Millisecond)
		} else {
			failedPolls = 0
		}
	}
}

// outReader reads topics from the start with control records kept, so it
// knows exactly when it has read a partition to a given end offset.
type outReader struct {
	cl   *kgo.Client
	next map[tp]int64 // offset after the last record or marker read
	recs []*kgo.Record
	each func(*kgo.Record) // when set, records go here instead of recs
}

type tp struct {
	topic string
	p     int32
}

func newOutReader(t *testing.T, addr string, level kgo.IsolationLevel, topics ...string) *outReader {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &outReader{cl: cl, next: map[tp]int64{}}
}

// poll reads once; fetch errors are retried by the client, and logged.
func (r *outReader) poll(t *testing.T, ctx context.Context) {
	fs := r.cl.PollFetches(ctx)
	fs.EachError(func(topic string, p int32, err error) {
		if ctx.Err() == nil {
			t.Logf("reading %s[%d]: %v", topic, p, err)
		}
	})
	fs.EachRecord(func(rec *kgo.Record) {
		r.next[tp{rec.Topic, rec.Partition}] = rec.Offset + 1
		switch {
		case rec.Attrs.IsControl():
		case r.each != nil:
			r.each(rec)
		default:
			r.recs = append(r.recs, rec)
		}
	})
}

// readTo reads until every partition is read to its end offset in ends.
func (r *outReader) readTo(t *testing.T, ctx context.Context, ends kadm.ListedOffsets, what string, logs func() string) {
	for {
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if r.next[tp{o.Topic, o.Partition}] < o.Offset {
				done = false
			}
		})
		if done {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: read to %v of end offsets %v:\n%s", what, r.next, ends, logs())
		}
		r.poll(t, ctx)
	}
}

// TestEOSPipelineKill9 runs a three-stage exactly-once pipeline, in -> s1
// -> s2 -> out, each stage a consumer group of kgo.GroupTransactSession
// members (read_committed, stable offsets, one transaction per poll that
// writes the transformed records and commits the offsets read). Input ids
// arrive while members join and leave and the broker is killed with
// SIGKILL and restarted on its data. Members whose client fails are closed
// and started again, as an application would. Every input id must come out
// of the last stage exactly once with all three stages' marks; the
// read_uncommitted view must hold every committed record (and may hold
// aborted ones too).
//
// SLUICE_SOAK=10m runs more input and kills the broker more often.
func TestEOSPipelineKill9(t *testing.T) {
	soak := soakDuration(t) > 0
	n, kills := 20000, []int{55, 85}
	if soak {
		n, kills = 200000, []int{15, 30, 45, 60, 75, 90}
	}
	s := startServer(t, "", "--set", "group.initial.rebalance.delay.ms=0")
	ctx := ctxT(t, 10*time.Minute)
	const parts = 4
	topics := []string{"eos-in", "eos-s1", "eos-s2", "eos-out"}

	feeder, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic(topics[0]), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer feeder.Close()
	adm := kadm.NewClient(feeder)
	if _, err := adm.CreateTopics(ctx, parts, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}

	p := &eosPipeline{t: t, ctx: ctx, addr: s.addr}
	var stages []*eosStage
	for k := 1; k <= 3; k++ {
		stages = append(stages, &eosStage{k: k, in: topics[k-1], out: topics[k], stops: map[int]chan struct{}{}, commits: map[int]int{}})
	}
	defer p.stopAll(stages)
	for i, members := range []int{2, 3, 2} {
		for slot := range members {
			p.addMember(stages[i], slot)
		}
	}

	id := func(i int) string { return fmt.Sprintf("id%07d", i) }
	// The feed, with the membership changes and kills at fractions of it.
	start := time.Now()
	const chunk = 250
	events := map[int][]string{25: {"add"}, 35: {"zombie"}, 45: {"remove"}}
	for _, k := range kills {
		events[k] = append(events[k], "kill")
	}
	if soak {
		events[35] = append(events[35], "add2")
		events[80] = append(events[80], "remove2")
		events[70] = append(events[70], "zombie")
	}
	lastPct := 0
	for i := 0; i < n; i += chunk {
		for j := i; j < min(i+chunk, n); j++ {
			feeder.Produce(ctx, &kgo.Record{Key: []byte(id(j)), Value: []byte(id(j))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("feeding %s: %v", id(j), err)
				}
			})
		}
		if err := feeder.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // spread the input over the run
		pct := (i + chunk) * 100 / n
		for q := lastPct + 1; q <= pct; q++ {
			for _, ev := range events[q] {
				t.Logf("%v: %d%% fed: %s", time.Since(start).Round(time.Millisecond), q, ev)
				switch ev {
				case "add":
					p.addMember(stages[0], 2)
				case "add2":
					p.addMember(stages[2], 2)
				case "zombie":
					stages[1].zombie.Store(true)
				case "remove":
					p.removeMember(stages[1], 0)
				case "remove2":
					p.removeMember(stages[0], 1)
				case "kill":
					s.kill9()
					time.Sleep(200 * time.Millisecond)
					s.start()
				}
			}
		}
		lastPct = pct
	}
	t.Logf("%v: fed %d ids", time.Since(start).Round(time.Millisecond), n)

	// Wait for every id to come out (liveness: a generous deadline), then
	// stop the members and read both views of out to its end.
	committedOut := newOutReader(t, s.addr, kgo.ReadCommitted(), topics[3])
	seen := map[string]bool{}
	read, lastLog := 0, time.Now()
	for len(seen) < n {
		if ctx.Err() != nil {
			p.errMu.Lock()
			reasons := strings.Join(p.lastErrs, "; ")
			p.errMu.Unlock()
			t.Fatalf("only %d of %d ids came out (%d commits, %d aborts, %d member restarts: %s):\n%s",
				len(seen), n, p.commits.Load(), p.aborts.Load(), p.restarts.Load(), reasons, tail(s.logs(), 60))
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			t.Logf("%v: %d ids out; %d commits, %d aborts, %d member restarts; %s", time.Since(start).Round(time.Millisecond),
				len(seen), p.commits.Load(), p.aborts.Load(), p.restarts.Load(), eosLag(ctx, adm, topics))
		}
		committedOut.poll(t, ctx)
		for _, r := range committedOut.recs[read:] {
			seen[string(r.Key)] = true
		}
		read = len(committedOut.recs)
	}
	t.Logf("%v: all %d ids came out; stopping the members", time.Since(start).Round(time.Millisecond), n)
	p.stopAll(stages)
	p.errMu.Lock()
	t.Logf("%d transactions committed, %d aborted, %d member restarts; first restart reasons: %s; zombies: %s",
		p.commits.Load(), p.aborts.Load(), p.restarts.Load(), strings.Join(p.lastErrs, "; "), strings.Join(p.zombies, "; "))
	if len(p.zombies) == 0 {
		t.Errorf("no member turned into a zombie")
	}
	p.errMu.Unlock()

	// With no member left, every transaction ends: at once, or (a
	// transaction left open by an incarnation that failed and was not
	// replaced) at its timeout. Then the last stable offsets are the ends.
	var ends kadm.ListedOffsets
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			t.Fatal(err)
		}
		var open []string
		ends.Each(func(o kadm.ListedOffset) {
			if so, _ := stable.Lookup(o.Topic, o.Partition); so.Err != nil || o.Err != nil || so.Offset != o.Offset {
				open = append(open, fmt.Sprintf("%s[%d]: last stable offset %d (%v), end %d (%v)", o.Topic, o.Partition, so.Offset, so.Err, o.Offset, o.Err))
			}
		})
		if len(open) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactions still open 3 minutes after the members stopped: %s\n%s", strings.Join(open, "; "), tail(s.logs(), 100))
		}
	}
	outEnds := kadm.ListedOffsets{topics[3]: ends[topics[3]]}
	committedOut.readTo(t, ctx, outEnds, "read_committed "+topics[3], s.logs)

	// Exactly once, all three stages, nothing else.
	count := map[string]int{}
	var bad []string
	for _, r := range committedOut.recs {
		k := string(r.Key)
		count[k]++
		if string(r.Value) != k+":1:2:3" && len(bad) < 10 {
			bad = append(bad, fmt.Sprintf("%s=%q at %s[%d]@%d", k, r.Value, r.Topic, r.Partition, r.Offset))
		}
	}
	var dups, lost []string
	for i := range n {
		switch c := count[id(i)]; {
		case c == 0:
			lost = append(lost, id(i))
		case c > 1:
			dups = append(dups, fmt.Sprintf("%s×%d", id(i), c))
		}
		delete(count, id(i))
	}
	var extra []string
	for k := range count {
		extra = append(extra, k)
	}
	if len(bad) > 0 || len(dups) > 0 || len(lost) > 0 || len(extra) > 0 {
		sort.Strings(dups)
		sort.Strings(extra)
		t.Errorf("read_committed %s: %d records for %d ids: %d duplicated %v, %d lost %v, %d unknown %v, wrong values %v",
			topics[3], len(committedOut.recs), n, len(dups), head(dups, 20), len(lost), head(lost, 20), len(extra), head(extra, 20), bad)
		eosExplain(t, ctx, s.addr, topics, dups, lost)
		t.Fatalf("broker log:\n%s", tail(s.logs(), 200))
	}

	uncommitted := newOutReader(t, s.addr, kgo.ReadUncommitted(), topics[3])
	uncommitted.readTo(t, ctx, outEnds, "read_uncommitted "+topics[3], s.logs)
	all := map[string]bool{}
	for _, r := range uncommitted.recs {
		all[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] = true
	}
	for _, r := range committedOut.recs {
		if !all[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] {
			t.Fatalf("read_uncommitted lacks committed record %s at %s[%d]@%d", r.Key, r.Topic, r.Partition, r.Offset)
		}
	}
	t.Logf("read_uncommitted %s: %d records (%d aborted extras), read_committed: %d", topics[3], len(uncommitted.recs),
		len(uncommitted.recs)-len(committedOut.recs), len(committedOut.recs))
}

// eosExplain logs, for a few duplicated or lost ids, where each copy is in
// every topic of the pipeline (read_uncommitted, with the producer id and
// epoch of its batch), to tell which stage went wrong.
func eosExplain(t *testing.T, ctx context.Context, addr string, topics []string, dups, lost []string) {
	want := map[string]bool{}
	for _, d := range head(dups, 5) {
		want[d[:strings.Index(d, "×")]] = true
	}
	for _, l := range head(lost, 5) {
		want[l] = true
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		for _, level := range []kgo.IsolationLevel{kgo.ReadUncommitted(), kgo.ReadCommitted()} {
			r := newOutReader(t, addr, level, topic)
			r.readTo(t, ctx, kadm.ListedOffsets{topic: ends[topic]}, "explaining "+topic, func() string { return "" })
			for _, rec := range r.recs {
				if want[string(rec.Key)] {
					t.Logf("%s committed-view=%v: %s=%q at [%d]@%d producer %d epoch %d", topic, level == kgo.ReadCommitted(), rec.Key, rec.Value,
						rec.Partition, rec.Offset, rec.ProducerID, rec.ProducerEpoch)
				}
			}
		}
	}
}

// eosLag says, per topic, how far the last stable offsets trail the ends
// and how far each stage's group trails its input.
func eosLag(ctx context.Context, adm *kadm.Client, topics []string) string {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err.Error()
	}
	stable, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return err.Error()
	}
	var out []string
	for k, topic := range topics {
		var unstable, lag int64
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == topic {
				so, _ := stable.Lookup(topic, o.Partition)
				unstable += o.Offset - so.Offset
			}
		})
		if k < 3 {
			if offs, err := adm.FetchOffsets(ctx, fmt.Sprintf("stage%d", k+1)); err == nil {
				stable.Each(func(o kadm.ListedOffset) {
					if o.Topic == topic {
						c, _ := offs.Lookup(topic, o.Partition)
						lag += o.Offset - max(c.At, 0)
					}
				})
			}
		}
		out = append(out, fmt.Sprintf("%s: end-LSO %d, group lag %d", topic, unstable, lag))
	}
	return strings.Join(out, "; ")
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
