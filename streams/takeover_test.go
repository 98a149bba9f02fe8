package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/embed"
	"github.com/sluice-io/sluice/streams"
)

// setApp is a worker of app "to": agent "set" copies topic "to-in" (4
// partitions) into table "t" (changelog to-t-changelog).
func setApp(t *testing.T, addr, instance string, g streams.Guarantee, extra ...streams.Option) (*streams.App, *streams.Table[string, int64]) {
	t.Helper()
	opts := append([]streams.Option{streams.Brokers(addr), streams.StateDir(t.TempDir()), streams.Logger(quiet()),
		streams.InstanceID(instance), streams.ProcessingGuarantee(g), streams.QueryServer("127.0.0.1:0", "")}, extra...)
	app, err := streams.NewApp("to", opts...)
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTopic(app, "to-in", codec.String(), codec.JSON[int64](), streams.Partitions(4))
	table := streams.NewTable(app, "t", in, codec.String(), codec.JSON[int64]())
	streams.NewAgent(app, "set", in, func(ctx context.Context, s *streams.Stream[string, int64]) error {
		for ev := range s.Events() {
			if err := table.Set(ctx, ev.Partition, ev.Key, ev.Value); err != nil {
				return err
			}
		}
		return nil
	})
	return app, table
}

// sendKeys produces keys key0..key(n-1) to "to-in", key i with value
// val(i).
func sendKeys(t *testing.T, cl *kgo.Client, n int, val func(i int) int64) {
	t.Helper()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: "to-in", Key: fmt.Appendf(nil, "key%d", i), Value: fmt.Appendf(nil, "%d", val(i))})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitAnswers waits until table answers query for key i with want(i),
// for every i below n.
func waitAnswers(t *testing.T, table *streams.Table[string, int64], what string, n int, want func(i int) int64) {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("key%d", i)
		until(t, what+": b answers "+key, func() error {
			v, ok, err := table.Query(context.Background(), key)
			if err != nil && !errors.Is(err, streams.ErrQueryUnavailable) {
				t.Fatalf("Query(%s): %v", key, err)
			}
			if err != nil || !ok || v != want(i) {
				return fmt.Errorf("Query(%s) = %d %v %v", key, v, ok, err)
			}
			return nil
		})
	}
}

func keyIndex(i int) int64 { return int64(i) }

// TestTakeoverRestoresWithoutRecords: when a worker stops, the survivor
// restores the table partitions it takes over at assignment, not when
// their source partitions next get records: with nothing sent after the
// stop, it answers queries for every key.
func TestTakeoverRestoresWithoutRecords(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			addr := embed.ForTest(t)
			createTopic(t, addr, "to-in", 4)
			appA, _ := setApp(t, addr, "a", g)
			appB, tableB := setApp(t, addr, "b", g)
			stopA := runApp(t, appA)
			runApp(t, appB)
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			groupSettled(t, cl, "to", 2, true)
			const keys = 24
			sendKeys(t, cl, keys, keyIndex)
			answers := func(what string) { t.Helper(); waitAnswers(t, tableB, what, keys, keyIndex) }
			answers("both running") // b answers a's keys by forwarding
			if err := stopA(); err != nil {
				t.Fatal(err)
			}
			// Nothing is sent: b restores a's partitions at assignment.
			answers("a stopped")
			groupSettled(t, cl, "to", 1, false)
		})
	}
}

// TestRecordsRightAfterStopProcessed: records sent to every partition
// right after a worker stops, once, are all processed by the survivor
// (after the rebalance, which it learns of at its next heartbeat), none
// skipped, and it answers queries with them.
func TestRecordsRightAfterStopProcessed(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "to-in", 4)
	appA, _ := setApp(t, addr, "a", streams.AtLeastOnce)
	appB, tableB := setApp(t, addr, "b", streams.AtLeastOnce)
	stopA := runApp(t, appA)
	runApp(t, appB)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groupSettled(t, cl, "to", 2, false)
	const keys = 8 // keys of all 4 partitions
	send := func(v int64) { t.Helper(); sendKeys(t, cl, keys, func(int) int64 { return v }) }
	answers := func(v int64) {
		t.Helper()
		waitAnswers(t, tableB, fmt.Sprintf("value %d", v), keys, func(int) int64 { return v })
	}
	send(1)
	answers(1)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	before := appB.Stats().Events
	send(2)
	answers(2)
	// At least once: a batch may be processed again, none is skipped.
	if n := appB.Stats().Events - before; n < keys {
		t.Errorf("b processed %d of the %d records sent right after a stopped", n, keys)
	}
}

// TestAcceptableRecoveryLag: a worker joining with no copies is kept from
// the partitions the range assignor plans for it while it warms up copies
// of them (standbys); a probing rebalance then gives them to it, and it
// restores nothing: its copies had caught up.
func TestAcceptableRecoveryLag(t *testing.T) {
	addr := embed.ForTest(t)
	createTopic(t, addr, "to-in", 4)
	// Acceptable lag 0: a worker without a copy is not caught up (with the
	// default, 10000, it is: the changelog has 24 records).
	opts := []streams.Option{streams.StandbyReplicas(1), streams.ProbingRebalanceInterval(3 * time.Second), streams.AcceptableRecoveryLag(0)}
	appA, _ := setApp(t, addr, "a", streams.AtLeastOnce, opts...)
	runApp(t, appA)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	const keys = 24
	sendKeys(t, cl, keys, keyIndex)
	until(t, "a processed every record", func() error {
		if n := appA.Stats().Events; n < keys {
			return fmt.Errorf("%d of %d", n, keys)
		}
		return nil
	})
	appB, tableB := setApp(t, addr, "b", streams.AtLeastOnce, opts...)
	runApp(t, appB)
	owned := func() (int, error) {
		dgs, err := kadm.NewClient(cl).DescribeGroups(ctx, "to")
		if err != nil {
			return 0, err
		}
		g := dgs["to"]
		if g.State != "Stable" || len(g.Members) != 2 {
			return 0, fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		for _, m := range g.Members {
			md, ok1 := m.Join.AsConsumer()
			as, ok2 := m.Assigned.AsConsumer()
			if ok1 && ok2 && strings.Contains(string(md.UserData), appB.QueryAddress()) {
				n := 0
				for _, tp := range as.Topics {
					n += len(tp.Partitions)
				}
				return n, nil
			}
		}
		return 0, errors.New("b not in the group")
	}
	until(t, "b owns its share", func() error {
		n, err := owned()
		if err == nil && n != 2 {
			err = fmt.Errorf("b owns %d partitions", n)
		}
		return err
	})
	waitAnswers(t, tableB, "after the probing rebalance", keys, keyIndex)
	rb := appB.RestoreStats()
	if rb.Restored != 0 || rb.Standby == 0 {
		t.Errorf("b restored %d changelog records and applied %d to copies; want 0 restored: it took over warm copies", rb.Restored, rb.Standby)
	}
}
