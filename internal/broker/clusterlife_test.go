package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// TestClusterRetentionDeleteRecordsAndGC: in cluster mode DeleteRecords
// moves a partition's log start, retention moves it past records older
// than retention.ms, a compacted topic refuses DeleteRecords, small index
// entries are merged with every record kept at its offset, and the
// controller's object garbage collector then deletes the objects no entry
// names, which /metrics counts.
func TestClusterRetentionDeleteRecordsAndGC(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b, err := New(Config{Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", DataDir: t.TempDir(), NodeID: 1,
		Logger: slog.New(slog.DiscardHandler),
		Kafka:  map[string]string{"log.retention.check.interval.ms": "50", "log.segment.delete.delay.ms": "1"},
		Cluster: ClusterConfig{Etcd: []string{e.Endpoint}, ObjectStore: "s3://bkt/pfx?endpoint=" + url.QueryEscape(s3) + "&region=us-east-1&path_style=true",
			ID: "test", LeaseTTL: 2 * time.Second, GCInterval: 100 * time.Millisecond, MergeTargetBytes: 256}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); b.Serve(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b, kgo.MetadataMinAge(10*time.Millisecond)))
	for _, c := range []struct {
		name string
		cfg  map[string]*string
	}{
		{"kept", nil},
		{"aged", map[string]*string{"retention.ms": kadm.StringPtr("3600000")}},
		{"compacted", map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}},
	} {
		if r, err := adm.CreateTopic(ctx, 1, 1, c.cfg, c.name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", c.name, err, r.Err)
		}
	}
	prod := mustClient(t, b, kgo.DisableIdempotentWrite(), kgo.MetadataMinAge(10*time.Millisecond))
	old := time.Now().Add(-2 * time.Hour)
	for i := range 10 {
		for _, topic := range []string{"kept", "aged", "compacted"} {
			r := &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
			if topic == "aged" {
				r.Timestamp = old
			}
			var err error
			for attempt := 0; attempt < 100; attempt++ { // until the new partition is led
				if err = prod.ProduceSync(ctx, r).FirstErr(); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
		}
	}

	// DeleteRecords on a delete-policy topic, past the hw, and on a
	// compacted one.
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{"kept": {0: {At: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := del.Lookup("kept", 0); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("DeleteRecords kept to 4: low watermark %d err %v", r.LowWatermark, r.Err)
	}
	if del, err = adm.DeleteRecords(ctx, kadm.Offsets{"kept": {0: {At: 11}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := del.Lookup("kept", 0); r.Err != kerr.OffsetOutOfRange {
		t.Fatalf("DeleteRecords past the hw: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	if del, err = adm.DeleteRecords(ctx, kadm.Offsets{"compacted": {0: {At: 2}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := del.Lookup("compacted", 0); r.Err != kerr.PolicyViolation {
		t.Fatalf("DeleteRecords on a compacted topic: %v, want POLICY_VIOLATION", r.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, "kept", "compacted")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("kept", 0); o.Offset != 4 {
		t.Fatalf("kept starts at %d after DeleteRecords, want 4", o.Offset)
	}
	if o, _ := starts.Lookup("compacted", 0); o.Offset != 0 {
		t.Fatalf("compacted starts at %d, want 0", o.Offset)
	}

	// OffsetForLeaderEpoch: the current epoch ends at the hw, a later one
	// is undefined.
	md, err := adm.Metadata(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	epoch := md.Topics["kept"].Partitions[0].LeaderEpoch
	for _, c := range []struct {
		req, epoch int32
		end        int64
	}{{epoch, epoch, 10}, {epoch + 1, -1, -1}} {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "kept"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, epoch, c.req
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, prod)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.LeaderEpoch != c.epoch || sp.EndOffset != c.end {
			t.Fatalf("OffsetForLeaderEpoch %d: error %d epoch %d end %d, want %d %d", c.req, sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset, c.epoch, c.end)
		}
	}

	// Retention: every record of "aged" is two hours old, past its one-hour
	// retention.ms.
	clusterEventually(t, "retention moves aged's log start to its end", func() error {
		starts, err := adm.ListStartOffsets(ctx, "aged")
		if err != nil {
			return err
		}
		if o, _ := starts.Lookup("aged", 0); o.Err != nil || o.Offset != 10 {
			return fmt.Errorf("aged starts at %d (%v)", o.Offset, o.Err)
		}
		return nil
	})
	cons := mustClient(t, b, kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var first int64 = -1
	for first < 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if first < 0 {
				first = r.Offset
			}
		})
	}
	if first != 4 {
		t.Fatalf("first record of kept read at offset %d, want 4", first)
	}

	// Merging: compacted's ten one-record entries (one flush each) become
	// fewer, every record still at its offset.
	ct, _ := b.cl.topic("compacted")
	clusterEventually(t, "compacted's small entries merged", func() error {
		idx, err := b.cl.client.LoadIndex(ctx, ct.Partition(0))
		if err != nil {
			return err
		}
		if len(idx) >= 10 {
			return fmt.Errorf("%d index entries", len(idx))
		}
		return nil
	})
	mc := mustClient(t, b, kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	vals := map[int64]string{}
	for len(vals) < 10 {
		fs := mc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of compacted's records: %v", len(vals), err)
		}
		fs.EachRecord(func(r *kgo.Record) { vals[r.Offset] = string(r.Value) })
	}
	for i := range int64(10) {
		if vals[i] != strconv.Itoa(int(i)) {
			t.Fatalf("compacted offset %d holds %q after merging", i, vals[i])
		}
	}

	// The controller's collector deletes what retention and DeleteRecords
	// unreferenced: the store's deletes show on /metrics.
	metricsURL := "http://" + b.HTTPAddr().String() + "/metrics"
	deletes := regexp.MustCompile(`(?m)^sluice_objstore_requests_total\{op="delete",result="ok"\} ([0-9.e+]+)$`)
	puts := regexp.MustCompile(`(?m)^sluice_objstore_requests_total\{op="put",result="ok"\} ([0-9.e+]+)$`)
	clusterEventually(t, "objects deleted by the collector", func() error {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if m := puts.FindSubmatch(body); m == nil {
			return fmt.Errorf("no successful puts on /metrics")
		}
		m := deletes.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("no successful deletes on /metrics")
		}
		if n, _ := strconv.ParseFloat(string(m[1]), 64); n < 1 {
			return fmt.Errorf("%v deletes", n)
		}
		return nil
	})
}
