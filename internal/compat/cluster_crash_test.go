package compat

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// clusterObjectStore is the object store of a cluster-mode test: the S3
// server named by SLUICE_TEST_S3_URL (with AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY set, e.g. from `eval "$(scripts/s3-server.sh)"`
// with SLUICE_TEST_S3_URL=$SLUICE_S3_URL), else gofakes3 in this process
// with a new bucket. The brokers are separate processes either way and
// inherit the credentials from the environment.
func clusterObjectStore(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("SLUICE_TEST_S3_URL"); u != "" {
		// A prefix of its own per test run: runs never share objects.
		return strings.Replace(u, "?", fmt.Sprintf("t%d?", time.Now().UnixNano()), 1)
	}
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	return "s3://bkt/pfx?endpoint=" + url.QueryEscape(srv.URL) + "&region=us-east-1&path_style=true"
}

// startClusterServers runs n cluster-mode `sluice serve` processes, node
// ids 1..n, on etcd e and the object store.
func startClusterServers(t *testing.T, e *etcdtest.Server, store string, n int) []*server {
	t.Helper()
	var out []*server
	for i := 1; i <= n; i++ {
		out = append(out, startServer(t, "", "--etcd", e.Endpoint, "--object-store", store, "--node-id", strconv.Itoa(i),
			"--cluster-id", "kill9", "--set", "cluster.lease.ttl.ms=2000"))
	}
	return out
}

// TestClusterKill9Cycles kills a random broker of three with SIGKILL
// while a producer (acks=all) writes to six partitions, waits until the
// survivors acknowledge records again (the dead broker's partitions moved
// once its lease ended), restarts it, and after every cycle checks that
// each acknowledged record is readable at its offset with its key and
// value. SLUICE_KILL_CYCLES sets the cycles (default 3; the proof
// is 20).
func TestClusterKill9Cycles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three brokers")
	}
	cycles := 3
	if v, err := strconv.Atoi(os.Getenv("SLUICE_KILL_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	e := etcdtest.Start(t, 1024)
	srvs := startClusterServers(t, e, clusterObjectStore(t), 3)
	seeds := []string{srvs[0].addr, srvs[1].addr, srvs[2].addr}
	const topic = "kill9"
	ctx := ctxT(t, time.Duration(60+40*cycles)*time.Second)
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if r, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}

	var mu sync.Mutex
	acked := map[[2]int64]ackedRecord{} // partition, offset
	var acks int
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.ProducerLinger(time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		inflight := make(chan struct{}, 64)
		for seq := 0; pctx.Err() == nil; seq++ {
			select {
			case inflight <- struct{}{}:
			case <-pctx.Done():
				return
			}
			r := &kgo.Record{Key: []byte("k" + strconv.Itoa(seq)), Value: bytes.Repeat([]byte{byte(seq)}, 100+seq%400),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(seq))}}}
			prod.Produce(pctx, r, func(r *kgo.Record, err error) {
				<-inflight
				if err != nil {
					return
				}
				mu.Lock()
				acked[[2]int64{int64(r.Partition), r.Offset}] = ackedRecord{r.Key, r.Value, r.Headers[0].Value, r.Timestamp.UnixMilli()}
				acks++
				mu.Unlock()
			})
		}
	})
	defer func() {
		stop()
		prod.Close()
		wg.Wait()
	}()
	waitAcks := func(what string, more int) {
		t.Helper()
		mu.Lock()
		target := acks + more
		mu.Unlock()
		for {
			mu.Lock()
			n := acks
			mu.Unlock()
			if n >= target {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %d of %d acks: %v", what, n, target, ctx.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	for c := range cycles {
		waitAcks(fmt.Sprintf("cycle %d before the kill", c), 200+rand.IntN(800))
		victim := srvs[rand.IntN(len(srvs))]
		victim.kill9()
		// The survivors take the dead broker's partitions once its lease
		// ends: acknowledgements go on for every partition.
		waitAcks(fmt.Sprintf("cycle %d after killing %s", c, victim.addr), 600)
		victim.start()
		verifyClusterAcked(t, ctx, seeds, topic, &mu, acked)
	}
	stop()
	prod.Close()
	wg.Wait()
	verifyClusterAcked(t, ctx, seeds, topic, &mu, acked)
}

// verifyClusterAcked reads the topic from the start to its end offsets
// and checks every acknowledged record is at its offset with its key,
// value, header and timestamp.
func verifyClusterAcked(t *testing.T, ctx context.Context, seeds []string, topic string, mu *sync.Mutex, acked map[[2]int64]ackedRecord) {
	t.Helper()
	mu.Lock()
	want := make(map[[2]int64]ackedRecord, len(acked))
	for k, v := range acked {
		want[k] = v
	}
	mu.Unlock()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	need := map[int32]int64{} // partition -> highest acknowledged offset + 1
	for k := range want {
		need[int32(k[0])] = max(need[int32(k[0])], k[1]+1)
	}
	got := map[[2]int64]*kgo.Record{}
	next := map[int32]int64{}
	for {
		done := true
		for p, end := range need {
			if next[p] < end {
				done = false
			}
		}
		if done {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming: %v (have %d records, need up to %v, read up to %v)", ctx.Err(), len(got), need, next)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[[2]int64{int64(r.Partition), r.Offset}] = r
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	for k, a := range want {
		r := got[k]
		if r == nil {
			t.Fatalf("acknowledged record at partition %d offset %d is missing", k[0], k[1])
		}
		if !bytes.Equal(r.Key, a.key) || !bytes.Equal(r.Value, a.value) || len(r.Headers) != 1 ||
			!bytes.Equal(r.Headers[0].Value, a.header) || r.Timestamp.UnixMilli() != a.ts {
			t.Fatalf("record at %v differs: key %q, acknowledged %q", k, r.Key, a.key)
		}
	}
	t.Logf("verified %d acknowledged records, %d read", len(want), len(got))
}
