package compat

import (
	"bytes"
	"context"
	"fmt"
	"maps"
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
// while an idempotent producer (acks=all) writes to six partitions, a
// consumer group member reads and commits, and a transactional producer
// commits and aborts transactions on a topic of its own (clusterTxns);
// waits until the survivors acknowledge records and commit a transaction
// again (the dead broker's partitions, the group's coordinator and the
// transaction coordinator moved once its lease ended), restarts it, and
// after every cycle checks that each acknowledged record is readable
// exactly once at its offset with its key and value, and that the group's
// committed offsets are at least those whose commit was acknowledged.
// After the cycles a read_committed reader sees every committed
// transaction exactly once and nothing of an aborted one.
// SLUICE_KILL_CYCLES sets the cycles (default 3; the proof is 20).
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
	const topic, txnTopic = "kill9", "kill9-txn"
	ctx := ctxT(t, time.Duration(90+45*cycles)*time.Second)
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if r, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if r, err := kadm.NewClient(adm).CreateTopic(ctx, 3, 1, nil, txnTopic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", txnTopic, err, r.Err)
	}
	logs := func() string {
		var b strings.Builder
		for _, s := range srvs {
			fmt.Fprintf(&b, "== broker %s\n%s\n", s.addr, tail(s.logs(), 40))
		}
		return b.String()
	}

	load := startClusterLoad(t, ctx, seeds, topic)
	defer load.stop()
	group := startClusterGroup(t, ctx, seeds, topic, "kill9-group")
	defer group.stop()
	txns := startClusterTxns(t, ctx, seeds, txnTopic, 3)
	defer txns.stop()
	start := time.Now()

	coordKills := 0
	for c := range cycles {
		load.waitAcks(fmt.Sprintf("cycle %d before the kill", c), 200+rand.IntN(800))
		txns.waitCommits(fmt.Sprintf("cycle %d before the kill", c), 1)
		// Every third cycle kills the transaction coordinator of the
		// transactional id on purpose; the others a random broker.
		victim := srvs[rand.IntN(len(srvs))]
		if coord := txns.coordinator(adm); coord >= 1 && int(coord) <= len(srvs) {
			if c%3 == 1 {
				victim = srvs[coord-1]
			}
			if victim == srvs[coord-1] {
				coordKills++
			}
		}
		victim.kill9()
		// The survivors take the dead broker's partitions once its lease
		// ends: acknowledgements go on for every partition.
		load.waitAcks(fmt.Sprintf("cycle %d after killing %s", c, victim.addr), 600)
		txns.waitCommits(fmt.Sprintf("cycle %d after killing %s", c, victim.addr), 2)
		victim.start()
		verifyClusterAcked(t, ctx, seeds, topic, &load.mu, load.acked)
		group.verify(seeds)
	}
	load.stop()
	verifyClusterAcked(t, ctx, seeds, topic, &load.mu, load.acked)
	group.stop()
	group.verify(seeds)
	if group.commits() == 0 {
		t.Fatal("the group member committed nothing")
	}
	txns.verify(logs)
	load.mu.Lock()
	t.Logf("%d cycles in %v (%d killed the transaction coordinator): %d records acknowledged, %d group commits",
		cycles, time.Since(start).Round(time.Second), coordKills, load.acks, group.commits())
	load.mu.Unlock()
}

// clusterGroup is a consumer group member that commits what it polled
// after every poll, remembering the offsets whose commit was acknowledged.
type clusterGroup struct {
	t      *testing.T
	ctx    context.Context
	id     string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu        sync.Mutex
	committed map[int32]int64 // highest acknowledged commit per partition
	n         int
}

func startClusterGroup(t *testing.T, ctx context.Context, seeds []string, topic, id string) *clusterGroup {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(id), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	g := &clusterGroup{t: t, ctx: ctx, id: id, cl: cl, done: make(chan struct{}), committed: map[int32]int64{}}
	gctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	go func() {
		defer close(g.done)
		for gctx.Err() == nil {
			fs := cl.PollFetches(gctx)
			if gctx.Err() != nil {
				return
			}
			next := map[int32]int64{}
			fs.EachRecord(func(r *kgo.Record) { next[r.Partition] = max(next[r.Partition], r.Offset+1) })
			if len(next) == 0 {
				continue
			}
			// A commit that fails (its coordinator died) is simply not
			// counted; the next poll's commit covers it.
			cl.CommitUncommittedOffsets(gctx)
			offs := cl.CommittedOffsets()
			g.mu.Lock()
			for p, o := range offs[topic] {
				if o.Offset > g.committed[p] {
					g.committed[p] = o.Offset
				}
			}
			g.n++
			g.mu.Unlock()
		}
	}()
	return g
}

func (g *clusterGroup) stop() {
	g.once.Do(func() {
		g.cancel()
		<-g.done
		g.cl.Close()
	})
}

