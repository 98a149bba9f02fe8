package compat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What the test knows of a transaction's outcome.
const (
	txnPending   = iota
	txnCommitted // EndTxn(commit) succeeded: every record must be read
	txnAborted   // the test aborted it, or never asked to commit: no record may be read
	txnUnknown   // the commit failed with an error: all or nothing
)

var txnStatusName = [...]string{"pending", "committed", "aborted", "unknown"}

// chkTxn is one transaction of one producer: the partition of each record
// (its index in plan) and what became of it.
type chkTxn struct {
	plan   []tp
	commit bool // the test's intent
	status int
	after  bool   // began after the last broker restart
	detail string // the error that made it unknown or aborted
}

// TestTxnChecker runs concurrent transactional franz-go producers over
// overlapping partitions of three topics. Each transaction writes a random
// number of records to random partitions and is committed or aborted at
// random, while the broker is killed with SIGKILL and restarted on its data
// at random moments. A producer whose client fails is closed and replaced
// by a new one with the same transactional id. At the end a read_committed
// reader must see every transaction whose commit succeeded whole, nothing
// of one the test aborted, each transaction whose commit failed with an
// error whole or not at all, no record twice, each transaction's records
// in its produce order in every partition, and each producer's
// transactions in their order.
//
// The RNG seed is logged; SLUICE_TXN_SEED=N replays the producers' choices
// and the restart times (not the scheduling). SLUICE_SOAK=10m runs ten
// minutes with a restart every 2-12 s:
//
//	SLUICE_SOAK=10m go test -race -count=1 -timeout 30m -run TestTxnChecker ./internal/compat/
func TestTxnChecker(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SLUICE_TXN_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SLUICE_TXN_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (SLUICE_TXN_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dur, producers := 25*time.Second, 6
	var restartAt []time.Duration // CI: two restarts at random moments
	if soak := soakDuration(t); soak > 0 {
		dur, producers = soak, 8
		for at := time.Duration(0); ; {
			at += 2*time.Second + time.Duration(rng.Int64N(int64(10*time.Second)))
			if at > dur-5*time.Second {
				break
			}
			restartAt = append(restartAt, at)
		}
	} else {
		for range 2 {
			restartAt = append(restartAt, 3*time.Second+time.Duration(rng.Int64N(int64(dur-11*time.Second))))
		}
		sort.Slice(restartAt, func(i, j int) bool { return restartAt[i] < restartAt[j] })
	}

	s := startServer(t, "")
	ctx := ctxT(t, dur+5*time.Minute)
	topics := map[string]int32{"chk-a": 4, "chk-b": 3, "chk-c": 2}
	var names []string
	var all []tp
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for p := range topics[name] {
			all = append(all, tp{name, p})
		}
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	for _, name := range names {
		if _, err := adm.CreateTopic(ctx, topics[name], 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}

	results := make([][]*chkTxn, producers)
	var restarts []string // producer incarnations replaced, and why
	var restartsMu sync.Mutex
	var afterLastRestart atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range producers {
		prng := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tid := fmt.Sprintf("chk-%d", w)
			for inc := 0; ; inc++ {
				select {
				case <-stop:
					return
				default:
				}
				cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.TransactionalID(tid), kgo.RecordPartitioner(kgo.ManualPartitioner()),
					kgo.TransactionTimeout(10*time.Second), kgo.ClientID(fmt.Sprintf("%s-%d", tid, inc)))
				if err != nil {
					t.Error(err)
					return
				}
				err = chkProduce(ctx, cl, w, prng, all, &results[w], stop, &afterLastRestart)
				cl.Close()
				if err == nil {
					return
				}
				restartsMu.Lock()
				restarts = append(restarts, fmt.Sprintf("%s incarnation %d: %v", tid, inc, err))
				restartsMu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	start := time.Now()
	for i, at := range restartAt {
		time.Sleep(time.Until(start.Add(at)))
		t.Logf("%v: kill -9 and restart", time.Since(start).Round(time.Millisecond))
		s.kill9()
		time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		s.start()
		if i == len(restartAt)-1 {
			afterLastRestart.Store(true)
		}
	}
	time.Sleep(time.Until(start.Add(dur)))
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("producers did not stop:\n%s", tail(s.logs(), 100))
	}

	// A last transaction per id, aborted: its InitProducerId fences and
	// aborts whatever a failed incarnation left open.
	for w := range producers {
		for try := 0; ; try++ {
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.TransactionalID(fmt.Sprintf("chk-%d", w)),
				kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			x := len(results[w])
			results[w] = append(results[w], &chkTxn{plan: []tp{all[0]}, status: txnAborted, detail: "fence"})
			err = cl.BeginTransaction()
			if err == nil {
				err = cl.ProduceSync(ctx, chkRecord(w, x, 0, all[0], false)).FirstErr()
			}
			if err == nil {
				err = cl.EndTransaction(ctx, kgo.TryAbort)
			}
			cl.Close()
			if err == nil {
				break
			}
			if try == 10 || ctx.Err() != nil {
				t.Fatalf("fencing chk-%d: %v", w, err)
			}
		}
	}

	counts := map[int]int{}
	committedAfter := 0
	for _, txns := range results {
		for _, x := range txns {
			counts[x.status]++
			if x.status == txnCommitted && x.after {
				committedAfter++
			}
		}
	}
	restartsMu.Lock()
	t.Logf("%v: %d producers, %d broker restarts, %d transactions: %d committed (%d after the last restart), %d aborted, %d unknown; %d producer incarnations replaced: %s",
		time.Since(start).Round(time.Millisecond), producers, len(restartAt), counts[txnCommitted]+counts[txnAborted]+counts[txnUnknown],
		counts[txnCommitted], committedAfter, counts[txnAborted], counts[txnUnknown], len(restarts), strings.Join(head(restarts, 10), "; "))
	restartsMu.Unlock()
	if counts[txnPending] != 0 {
		t.Fatalf("%d transactions left pending", counts[txnPending])
	}
	if committedAfter == 0 {
		t.Errorf("no transaction committed after the last restart")
	}

	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	check := newChkChecker(results)
	r := newOutReader(t, s.addr, kgo.ReadCommitted(), names...)
	r.each = check.add // not kept: a soak reads millions
	r.readTo(t, ctx, ends, "read_committed", s.logs)
	if problems := check.finish(); len(problems) > 0 {
		t.Errorf("seed %d: %d violations:\n%s", seed, len(problems), strings.Join(head(problems, 30), "\n"))
		t.Fatalf("broker log:\n%s", tail(s.logs(), 200))
	}
}

func chkRecord(w, x, i int, at tp, commit bool) *kgo.Record {
	intent := "abort"
	if commit {
		intent = "commit"
	}
	return &kgo.Record{Topic: at.topic, Partition: at.p, Key: []byte(fmt.Sprintf("%d/%d/%d", w, x, i)),
		Value: []byte(fmt.Sprintf("producer %d txn %d record %d %s", w, x, i, intent))}
}

// chkProduce runs transactions on cl until stop (nil) or a failure that
// needs a new client (the error).
func chkProduce(ctx context.Context, cl *kgo.Client, w int, rng *rand.Rand, all []tp, results *[]*chkTxn, stop <-chan struct{}, after *atomic.Bool) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		x := len(*results)
		txn := &chkTxn{commit: rng.IntN(3) > 0, after: after.Load(), status: txnAborted}
		for range 1 + rng.IntN(20) {
			txn.plan = append(txn.plan, all[rng.IntN(len(all))])
		}
		*results = append(*results, txn)
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // a little time for the other producers
		if err := cl.BeginTransaction(); err != nil {
			txn.detail = "begin: " + err.Error()
			return fmt.Errorf("begin: %w", err)
		}
		var failed atomic.Int64
		for i, at := range txn.plan {
			cl.Produce(ctx, chkRecord(w, x, i, at, txn.commit), func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		if !txn.commit || failed.Load() > 0 {
			// Aborted by intent, or because a record failed (as an
			// application must): nothing of it may be read.
			if failed.Load() > 0 {
				txn.detail = fmt.Sprintf("%d records failed", failed.Load())
			}
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				txn.detail += "; abort: " + err.Error()
				return fmt.Errorf("abort: %w", err)
			}
			continue
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			txn.status, txn.detail = txnUnknown, err.Error()
			// The documented way on: abort what may be left, or a new client.
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("commit failed, then abort: %w", err)
			}
			continue
		}
		txn.status = txnCommitted
	}
}

