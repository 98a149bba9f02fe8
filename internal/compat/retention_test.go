package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// TestDeleteRecordsThroughConfluentKafka moves log starts with
// confluent-kafka's DeleteRecords (its AdminClient, or on bindings older
// than 2.4 the same librdkafka's rd_kafka_DeleteRecords): to an offset, to
// the high watermark (-1), to 0 (nothing to delete), and beyond the high
// watermark (OFFSET_OUT_OF_RANGE, nothing deleted). The returned low
// watermarks are what librdkafka's and kadm's ListOffsets then see, and a
// consumer from the start reads exactly the records that remain.
func TestDeleteRecordsThroughConfluentKafka(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startServer(t, "")
	ctx := ctxT(t, 120*time.Second)
	const topic, parts, perPart = "ckdr", 4, 10
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range parts {
		for i := range perPart {
			recs = append(recs, &kgo.Record{Partition: int32(p), Value: []byte(strconv.Itoa(p*100 + i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	out := run(t, ctx, "", py, "testdata/ck_delete_records.py", s.addr, topic, "0:6", "1:-1", "2:0", "3:50")
	var res struct {
		API      string
		Versions []string
		Deleted  []struct {
			Partition    int32
			LowWatermark int64 `json:"low_watermark"`
			Error        *string
		}
		Watermarks map[string][2]int64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	t.Logf("confluent-kafka %v through %s: %s", res.Versions, res.API, out)
	wantLow := map[int32]int64{0: 6, 1: perPart, 2: 0}
	if len(res.Deleted) != parts {
		t.Fatalf("DeleteRecords answered for %d partitions, want %d: %s", len(res.Deleted), parts, out)
	}
	for _, d := range res.Deleted {
		if d.Partition == 3 {
			if d.Error == nil || *d.Error != "OFFSET_OUT_OF_RANGE" {
				t.Errorf("partition 3, before offset 50 > high watermark %d: low watermark %d, error %v", perPart, d.LowWatermark, fmtErrs([]*string{d.Error}))
			}
			continue
		}
		if w, ok := wantLow[d.Partition]; !ok || d.Error != nil || d.LowWatermark != w {
			t.Errorf("partition %d: low watermark %d, error %v; want %d, no error", d.Partition, d.LowWatermark, fmtErrs([]*string{d.Error}), w)
		}
	}
	wantLow[3] = 0 // nothing deleted
	for p := range int32(parts) {
		if w := res.Watermarks[strconv.Itoa(int(p))]; w != [2]int64{wantLow[p], perPart} {
			t.Errorf("partition %d: librdkafka's watermarks %v after DeleteRecords, want [%d %d]", p, w, wantLow[p], perPart)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		if o, ok := starts.Lookup(topic, p); !ok || o.Err != nil || o.Offset != wantLow[p] {
			t.Errorf("partition %d: kadm's start offset %d (err %v), want %d", p, o.Offset, o.Err, wantLow[p])
		}
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[int32][]string{}
	want := map[int32][]string{}
	total := 0
	for p := range int32(parts) {
		for i := wantLow[p]; i < perPart; i++ {
			want[p] = append(want[p], fmt.Sprintf("%d@%d", int64(p)*100+i, i))
			total++
		}
	}
	for n := 0; n < total; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d remaining records: %v", n, total, got)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("partition %d: fetch: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], fmt.Sprintf("%s@%d", r.Value, r.Offset))
			n++
		})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records after DeleteRecords:\n got %v\nwant %v", got, want)
	}
}
