package broker

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// startClusterBroker runs a cluster-mode broker on etcd e. The object
// store is never contacted by these tests (no records are produced).
func startClusterBroker(t *testing.T, e *etcdtest.Server, node int32) *Broker {
	return startClusterBrokerOn(t, e, node, "http://127.0.0.1:1")
}

// fakeS3 starts gofakes3 with the bucket "bkt" and the AWS credentials
// the store picks up from the environment.
func fakeS3(t *testing.T) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	return srv.URL
}

func startClusterBrokerOn(t *testing.T, e *etcdtest.Server, node int32, s3 string) *Broker {
	t.Helper()
	return startClusterBrokerKafka(t, e, node, s3, nil)
}

// startClusterBrokerKafka is startClusterBrokerOn with broker configs
// (Kafka's names).
func startClusterBrokerKafka(t *testing.T, e *etcdtest.Server, node int32, s3 string, kafka map[string]string) *Broker {
	t.Helper()
	b, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), NodeID: node, Kafka: kafka,
		Logger: testLogger().With("node", node),
		Cluster: ClusterConfig{Etcd: []string{e.Endpoint}, ObjectStore: "s3://bkt/pfx?endpoint=" + url.QueryEscape(s3) + "&region=us-east-1&path_style=true",
			ID: "test", LeaseTTL: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); b.Serve(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })
	return b
}

// clusterEventually polls cond (each call a request to the brokers) until it
// holds, for up to 30 s.
func clusterEventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterMetadataLeadersAndFailover(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	b1 := startClusterBroker(t, e, 1)
	b2 := startClusterBroker(t, e, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b2.Addr().String()), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	clusterEventually(t, "both brokers in metadata", func() error {
		fresh, err := kgo.NewClient(kgo.SeedBrokers(b2.Addr().String()))
		if err != nil {
			return err
		}
		defer fresh.Close()
		m, err := kadm.NewClient(fresh).BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 2 || m.Controller != 1 || m.Cluster != "test" {
			return fmt.Errorf("brokers %+v controller %d cluster %q", m.Brokers, m.Controller, m.Cluster)
		}
		return nil
	})
	if r, err := adm.CreateTopic(ctx, 1, 3, nil, "too-many"); err == nil && r.Err == nil {
		t.Fatal("replication factor 3 on 2 brokers accepted")
	} else if r.Err != kerr.InvalidReplicationFactor {
		t.Fatalf("rf 3: %v %v, want INVALID_REPLICATION_FACTOR", err, r.Err)
	}
	if r, err := adm.CreateTopic(ctx, 8, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 8, 1, nil, "orders"); r.Err != kerr.TopicAlreadyExists {
		t.Fatalf("second create: %v", r.Err)
	}
	leaders := func() (map[int32]int32, error) {
		m, err := adm.Metadata(ctx, "orders")
		if err != nil {
			return nil, err
		}
		out := map[int32]int32{}
		for _, p := range m.Topics["orders"].Partitions {
			if p.Err != nil {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, p.Err)
			}
			out[p.Partition] = p.Leader
		}
		return out, nil
	}
	clusterEventually(t, "every partition led, by both brokers", func() error {
		l, err := leaders()
		if err != nil {
			return err
		}
		seen := map[int32]bool{}
		for _, n := range l {
			seen[n] = true
		}
		if len(l) != 8 || !seen[1] || !seen[2] {
			return kerr.LeaderNotAvailable
		}
		return nil
	})
	if _, err := adm.CreatePartitions(ctx, 2, "orders"); err != nil {
		t.Fatal(err)
	}
	// Broker 1 leaves: its lease is revoked, broker 2 takes every partition.
	b1.Close()
	// A new client each time: kgo answers Metadata from its cache.
	cl.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b2.Addr().String()), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	adm = kadm.NewClient(cl)
	clusterEventually(t, "broker 2 alone leads all 10 partitions", func() error {
		m, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 1 || m.Brokers[0].NodeID != 2 {
			raw, _ := e.Raw(t).Get(ctx, "/sluice/test/brokers/", clientv3.WithPrefix())
			return fmt.Errorf("brokers %+v; b2 sees %+v; etcd %v", m.Brokers, b2.cl.brokers(), raw.Kvs)
		}
		l, err := leaders()
		if err != nil {
			return err
		}
		for _, n := range l {
			if n != 2 {
				return kerr.NotLeaderForPartition
			}
		}
		if len(l) != 10 {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	})
	if r, err := adm.DeleteTopics(ctx, "orders"); err != nil || r["orders"].Err != nil {
		t.Fatalf("delete: %v %+v", err, r)
	}
	// Group and transaction APIs are advertised in cluster mode (the
	// latter at transaction version 1), share-group ones not.
	v, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bv := range v {
		if _, _, ok := bv.KeyVersions(11); !ok { // JoinGroup
			t.Fatal("JoinGroup not advertised in cluster mode")
		}
		if _, hi, ok := bv.KeyVersions(28); !ok || hi != 4 { // TxnOffsetCommit before KIP-890
			t.Fatalf("TxnOffsetCommit advertised %v up to v%d in cluster mode, want v4", ok, hi)
		}
		if _, _, ok := bv.KeyVersions(76); ok { // ShareGroupHeartbeat
			t.Fatal("ShareGroupHeartbeat advertised in cluster mode")
		}
		if _, _, ok := bv.KeyVersions(3); !ok {
			t.Fatal("Metadata not advertised")
		}
	}
}

func TestClusterProduceConsumeAcrossBrokers(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerOn(t, e, 1, s3)
	b2 := startClusterBrokerOn(t, e, 2, s3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "events"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	clusterEventually(t, "both brokers lead partitions", func() error {
		m, err := adm.Metadata(ctx, "events")
		if err != nil {
			return err
		}
		seen := map[int32]bool{}
		for _, p := range m.Topics["events"].Partitions {
			if p.Err != nil {
				return p.Err
			}
			seen[p.Leader] = true
		}
		if !seen[1] || !seen[2] || len(m.Brokers) != 2 {
			return fmt.Errorf("leaders on %v, %d brokers", seen, len(m.Brokers))
		}
		return nil
	})
	// Bootstrapped at broker 2, the producer reaches every leader.
	prod := mustClient(t, b2, kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const n = 40
	for i := range n {
		r := &kgo.Record{Topic: "events", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons := mustClient(t, b2, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int64{}
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.Offset })
	}
	for i := range n {
		if off, ok := got[strconv.Itoa(i)]; !ok || off != int64(i/4) {
			t.Fatalf("record %d at offset %d (%v), want %d", i, off, ok, i/4)
		}
	}
	// Broker 1 leaves: broker 2 takes its partitions over and serves
	// every acknowledged record at its offset.
	b1.Close()
	after := mustClient(t, b2, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(10*time.Millisecond))
	clear(got)
	for len(got) < n {
		fs := after.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("after failover consumed %d of %d: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.Offset })
	}
	for i := range n {
		if off := got[strconv.Itoa(i)]; off != int64(i/4) {
			t.Fatalf("after failover record %d at offset %d, want %d", i, off, i/4)
		}
	}
}

func mustClient(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr().String())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
