package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
)

// mustResponse reads one response frame from c (correlation id first).
func mustResponse(t *testing.T, c net.Conn) []byte {
	t.Helper()
	body, err := readResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestApiVersionsGarbageBodyCloses: an ApiVersions request of a version the
// broker supports whose body does not parse closes the connection, as
// Kafka's RequestContext.parseRequest (InvalidRequestException) does; only
// an unsupported version gets the v0 UNSUPPORTED_VERSION answer (KIP-511).
func TestApiVersionsGarbageBodyCloses(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := rawConn(t, tb.addr)
	// ApiVersions v3, correlation id 7, client id "x", empty header tags,
	// then a compact string whose length varint never ends.
	frame := []byte{0, 18, 0, 3, 0, 0, 0, 7, 0, 1, 'x', 0, 0xff, 0xff, 0xff, 0xff}
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
	c.Write(frame)
	if n, err := io.ReadFull(c, make([]byte, 4)); err == nil {
		t.Fatalf("broker answered (%d bytes) an ApiVersions v3 request with a garbage body", n)
	}
	// The same version with a well-formed body is answered.
	c = rawConn(t, tb.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-test", "1.0"
	c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 8))
	body := mustResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("well-formed v3: err %v, code %d, %d keys", err, resp.ErrorCode, len(resp.ApiKeys))
	}
}

// TestApiVersionsInvalidSoftwareName: v3+ client software name and version
// must match Kafka's pattern, else INVALID_REQUEST (KIP-511).
func TestApiVersionsInvalidSoftwareName(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	for _, nv := range [][2]string{{"bad name!", "1.0"}, {"ok", "-1.0"}, {"", "1.0"}} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = nv[0], nv[1]
		c := rawConn(t, tb.addr)
		c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 9))
		body := mustResponse(t, c)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%q %q: err %v, code %d, want INVALID_REQUEST", nv[0], nv[1], err, resp.ErrorCode)
		}
	}
	send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
}

// TestMinFreeDefaultScales: without log.dir.min.free.bytes the floor is
// log.DefaultMinFree of the data directory (5% of its file system, at most
// 1 GiB); a set value is used as is.
func TestMinFreeDefaultScales(t *testing.T) {
	tb := startBroker(t, "", nil)
	if got, want := tb.lc.space.MinFree(), log.DefaultMinFree(tb.dir); got != want || got > 1<<30 {
		t.Fatalf("default floor %d, want %d", got, want)
	}
	tb2 := startBroker(t, "", map[string]string{"log.dir.min.free.bytes": "12345"})
	if got := tb2.lc.space.MinFree(); got != 12345 {
		t.Fatalf("configured floor %d", got)
	}
}

// waitFrames polls until the broker's frame budget satisfies ok.
func waitFrames(t *testing.T, tb *testBroker, what string, ok func(used int64, waiters int) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		used, _, waiters := tb.frames.stats()
		if ok(used, waiters) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d bytes admitted, %d waiting", what, used, waiters)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling a counter the broker exposes no event for
	}
}

// largeProduceFrame is a Produce request frame of more than smallFrame
// bytes (one 1.5 MB record).
func largeProduceFrame(topic string) []byte {
	batch := buildBatch(-1, -1, -1, time.Now().UnixMilli(), rawRecord{value: make([]byte, 1500000)})
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("big")).AppendRequest(nil, req, 3)
}

// TestLargeFramesAdmitted: frames over smallFrame are admitted against
// queued.max.request.bytes by their declared size; one that does not fit
// waits, unread, until another is answered or its connection closes,
// while small requests go on being served.
func TestLargeFramesAdmitted(t *testing.T) {
	tb := startBroker(t, "", map[string]string{queuedMaxRequestBytesConfig: "3000000"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "big", 1, nil)
	frame := largeProduceFrame("big")
	// A declares a large frame and stalls after its first bytes.
	a := rawConn(t, tb.addr)
	a.Write(frame[:100])
	waitFrames(t, tb, "A admitted", func(used int64, _ int) bool { return used == int64(len(frame)-4) })
	// B's frame does not fit beside it.
	b := rawConn(t, tb.addr)
	b.Write(frame)
	waitFrames(t, tb, "B waiting", func(_ int64, waiters int) bool { return waiters == 1 })
	// Small requests are served meanwhile.
	send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	// A goes away: B is admitted, read and answered.
	a.Close()
	body := mustResponse(t, b)
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	if err := resp.ReadFrom(body[5:]); err != nil || len(resp.Topics) != 1 {
		t.Fatalf("B's produce response: %v", err)
	}
	waitFrames(t, tb, "all released", func(used int64, waiters int) bool { return used == 0 && waiters == 0 })
}

// TestDeclaredFramesCostNoMemory: connections declaring frames of the
// maximum size and sending nothing more hold their admission but not the
// memory; before frames were read in chunks each took a 128 MiB buffer.
func TestDeclaredFramesCostNoMemory(t *testing.T) {
	const conns, size = 8, 100 << 20
	tb := startBroker(t, "", map[string]string{queuedMaxRequestBytesConfig: "2000000000"})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		c := rawConn(t, tb.addr)
		c.Write(binary.BigEndian.AppendUint32(nil, size))
		c.Write(make([]byte, 64<<10)) // a little of the body
	}
	waitFrames(t, tb, "all admitted", func(used int64, _ int) bool { return used == conns*size })
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d connections declaring %d MiB frames: heap grew %d MiB", conns, size>>20, grew>>20)
	if grew > 64<<20 {
		t.Fatalf("heap grew %d MiB for %d stalled %d MiB frames", grew>>20, conns, size>>20)
	}
}

