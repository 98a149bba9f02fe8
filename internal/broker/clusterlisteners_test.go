package broker

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// Brokers with two listeners in cluster mode: Metadata, DescribeCluster
// and FindCoordinator name every broker by its address on the listener
// the request came in on (Kafka's endpoints per listener name), so a
// client of the second listener (say SASL) is not sent to the first.
func TestClusterListenerEndpoints(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	start := func(node int32) *Broker {
		b, err := New(Config{DataDir: t.TempDir(), NodeID: node, Logger: testLogger().With("node", node),
			Listeners: []Listener{
				{Name: "INTERNAL", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
				{Name: "EXTERNAL", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
			},
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
	bs := map[int32]*Broker{1: start(1), 2: start(2)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"INTERNAL", "EXTERNAL"} {
		want := func(node int32, host string, port int32) error {
			b := bs[node]
			if b == nil {
				return fmt.Errorf("unknown node %d", node)
			}
			if got, exp := net.JoinHostPort(host, strconv.Itoa(int(port))), b.ListenerAddr(name).String(); got != exp {
				return fmt.Errorf("node %d at %s, want its %s address %s", node, got, name, exp)
			}
			return nil
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(bs[1].ListenerAddr(name).String()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clusterEventually(t, name+": Metadata lists both brokers", func() error {
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			if len(resp.Brokers) != 2 {
				return fmt.Errorf("%d brokers", len(resp.Brokers))
			}
			for _, br := range resp.Brokers {
				if err := want(br.NodeID, br.Host, br.Port); err != nil {
					t.Fatalf("%s: Metadata: %v", name, err)
				}
			}
			return nil
		})
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
		if err != nil || len(dc.Brokers) != 2 {
			t.Fatalf("%s: DescribeCluster: %v %+v", name, err, dc)
		}
		for _, br := range dc.Brokers {
			if err := want(br.NodeID, br.Host, br.Port); err != nil {
				t.Fatalf("%s: DescribeCluster: %v", name, err)
			}
		}
		clusterEventually(t, name+": FindCoordinator", func() error {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = "g-" + name
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			if resp.ErrorCode != 0 {
				return fmt.Errorf("error code %d", resp.ErrorCode)
			}
			if err := want(resp.NodeID, resp.Host, resp.Port); err != nil {
				t.Fatalf("%s: FindCoordinator: %v", name, err)
			}
			return nil
		})
	}
}

// A broker lists itself in Metadata and DescribeCluster even before its
// brokers/ watch shows its own registration (it may lead partitions and
// coordinate already then; kgo fails a producer id whose coordinator is
// missing from Metadata as an unknown broker).
func TestClusterMetadataListsSelf(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	b := startClusterBrokerOn(t, e, 1, fakeS3(t))
	cl := mustClient(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clusterEventually(t, "registered", func() error {
		if len(b.cl.brokers()) != 1 {
			return fmt.Errorf("%d live brokers", len(b.cl.brokers()))
		}
		return nil
	})
	// The moment before the watch shows this broker.
	b.cl.mu.Lock()
	b.cl.live = nil
	b.cl.mu.Unlock()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || len(md.Brokers) != 1 || md.Brokers[0].NodeID != 1 {
		t.Fatalf("Metadata: %v %+v", err, md)
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster: %v %+v", err, dc)
	}
}

// A broker starting in a running cluster answers its first request with
// the whole cluster: it accepts connections only after its first view of
// brokers, topics and leaders. Answering before it, with itself alone and
// no topics, made kgo drop the other brokers and fail a transactional
// producer fatally ("unknown broker") after a broker restart.
func TestClusterFirstAnswerSeesCluster(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerOn(t, e, 1, s3)
	startClusterBrokerOn(t, e, 2, s3)
	clusterEventually(t, "two brokers", func() error {
		if n := len(b1.cl.brokers()); n != 2 {
			return fmt.Errorf("%d live brokers", n)
		}
		return nil
	})
	cl := mustClient(t, b1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "first-answer"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	b3 := startClusterBrokerOn(t, e, 3, s3) // Serve has just been started
	cl3 := mustClient(t, b3)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("first-answer")
	req.Topics = append(req.Topics, rt)
	md, err := req.RequestWith(ctx, cl3)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []int32
	for _, br := range md.Brokers {
		nodes = append(nodes, br.NodeID)
	}
	if !slices.Contains(nodes, 1) || !slices.Contains(nodes, 2) {
		t.Errorf("first Metadata lists brokers %v, want 1 and 2 among them", nodes)
	}
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) != 2 {
		t.Errorf("first Metadata topic: %+v", md.Topics)
	}
}
