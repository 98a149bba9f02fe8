package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9Transactions kills the broker while a transaction is open,
// restarts it, and checks that committed transactions are whole, the open
// one stays open (as after a Kafka coordinator fail-over: the last stable
// offset is held before it) until a new incarnation of the transactional
// id initialises, which aborts it, and that the id can go on. Two rounds.
func TestKill9Transactions(t *testing.T) {
	s := startServer(t, "")
	const topic = "crash-txn"
	committed := map[string]bool{}
	for round := range 2 {
		ctx := ctxT(t, 60*time.Second)
		p, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.TransactionalID("crash-tid"), kgo.DefaultProduceTopic(topic),
			kgo.RecordRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if _, err := kadm.NewClient(p).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
		}
		for x := range 5 {
			if err := p.BeginTransaction(); err != nil {
				t.Fatalf("round %d: begin: %v", round, err)
			}
			var recs []*kgo.Record
			for i := range 20 {
				recs = append(recs, kgo.StringRecord(fmt.Sprintf("r%d-t%d-%d", round, x, i)))
			}
			if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
			commit := x != 3 // one abort
			if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatalf("round %d: end: %v", round, err)
			}
			if commit {
				for _, r := range recs {
					committed[string(r.Value)] = true
				}
			}
		}
		// Left open at the kill.
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("open-%d", round))).FirstErr(); err != nil {
			t.Fatal(err)
		}
		s.kill9()
		p.Close()
		s.start()

		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		// held reports how many partitions have their last stable offset
		// below their end.
		held := func() int {
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			stable, err := adm.ListCommittedOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			ends.Each(func(o kadm.ListedOffset) {
				if s, _ := stable.Lookup(topic, o.Partition); s.Offset != o.Offset {
					if s.Offset != o.Offset-1 {
						t.Errorf("round %d: partition %d: stable offset %d, end %d", round, o.Partition, s.Offset, o.Offset)
					}
					n++
				}
			})
			return n
		}
		if n := held(); n != 1 {
			t.Fatalf("round %d: %d partitions held by an open transaction after the restart, want 1", round, n)
		}
		// A new incarnation aborts the open transaction and goes on.
		p, err = kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.TransactionalID("crash-tid"), kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		resume := fmt.Sprintf("resume-%d", round)
		if err := p.ProduceSync(ctx, kgo.StringRecord(resume)).FirstErr(); err != nil {
			t.Fatalf("round %d: produce after restart: %v", round, err)
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("round %d: commit after restart: %v", round, err)
		}
		p.Close()
		committed[resume] = true
		if n := held(); n != 0 {
			t.Fatalf("round %d: %d partitions still held after the re-initialisation", round, n)
		}
		seen := map[string]bool{}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		for pctx.Err() == nil {
			fs := cl.PollFetches(pctx)
			fs.EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				if !committed[v] {
					t.Errorf("round %d: read_committed saw %q", round, v)
				}
				if seen[v] {
					t.Errorf("round %d: %q twice", round, v)
				}
				seen[v] = true
			})
		}
		cancel()
		cl.Close()
		if len(seen) != len(committed) {
			t.Fatalf("round %d: read_committed saw %d of %d committed records:\n%s", round, len(seen), len(committed), s.logs())
		}
	}
}