func (g *clusterGroup) commits() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// verify checks, through a new client, that the group's committed offsets
// are at least the acknowledged ones.
func (g *clusterGroup) verify(seeds []string) {
	g.t.Helper()
	g.mu.Lock()
	want := maps.Clone(g.committed)
	g.mu.Unlock()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		g.t.Fatal(err)
	}
	defer cl.Close()
	var got kadm.OffsetResponses
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The coordinator may be moving: retry until it answers.
		got, err = kadm.NewClient(cl).FetchOffsets(g.ctx, g.id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("fetching group %s's offsets: %v", g.id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for p, at := range want {
		var o int64 = -1
		got.Each(func(r kadm.OffsetResponse) {
			if r.Partition == p {
				o = r.At
			}
		})
		if o < at {
			g.t.Fatalf("group %s partition %d: committed offset %d, a commit of %d was acknowledged", g.id, p, o, at)
		}
	}
}

// clusterLoad is an idempotent producer (acks=all, 64 records in flight,
// franz-go's defaults otherwise) writing
// records of distinct keys, values and headers to a topic, remembering
// every acknowledged one by partition and offset.
type clusterLoad struct {
	t      *testing.T
	ctx    context.Context
	prod   *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex
	acked map[[2]int64]ackedRecord // partition, offset
	acks  int
	parts map[int32]int // acknowledgements per partition
}

func startClusterLoad(t *testing.T, ctx context.Context, seeds []string, topic string) *clusterLoad {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	l := &clusterLoad{t: t, ctx: ctx, prod: prod, acked: map[[2]int64]ackedRecord{}, parts: map[int32]int{}}
	pctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.wg.Go(func() {
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
				l.mu.Lock()
				l.acked[[2]int64{int64(r.Partition), r.Offset}] = ackedRecord{r.Key, r.Value, r.Headers[0].Value, r.Timestamp.UnixMilli()}
				l.acks++
				l.parts[r.Partition]++
				l.mu.Unlock()
			})
		}
	})
	return l
}

// stop ends the load and waits for its producer.
func (l *clusterLoad) stop() {
	l.once.Do(func() {
		l.cancel()
		l.prod.Close()
		l.wg.Wait()
	})
}

// waitAcks waits for more acknowledgements.
func (l *clusterLoad) waitAcks(what string, more int) {
	l.t.Helper()
	l.mu.Lock()
	target := l.acks + more
	l.mu.Unlock()
	for {
		l.mu.Lock()
		n := l.acks
		l.mu.Unlock()
		if n >= target {
			return
		}
		if l.ctx.Err() != nil {
			l.t.Fatalf("%s: %d of %d acks: %v", what, n, target, l.ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEveryPartition waits until each of n partitions has acknowledged a
// record more, and returns how long that took.
func (l *clusterLoad) waitEveryPartition(what string, n int32) time.Duration {
	l.t.Helper()
	start := time.Now()
	l.mu.Lock()
	base := make(map[int32]int, len(l.parts))
	for p, c := range l.parts {
		base[p] = c
	}
	l.mu.Unlock()
	for {
		l.mu.Lock()
		behind := 0
		for p := range n {
			if l.parts[p] <= base[p] {
				behind++
			}
		}
		l.mu.Unlock()
		if behind == 0 {
			return time.Since(start)
		}
		if l.ctx.Err() != nil {
			l.t.Fatalf("%s: %d partitions acknowledged nothing more: %v", what, behind, l.ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	// Exactly once: no record (its seq header) stored twice, acknowledged
	// or not (the producer is idempotent; its retries are duplicates).
	seqAt := map[string][2]int64{}
	for k, r := range got {
		if len(r.Headers) != 1 {
			t.Fatalf("record at %v has %d headers", k, len(r.Headers))
		}
		if prev, dup := seqAt[string(r.Headers[0].Value)]; dup {
			t.Fatalf("record seq %s stored twice: at %v and %v", r.Headers[0].Value, prev, k)
		}
		seqAt[string(r.Headers[0].Value)] = k
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

// TestClusterAddRemoveBroker adds a third broker to two while a producer
// writes, then stops (SIGTERM) the first: the partitions' ownership moves
// (no data is copied: the new owner reads the same objects), the
// producer's acknowledgements reach every partition again, and every
// acknowledged record is read back at its offset.
func TestClusterAddRemoveBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three brokers")
	}
	e := etcdtest.Start(t, 1024)
	store := clusterObjectStore(t)
	srvs := startClusterServers(t, e, store, 2)
	seeds := []string{srvs[0].addr, srvs[1].addr}
	const topic, parts = "grow", 12
	ctx := ctxT(t, 3*time.Minute)
	// kgo answers Metadata requests from its cache for MetadataMinAge.
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if r, err := kadm.NewClient(adm).CreateTopic(ctx, parts, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	load := startClusterLoad(t, ctx, seeds, topic)
	defer load.stop()
	load.waitEveryPartition("before the change", parts)

	third := startServer(t, "", "--etcd", e.Endpoint, "--object-store", store, "--node-id", "3",
		"--cluster-id", "kill9", "--set", "cluster.lease.ttl.ms=2000")
	leaders := func() map[int32]int {
		t.Helper()
		m, err := kadm.NewClient(adm).Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int{}
		for _, p := range m.Topics[topic].Partitions {
			out[p.Leader]++
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for leaders()[3] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("broker 3 leads nothing a minute after it joined: %v", leaders())
		}
		time.Sleep(50 * time.Millisecond)
	}
	added := load.waitEveryPartition("after adding broker 3", parts)

	srvs[0].stop()
	removed := load.waitEveryPartition("after removing broker 1", parts)
	if l := leaders(); l[1] != 0 {
		t.Errorf("broker 1 still leads %d partitions after it stopped", l[1])
	}
	load.stop()
	verifyClusterAcked(t, ctx, []string{srvs[1].addr, third.addr}, topic, &load.mu, load.acked)
	t.Logf("every partition acknowledged again %v after broker 3 led some, %v after broker 1 stopped", added.Round(time.Millisecond), removed.Round(time.Millisecond))
}
