package compat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterTxns is a transactional producer (one transactional id) running
// through a cluster's kill cycles: transactions of one to five records on
// random partitions of its own topic, every fourth aborted on purpose,
// the others committed. As kgo asks, a record that failed aborts the
// transaction (EndTransaction(TryAbort)), a commit that failed is followed
// by TryAbort, and a client whose abort failed too (fenced, or its
// transaction timed out) is closed and replaced by a new one with the same
// transactional id. What became of each transaction is kept as chkTxn
// (txn_checker_test.go), producer 0 of chkChecker.
type clusterTxns struct {
	t      *testing.T
	ctx    context.Context
	seeds  []string
	tid    string
	all    []tp
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu        sync.Mutex
	txns      []*chkTxn
	committed int
	aborted   int
	unknown   int
	replaced  []string // why each replaced client was replaced
}

func startClusterTxns(t *testing.T, ctx context.Context, seeds []string, topic string, parts int32) *clusterTxns {
	t.Helper()
	x := &clusterTxns{t: t, ctx: ctx, seeds: seeds, tid: topic + "-tid", done: make(chan struct{})}
	for p := range parts {
		x.all = append(x.all, tp{topic, p})
	}
	pctx, cancel := context.WithCancel(ctx)
	x.cancel = cancel
	go func() {
		defer close(x.done)
		for inc := 0; pctx.Err() == nil; inc++ {
			cl, err := x.client(fmt.Sprintf("%s-%d", x.tid, inc))
			if err != nil {
				t.Error(err)
				return
			}
			err = x.run(pctx, cl)
			cl.Close()
			if err == nil || pctx.Err() != nil {
				return
			}
			x.mu.Lock()
			x.replaced = append(x.replaced, fmt.Sprintf("incarnation %d: %v", inc, err))
			x.mu.Unlock()
		}
	}()
	return x
}

func (x *clusterTxns) client(id string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(x.seeds...), kgo.TransactionalID(x.tid), kgo.ClientID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(20*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond))
}

// run runs transactions on cl until ctx ends (nil) or a failure that
// needs a new client (the error).
func (x *clusterTxns) run(ctx context.Context, cl *kgo.Client) error {
	for ctx.Err() == nil {
		x.mu.Lock()
		n := len(x.txns)
		txn := &chkTxn{commit: n%4 != 3, status: txnAborted}
		for i := range 1 + n%5 {
			txn.plan = append(txn.plan, x.all[(n+i*7)%len(x.all)])
		}
		x.txns = append(x.txns, txn)
		x.mu.Unlock()
		if err := cl.BeginTransaction(); err != nil {
			x.end(txn, txnAborted, "begin: "+err.Error())
			return fmt.Errorf("begin: %w", err)
		}
		var failedMu sync.Mutex
		var failed []string
		for i, at := range txn.plan {
			cl.Produce(ctx, chkRecord(0, n, i, at, txn.commit), func(_ *kgo.Record, err error) {
				if err != nil {
					failedMu.Lock()
					failed = append(failed, err.Error())
					failedMu.Unlock()
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			// Never committed: the next incarnation's InitProducerId, or
			// the coordinator's timeout, aborts it.
			x.end(txn, txnAborted, "flush: "+err.Error())
			return fmt.Errorf("flush: %w", err)
		}
		if !txn.commit || len(failed) > 0 {
			detail := "aborted on purpose"
			if len(failed) > 0 {
				detail = fmt.Sprintf("%d records failed: %s", len(failed), failed[0])
			}
			x.end(txn, txnAborted, detail)
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("abort (%s): %w", detail, err)
			}
			continue
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			x.end(txn, txnUnknown, "commit: "+err.Error())
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("commit failed, then abort: %w", err)
			}
			continue
		}
		x.end(txn, txnCommitted, "")
	}
	return nil
}

func (x *clusterTxns) end(txn *chkTxn, status int, detail string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	txn.status, txn.detail = status, detail
	switch status {
	case txnCommitted:
		x.committed++
	case txnAborted:
		x.aborted++
	case txnUnknown:
		x.unknown++
	}
}

// stop ends the producer and waits for it.
func (x *clusterTxns) stop() {
	x.once.Do(func() {
		x.cancel()
		<-x.done
	})
}

// waitCommits waits for more committed transactions.
func (x *clusterTxns) waitCommits(what string, more int) {
	x.t.Helper()
	x.mu.Lock()
	target := x.committed + more
	x.mu.Unlock()
	for {
		x.mu.Lock()
		n, replaced := x.committed, len(x.replaced)
		x.mu.Unlock()
		if n >= target {
			return
		}
		if x.ctx.Err() != nil {
			x.t.Fatalf("%s: %d of %d transactions committed (%d clients replaced): %v", what, n, target, replaced, x.ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// coordinator is the node id of the transactional id's coordinator, or
// -1 when FindCoordinator fails (the coordinator is moving).
func (x *clusterTxns) coordinator(cl *kgo.Client) int32 {
	r, ok := kadm.NewClient(cl).FindTxnCoordinators(x.ctx, x.tid)[x.tid]
	if !ok || r.Err != nil {
		return -1
	}
	return r.NodeID
}

// verify stops the producer, fences its transactional id (a new client's
// InitProducerId aborts whatever a failed incarnation left open), and
// reads the topic read_committed to its end: every record of a committed
// transaction exactly once, none of an aborted one, a transaction whose
// commit failed whole or not at all, no record twice, each transaction's
// records in order and the transactions in their order.
func (x *clusterTxns) verify(logs func() string) {
	x.t.Helper()
	x.stop()
	for try := 0; ; try++ {
		cl, err := x.client(x.tid + "-fence")
		if err != nil {
			x.t.Fatal(err)
		}
		n := len(x.txns)
		txn := &chkTxn{plan: []tp{x.all[0]}, status: txnAborted, detail: "fence"}
		x.txns = append(x.txns, txn)
		err = cl.BeginTransaction()
		if err == nil {
			err = cl.ProduceSync(x.ctx, chkRecord(0, n, 0, x.all[0], false)).FirstErr()
		}
		if err == nil {
			err = cl.EndTransaction(x.ctx, kgo.TryAbort)
		}
		cl.Close()
		if err == nil {
			break
		}
		if try == 10 || x.ctx.Err() != nil {
			x.t.Fatalf("fencing %s: %v", x.tid, err)
		}
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(x.seeds...))
	if err != nil {
		x.t.Fatal(err)
	}
	defer adm.Close()
	topic := x.all[0].topic
	ends, err := kadm.NewClient(adm).ListEndOffsets(x.ctx, topic)
	if err != nil || ends.Error() != nil {
		x.t.Fatalf("end offsets of %s: %v %v", topic, err, ends.Error())
	}
	check := newChkChecker([][]*chkTxn{x.txns})
	r := newOutReader(x.t, x.seeds[0], kgo.ReadCommitted(), topic)
	r.each = check.add
	r.readTo(x.t, x.ctx, ends, "read_committed "+topic, logs)
	if problems := check.finish(); len(problems) > 0 {
		x.t.Fatalf("transactions: %d violations:\n%s", len(problems), strings.Join(head(problems, 30), "\n"))
	}
	x.t.Logf("transactions verified: %d committed, %d aborted, %d with a failed commit, %d clients replaced: %s",
		x.committed, x.aborted, x.unknown, len(x.replaced), strings.Join(head(x.replaced, 5), "; "))
}
