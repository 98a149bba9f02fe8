package broker

import (
	"context"
	"fmt"
	"log/slog"
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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore/faultproxy"
)

// TestClusterStoreFaultsAndEtcdRestart: with the object store failing
// every put, a produce is answered with a retriable error code and never
// acknowledged; with the store slow, produces succeed late; once the
// faults end, and after etcd restarts, the broker recovers by itself; and
// every acknowledged record is read back at its offset.
func TestClusterStoreFaultsAndEtcdRestart(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(s3.Close)
	proxy, err := faultproxy.New(s3.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(func() { proxy.Close(); front.Close() })
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	b, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), NodeID: 1, Logger: slog.New(slog.DiscardHandler),
		Cluster: ClusterConfig{Etcd: []string{e.Endpoint}, ObjectStore: "s3://bkt/pfx?endpoint=" + url.QueryEscape(front.URL) + "&region=us-east-1&path_style=true",
			ID: "test", LeaseTTL: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); b.Serve(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl := mustClient(t, b, kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("faults"), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryTimeout(time.Minute))
	if r, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "faults"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	acked := map[int64]string{}
	produce := func(v string) {
		t.Helper()
		r := &kgo.Record{Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		acked[r.Offset] = v
	}
	clusterEventually(t, "the partition is led", func() error {
		r := &kgo.Record{Value: []byte("first")}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		if err := cl.ProduceSync(pctx, r).FirstErr(); err != nil {
			return err
		}
		acked[r.Offset] = "first"
		return nil
	})
	for i := range 5 {
		produce("healthy-" + strconv.Itoa(i))
	}

	// Every put fails: a raw produce with a 1.5 s timeout is answered with
	// a retriable error, not acknowledged.
	proxy.SetRules(faultproxy.Rule{Ops: []string{"put"}, ErrorRate: 1, Status: 503})
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 1500
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "faults"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = log.EncodeBatch([]log.KV{{Value: []byte("during-outage")}}, time.Now().UnixMilli(), -1, -1, false)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode == 0 {
		t.Fatalf("produce acknowledged at offset %d while every object put fails", sp.BaseOffset)
	}
	if e := kerr.ErrorForCode(sp.ErrorCode); !kerr.IsRetriable(e) {
		t.Fatalf("produce during the outage: %v, want a retriable error", e)
	}
	t.Logf("produce while every put fails: %v", kerr.ErrorForCode(sp.ErrorCode))
	if proxy.Stats().Errors == 0 {
		t.Fatal("the proxy injected no errors")
	}

	// A client's produce during the outage waits and retries; it succeeds
	// once the store answers again.
	late := make(chan error, 1)
	lateRec := &kgo.Record{Value: []byte("across-outage")}
	before := proxy.Stats().Errors
	go func() { late <- cl.ProduceSync(ctx, lateRec).FirstErr() }()
	clusterEventually(t, "the produce meets the failing store", func() error {
		if n := proxy.Stats().Errors; n == before {
			return fmt.Errorf("%d injected errors", n)
		}
		return nil
	})
	proxy.SetRules()
	if err := <-late; err != nil {
		t.Fatalf("produce across the outage: %v", err)
	}
	acked[lateRec.Offset] = "across-outage"

	// A slow store: puts take 300 ms; produces still succeed.
	proxy.SetRules(faultproxy.Rule{Ops: []string{"put"}, DelayRate: 1, Delay: 300 * time.Millisecond})
	for i := range 3 {
		produce("slow-" + strconv.Itoa(i))
	}
	proxy.SetRules()

	// etcd restarts: produces wait or fail retriably meanwhile, and the
	// broker serves again without help.
	e.Stop()
	e.Restart()
	for i := range 5 {
		produce("after-etcd-" + strconv.Itoa(i))
	}

	cons := mustClient(t, b, kgo.ConsumeTopics("faults"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int64]string{}
	for {
		missing := 0
		for off := range acked {
			if _, ok := got[off]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d acknowledged records not read: %v", missing, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d holds %q, acknowledged %q", off, got[off], v)
		}
	}
	t.Logf("%d acknowledged records read back; proxy %s", len(acked), fmt.Sprint(proxy.Stats()))
}
