package compat

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type ackedRecord struct {
	key, value []byte
	header     []byte
	ts         int64
}

// TestKill9KeepsAcknowledgedRecords kills the broker with SIGKILL while a
// producer (acks=all, idempotent) is writing, restarts it, and checks that
// every acknowledged record is there at its offset with its key, value,
// header and timestamp. Three rounds on the same data directory.
func TestKill9KeepsAcknowledgedRecords(t *testing.T) {
	s := startServer(t, "")
	const topic = "crash"
	var mu sync.Mutex
	acked := map[[2]int64]ackedRecord{} // partition, offset
	seq := 0
	for round := range 3 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(0), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t, 10*time.Second), 2, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var roundAcks int
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				seq++
				r := &kgo.Record{Key: []byte("k" + strconv.Itoa(seq)), Value: bytes.Repeat([]byte{byte(seq)}, 100+seq%900),
					Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(seq))}}}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						return
					}
					mu.Lock()
					acked[[2]int64{int64(r.Partition), r.Offset}] = ackedRecord{r.Key, r.Value, r.Headers[0].Value, r.Timestamp.UnixMilli()}
					roundAcks++
					mu.Unlock()
				})
			}
		}()
		// Kill after a random number of acknowledgements.
		target := 2000 + rand.IntN(3000)
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := roundAcks
			mu.Unlock()
			if n >= target {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d acks in 30s:\n%s", round, n, s.logs())
			}
			time.Sleep(5 * time.Millisecond)
		}
		s.kill9()
		cancel()
		cl.Close()
		wg.Wait()
		s.start()
		verifyAcked(t, s.addr, topic, &mu, acked)
	}
}

func verifyAcked(t *testing.T, addr, topic string, mu *sync.Mutex, acked map[[2]int64]ackedRecord) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 60*time.Second)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	got := map[[2]int64]*kgo.Record{}
	for {
		done := true
		for p, end := range want {
			if n := countPartition(got, p); int64(n) < end {
				done = false
			}
		}
		if done {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming after restart: %v (have %d records, end offsets %v)", ctx.Err(), len(got), want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch after restart: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got[[2]int64{int64(r.Partition), r.Offset}] = r })
	}
	for k, a := range acked {
		r := got[k]
		if r == nil {
			t.Fatalf("acknowledged record at partition %d offset %d is missing after kill -9", k[0], k[1])
		}
		if !bytes.Equal(r.Key, a.key) || !bytes.Equal(r.Value, a.value) || len(r.Headers) != 1 ||
			!bytes.Equal(r.Headers[0].Value, a.header) || r.Timestamp.UnixMilli() != a.ts {
			t.Fatalf("record at %v differs after kill -9: key %q vs %q", k, r.Key, a.key)
		}
	}
	t.Logf("verified %d acknowledged records (%s)", len(acked), fmt.Sprint(want))
}

func countPartition(got map[[2]int64]*kgo.Record, p int32) int {
	n := 0
	for k := range got {
		if k[0] == int64(p) {
			n++
		}
	}
	return n
}
