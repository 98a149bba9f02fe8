package broker

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objlog"
)

// countRecords reads p from its log start to its hw and counts the
// records (control batches included).
func countRecords(t *testing.T, ctx context.Context, p *objlog.Partition) int {
	t.Helper()
	n := 0
	hw := p.HighWatermark()
	for off := p.LogStartOffset(); off < hw; {
		b, err := p.Read(ctx, off, 1<<20)
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d (hw %d): %d bytes, %v", off, hw, len(b), err)
		}
		for len(b) > 0 {
			h, err := log.CheckStoredBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			n += int(h.NumRecords)
			off = max(off, h.LastOffset()+1)
			b = b[h.Size():]
		}
	}
	return n
}

// TestClusterCompactConsumerOffsets: a group commits its offsets many
// times; the coordinator's retention pass compacts its __consumer_offsets
// partition (object-stored, cleanup.policy=compact) down to about one
// record per key, and after the coordinator's broker closes the survivor
// loads the compacted partition and finds the latest offsets.
func TestClusterCompactConsumerOffsets(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	// Any dirty entry makes a pass due. With the default ratio of 0.5 a
	// pass of the broker's own loop shortly before this test's pass
	// could leave a few commits dirty but below the ratio (the clean
	// section keeps its emptied batches' bytes), and this test's pass
	// would then not run.
	cfg := maps.Clone(clusterGroupConfig)
	cfg["log.cleaner.min.cleanable.ratio"] = "0"
	b1 := startClusterBrokerKafka(t, e, 1, s3, cfg)
	b2 := startClusterBrokerKafka(t, e, 2, s3, cfg)
	brokers := map[int32]*Broker{1: b1, 2: b2}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	waitLed(t, ctx, adm, "orders", group.TopicName)
	produceRange(t, ctx, b1, 0, 200) // 50 per partition

	const g, commits = "compacted", 50
	for i := 1; i <= commits; i++ {
		offs := kadm.Offsets{}
		for p := range int32(4) {
			offs.AddOffset("orders", p, int64(i), -1)
		}
		var resp kadm.OffsetResponses
		clusterEventually(t, fmt.Sprintf("commit %d", i), func() error {
			var err error
			if resp, err = adm.CommitOffsets(ctx, g, offs); err != nil {
				return err
			}
			return resp.Error()
		})
	}
	wantCommitted(t, ctx, b2, g, commits)

	var coord int32
	clusterEventually(t, "the group's coordinator", func() error {
		c, err := groupCoordinatorAt(t, ctx, b1, g)
		if err == nil && brokers[c] == nil {
			err = fmt.Errorf("coordinator %d", c)
		}
		coord = c
		return err
	})
	cb := brokers[coord]
	ti, ok := cb.cl.topic(group.TopicName)
	if !ok {
		t.Fatalf("%s unknown", group.TopicName)
	}
	tp := ti.Partition(group.PartitionFor(g, ti.Partitions))
	cb.cl.mu.Lock()
	p := cb.cl.parts[tp]
	cb.cl.mu.Unlock()
	if p == nil {
		t.Fatalf("coordinator %d does not lead %s", coord, tp)
	}
	before := countRecords(t, ctx, p)
	// One pass of the retention loop: the partition is compacted (the
	// broker's own loop, every log.retention.check.interval.ms, may have
	// compacted it already, in part: before is not 4*commits then; what
	// it left dirty makes this pass due, at the ratio of 0). Only
	// compaction removes records of a compact-only topic.
	cb.cl.clusterRetention(time.Now())
	after := countRecords(t, ctx, p)
	t.Logf("%s: %d records committed, %d before this pass, %d after", tp, 4*commits, before, after)
	// The latest commit per partition, plus those of the last entry and
	// what the group's other records left.
	if after > 4*3 {
		t.Fatalf("%d records after compaction (%d before; %d committed)", after, before, 4*commits)
	}

	// The coordinator's broker closes: the survivor loads the compacted
	// partition and finds the latest offsets.
	survivor := brokers[3-coord]
	cb.Close()
	clusterEventually(t, "the survivor coordinates the group", func() error {
		c, err := groupCoordinatorAt(t, ctx, survivor, g)
		if err == nil && c != survivor.cfg.NodeID {
			err = fmt.Errorf("coordinator %d", c)
		}
		return err
	})
	wantCommitted(t, ctx, survivor, g, commits)
}