// TestFramePoolsKeepSmallBuffers: a buffer larger than the largest pooled
// frame is not pooled.
func TestFramePoolsKeepSmallBuffers(t *testing.T) {
	big := make([]byte, 0, 2*maxPooledFrame)
	putBuf(big)
	if got := bufPools[bitsLen(2*maxPooledFrame)].Get(); got != nil {
		t.Fatalf("a %d-byte buffer was pooled", cap(big))
	}
}

// TestLargeProduceFramesScribbled: Produce frames over smallFrame (read in
// place into pooled buffers up to maxPooledFrame, in chunks above) from
// several producers at once, with every frame overwritten as it goes back
// to its pool: each record reads back as sent, and every admission is
// given back.
func TestLargeProduceFramesScribbled(t *testing.T) {
	scribbleFrames.Store(true)
	t.Cleanup(func() { scribbleFrames.Store(false) })
	tb := startBroker(t, "", nil)
	const producers, perProducer, size = 3, 24, 400 << 10
	createTopic(t, newClient(t, tb.addr), "large", 4, map[string]*string{"max.message.bytes": kmsg.StringPtr("16777216")})
	var wg sync.WaitGroup
	for w := range producers {
		// Batches of up to 3 MiB: producer 0's requests carry one
		// partition's (read in place into a pooled buffer), the others'
		// all four partitions' (over maxPooledFrame: read in chunks).
		cl := newClient(t, tb.addr, kgo.ProducerBatchMaxBytes(3<<20), kgo.MaxBufferedRecords(perProducer),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var recs []*kgo.Record
			for i := range perProducer {
				p := int32(i % 4)
				if w == 0 {
					p = 0
				}
				recs = append(recs, &kgo.Record{Topic: "large", Partition: p, Value: bytes.Repeat([]byte{byte('A' + w), byte(i)}, size/2)})
			}
			if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
				t.Errorf("producer %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if _, peak, _ := tb.frames.stats(); peak <= smallFrame {
		t.Fatalf("no frame over %d bytes was admitted (peak %d)", smallFrame, peak)
	}
	waitFrames(t, tb, "all released", func(used int64, waiters int) bool { return used == 0 && waiters == 0 })
	ccl := newClient(t, tb.addr, kgo.ConsumeTopics("large"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < producers*perProducer {
		fs := ccl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch after %d records: %v", n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if len(r.Value) != size || !bytes.Equal(r.Value, bytes.Repeat(r.Value[:2], size/2)) || r.Value[0] < 'A' || r.Value[0] >= 'A'+producers {
				t.Fatalf("record %d/%d reads back wrong (%d bytes, starting %q)", r.Partition, r.Offset, len(r.Value), r.Value[:min(8, len(r.Value))])
			}
		})
	}
}

// TestDecompressBusyIsRetriable: an exhausted decompression budget is
// REQUEST_TIMED_OUT (retriable), for produce and timestamp lookups alike.
func TestDecompressBusyIsRetriable(t *testing.T) {
	err := fmt.Errorf("partition 0: %w", log.ErrDecompressBusy)
	if got := appendError(err); got != kerr.RequestTimedOut {
		t.Errorf("produce: %v", got)
	}
	if got := readError(err); got != kerr.RequestTimedOut {
		t.Errorf("read: %v", got)
	}
	if !kerr.IsRetriable(kerr.RequestTimedOut) {
		t.Error("REQUEST_TIMED_OUT not retriable")
	}
}