// chkChecker compares what a read_committed reader sees (in offset order
// per partition) with what the producers know, and lists every violation.
type chkChecker struct {
	results  [][]*chkTxn
	got      map[[2]int]map[int]bool // transaction -> indexes read
	lastIdx  map[[2]int]map[tp]int   // transaction -> partition -> last index read there
	lastTxn  map[int]map[tp]int      // producer -> partition -> last transaction read there
	problems []string
}

func newChkChecker(results [][]*chkTxn) *chkChecker {
	return &chkChecker{results: results, got: map[[2]int]map[int]bool{}, lastIdx: map[[2]int]map[tp]int{}, lastTxn: map[int]map[tp]int{}}
}

func (c *chkChecker) add(r *kgo.Record) {
	at := tp{r.Topic, r.Partition}
	var w, x, i int
	if _, err := fmt.Sscanf(string(r.Key), "%d/%d/%d", &w, &x, &i); err != nil || w >= len(c.results) || x >= len(c.results[w]) {
		c.problems = append(c.problems, fmt.Sprintf("%s[%d]@%d: unknown record %q=%q", r.Topic, r.Partition, r.Offset, r.Key, r.Value))
		return
	}
	k, txn := [2]int{w, x}, c.results[w][x]
	where := fmt.Sprintf("%s[%d]@%d: producer %d txn %d (%s, %d records, %s) record %d", r.Topic, r.Partition, r.Offset, w, x,
		txnStatusName[txn.status], len(txn.plan), txn.detail, i)
	if i >= len(txn.plan) || txn.plan[i] != at || string(r.Value) != string(chkRecord(w, x, i, at, txn.commit).Value) {
		c.problems = append(c.problems, where+fmt.Sprintf(": not what was produced: %q", r.Value))
		return
	}
	if c.got[k] == nil {
		c.got[k], c.lastIdx[k] = map[int]bool{}, map[tp]int{}
	}
	if c.got[k][i] {
		c.problems = append(c.problems, where+": read twice")
	}
	c.got[k][i] = true
	if last, ok := c.lastIdx[k][at]; ok && i <= last {
		c.problems = append(c.problems, where+fmt.Sprintf(": after record %d of the same transaction", last))
	}
	c.lastIdx[k][at] = i
	if c.lastTxn[w] == nil {
		c.lastTxn[w] = map[tp]int{}
	}
	if last, ok := c.lastTxn[w][at]; ok && x < last {
		c.problems = append(c.problems, where+fmt.Sprintf(": after the producer's later transaction %d", last))
	}
	c.lastTxn[w][at] = x
}

