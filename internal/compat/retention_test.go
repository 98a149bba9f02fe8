package compat

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionWhileSlowConsumerReads deletes old segments (retention.bytes)
// under a consumer that reads far behind: every record it gets is intact,
// its offsets only move forward, and when its position is deleted it is
// told so (OFFSET_OUT_OF_RANGE) and resumes at the new log start.
func TestRetentionWhileSlowConsumerReads(t *testing.T) {
	s := startServer(t, "", "--set", "log.retention.check.interval.ms=100")
	ctx := ctxT(t, 120*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("ret"), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerBatchCompression(kgo.NoCompression())) // small batches: a fetch returns few records
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{"segment.bytes": ptr("1048576"), "retention.bytes": ptr("1048576"), "file.delete.delay.ms": ptr("0")}
	if _, err := adm.CreateTopic(ctx, 1, 1, cfg, "ret"); err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000) }
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: value(i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, 1000) // about 1 MB: one segment

	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("ret"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<10), kgo.FetchMaxPartitionBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	const n = 8000
	last, total := int64(-1), 0
	consumeUntil := func(off int64) {
		for last < off {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumer stuck at offset %d:\n%s", last, s.logs())
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch error: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				i, err := strconv.Atoi(string(r.Key))
				if err != nil || int64(i) != r.Offset || !bytes.Equal(r.Value, value(i)) {
					t.Fatalf("record at %d damaged: key %q", r.Offset, r.Key)
				}
				if r.Offset <= last {
					t.Fatalf("offset went back from %d to %d", last, r.Offset)
				}
				last = r.Offset
				total++
			})
		}
	}
	// The reader falls behind: it reads a little, stops, and the producer
	// writes on until retention has deleted the segments under it.
	consumeUntil(99)
	produce(1000, n)
	var start kadm.ListedOffset
	deadline := time.Now().Add(30 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		start, _ = starts.Lookup("ret", 0)
		if start.Offset > 2000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention kept the log start at %d:\n%s", start.Offset, s.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	consumeUntil(n - 1)
	if total >= n {
		t.Fatalf("the consumer read all %d records: retention never overtook it", total)
	}
	t.Logf("log start %d; the slow consumer read %d of %d records and resumed at the log start when overtaken", start.Offset, total, n)
}

// TestDeleteRecordsThroughKadm moves a topic's log start with kadm's
// DeleteRecords: the new low watermark is what ListOffsets earliest and
// kcat then see.
func TestDeleteRecordsThroughKadm(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "")
	ctx := ctxT(t, 60*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("dr"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var to kadm.Offsets
	to.AddOffset("dr", 0, 6, -1)
	res, err := adm.DeleteRecords(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Lookup("dr", 0)
	if r.Err != nil || r.LowWatermark != 6 {
		t.Fatalf("DeleteRecords: low watermark %d, err %v", r.LowWatermark, r.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("dr", 0); o.Offset != 6 {
		t.Fatalf("earliest offset %d after DeleteRecords to 6", o.Offset)
	}
	out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", "dr", "-o", "beginning", "-e", "-f", "%o:%s\n")
	if got := strings.Fields(out); len(got) != 4 || got[0] != "6:6" {
		t.Fatalf("kcat after DeleteRecords: %q", got)
	}
}
