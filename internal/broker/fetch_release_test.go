package broker

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchReleasesSegments: fetch responses (spliced with sendfile, and
// long polls that re-read) release the segment files they read once they
// are written, so a segment deleted after being fetched from has its file
// closed when retention removes it, with no garbage collection (GC is off
// for the test).
func TestFetchReleasesSegments(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ConsumeTopics("r"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	createTopic(t, cl, "r", 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576"), "file.delete.delay.ms": kadm.StringPtr("0")})
	pad := strings.Repeat("x", 64<<10)
	const total = 40 // 2.5 MiB: three segments
	for i := range total {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "r", Value: []byte(pad)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := 0
	for got < total {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	// A long poll at the end of the log re-reads until its wait is over.
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 0 {
		t.Fatalf("unexpected records: %d", fs.NumRecords())
	}

	// A long poll whose reads stay below MinBytes reads the partition
	// again after registering for appends and after the wait.
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis, freq.MinBytes, freq.MaxBytes = 200, 100<<20, 100<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "r", tb.topic("r").meta.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 // one batch (KIP-74)
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp := send[*kmsg.FetchResponse](t, cl, freq)
	if len(fresp.Topics) != 1 || len(fresp.Topics[0].Partitions) != 1 || len(fresp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("long poll fetched nothing: %+v", fresp)
	}

	l := tb.topic("r").partitions[0].log
	first, err := l.Read(0, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	f, _, _ := first.File()
	first.Release()
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatalf("first segment not open before deletion: %v", err)
	}
	secondBase := int64(-1)
	for off := int64(0); off < l.HighWatermark(); off++ { // the second segment's base
		r, err := l.Read(off, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		if g, _, _ := r.File(); g != f && secondBase < 0 {
			secondBase = off
		}
		r.Release()
	}
	res, err := kadm.NewClient(cl).DeleteRecords(ctxT(t), kadm.Offsets{"r": {0: {Topic: "r", Partition: 0, At: secondBase}}})
	if err != nil || res.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, res.Error())
	}
	if secondBase <= 0 {
		t.Fatalf("the log has one segment only (second base %d)", secondBase)
	}
	if _, err := l.ApplyRetention(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the fetched and deleted first segment is still open (ReadAt: %v): a fetch did not release it", err)
	}
}