// finish checks every transaction's outcome against what was read.
func (c *chkChecker) finish() []string {
	for w, txns := range c.results {
		for x, txn := range txns {
			n := len(c.got[[2]int{w, x}])
			ok := false
			switch txn.status {
			case txnCommitted:
				ok = n == len(txn.plan)
			case txnAborted:
				ok = n == 0
			case txnUnknown:
				ok = n == 0 || n == len(txn.plan)
			}
			if !ok {
				c.problems = append(c.problems, fmt.Sprintf("producer %d txn %d (%s: %s): read %d of its %d records, on %v",
					w, x, txnStatusName[txn.status], txn.detail, n, len(txn.plan), txn.plan))
			}
		}
	}
	return c.problems
}

func chkCheck(results [][]*chkTxn, recs []*kgo.Record) []string {
	c := newChkChecker(results)
	for _, r := range recs {
		c.add(r)
	}
	return c.finish()
}

// TestTxnCheckerDetects feeds the checker made-up reads with one violation
// each: it must report them, and nothing in a correct read.
func TestTxnCheckerDetects(t *testing.T) {
	a0, a1, b0 := tp{"a", 0}, tp{"a", 1}, tp{"b", 0}
	results := [][]*chkTxn{{
		{plan: []tp{a0, a1}, commit: true, status: txnCommitted},
		{plan: []tp{a0}, status: txnAborted},
		{plan: []tp{a0, b0}, commit: true, status: txnUnknown},
		{plan: []tp{a0, a0}, commit: true, status: txnCommitted},
	}}
	rec := func(x, i int, at tp) *kgo.Record { return chkRecord(0, x, i, at, results[0][x].commit) }
	read := func(rs ...*kgo.Record) []*kgo.Record {
		next := map[tp]int64{}
		for _, r := range rs {
			at := tp{r.Topic, r.Partition}
			r.Offset = next[at]
			next[at]++
		}
		return rs
	}
	if p := chkCheck(results, read(rec(0, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1))); len(p) != 0 {
		t.Fatalf("a correct read: %v", p)
	}
	if p := chkCheck(results, read(rec(0, 0, a0), rec(2, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1), rec(2, 1, b0))); len(p) != 0 {
		t.Fatalf("a correct read with the unknown transaction committed: %v", p)
	}
	for name, rs := range map[string][]*kgo.Record{
		"committed record lost":     {rec(0, 0, a0), rec(3, 0, a0), rec(3, 1, a0)},
		"aborted record read":       {rec(0, 0, a0), rec(1, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1)},
		"unknown half read":         {rec(0, 0, a0), rec(2, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1)},
		"duplicate":                 {rec(0, 0, a0), rec(3, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1)},
		"out of order in a txn":     {rec(0, 0, a0), rec(3, 1, a0), rec(3, 0, a0), rec(0, 1, a1)},
		"transactions out of order": {rec(3, 0, a0), rec(3, 1, a0), rec(0, 0, a0), rec(0, 1, a1)},
		"wrong partition":           {rec(0, 0, a1), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1)},
		"unknown transaction":       {rec(0, 0, a0), rec(3, 0, a0), rec(3, 1, a0), rec(0, 1, a1), chkRecord(0, 9, 0, a0, true)},
	} {
		if p := chkCheck(results, read(rs...)); len(p) == 0 {
			t.Errorf("%s: not reported", name)
		} else {
			t.Logf("%s: %s", name, p[0])
		}
	}
}
