package broker

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Benchmarks of the request hot paths below the client: a request frame
// decoded and served by conn.handleFrame, with the response written to a
// real loopback TCP connection whose other end discards it.

// encodeFrame encodes req as a request frame without its size prefix, as
// conn.serve passes it to handleFrame.
func encodeFrame(req kmsg.Request, corrID int32) []byte {
	var out []byte
	out = binary.BigEndian.AppendUint16(out, uint16(req.Key()))
	out = binary.BigEndian.AppendUint16(out, uint16(req.GetVersion()))
	out = binary.BigEndian.AppendUint32(out, uint32(corrID))
	out = binary.BigEndian.AppendUint16(out, uint16(len("bench")))
	out = append(out, "bench"...)
	if req.IsFlexible() {
		out = append(out, 0) // header tagged fields
	}
	return req.AppendTo(out)
}

// benchConn is a conn of tb's broker on a loopback TCP connection whose
// client end is drained by a goroutine until the benchmark ends.
func benchConn(b *testing.B, tb *testBroker) (*conn, *atomic.Int64) {
	b.Helper()
	server, client := loopbackPair(b)
	drained := make(chan struct{})
	var got atomic.Int64
	go func() {
		defer close(drained)
		buf := make([]byte, 256<<10)
		for {
			n, err := client.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		server.Close()
		client.Close()
		<-drained
	})
	return newConn(tb.Broker, server), &got
}

// loopbackPair is the two ends of a loopback TCP connection.
func loopbackPair(b *testing.B) (server, client net.Conn) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return server, client
}

// waitBytes waits until the client end of a benchConn has read n bytes.
func waitBytes(b *testing.B, got *atomic.Int64, n int64) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("the client read %d bytes, want %d", got.Load(), n)
		}
		runtime.Gosched()
	}
}

// fillPartition produces n records of size bytes to a new one-partition
// topic and returns the high watermark.
func fillPartition(b *testing.B, tb *testBroker, topic string, n, size int) int64 {
	b.Helper()
	cl := newClient(b, tb.addr, kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(b, cl, topic, 1, nil)
	val := make([]byte, size)
	for i := range n {
		val[0] = byte(i)
		cl.Produce(ctxT(b), &kgo.Record{Topic: topic, Value: append([]byte(nil), val...)}, nil)
	}
	if err := cl.Flush(ctxT(b)); err != nil {
		b.Fatal(err)
	}
	return tb.partition(topic, 0).log.HighWatermark()
}

// BenchmarkFetchServe serves sessionless Fetch requests of 1 MiB from a
// 32 MiB partition, at offsets spread over it, through handleFrame: fetch
// planning, the index lookup, response encoding and the sendfile splice
// of the records (splice.go).
func BenchmarkFetchServe(b *testing.B) {
	tb := startBroker(b, "", nil)
	hw := fillPartition(b, tb, "fetch", 32<<10, 1000)
	c, got := benchConn(b, tb)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12) // topic names; flexible
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "fetch"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// One fetch first: its response must carry about 1 MiB of records.
	if !c.handleFrame(encodeFrame(req, 0)) {
		b.Fatal("connection closed")
	}
	waitBytes(b, got, 1<<20-64<<10)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		req.Topics[0].Partitions[0].FetchOffset = (i * 997) % hw
		i++
		if !c.handleFrame(encodeFrame(req, int32(i))) {
			b.Fatal("connection closed")
		}
	}
}

// BenchmarkDecodeProduceFrame decodes a Produce frame of 8 partitions of
// 128 KiB as handleFrame does (header, then kmsg), without serving it.
func BenchmarkDecodeProduceFrame(b *testing.B) {
	frame := produceFrame(8, 128<<10/110, 100)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r := kbin.Reader{Src: frame}
		key, version, _ := r.Int16(), r.Int16(), r.Int32()
		r.NullableString()
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		body := r.Src
		r = kbin.Reader{Src: body}
		skipTags(&r)
		if err := req.ReadFrom(r.Src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleProduceFrame serves Produce frames of 8 partitions of
// 128 KiB of 100-byte records (acks=all) through handleFrame: decoding,
// validation, the appends and the response.
func BenchmarkHandleProduceFrame(b *testing.B) {
	tb := startBroker(b, "", nil)
	createTopic(b, newClient(b, tb.addr), "produce", 8, nil)
	frame := produceFrame(8, 128<<10/110, 100)
	c, _ := benchConn(b, tb)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	frames := int64(0)
	for b.Loop() {
		frames++
		// The log rewrites each batch's base offset in place, and the
		// batch stays valid: the same frame serves again.
		if !c.handleFrame(frame) {
			b.Fatal("connection closed")
		}
	}
	for p := range int32(8) {
		if hw := tb.partition("produce", p).log.HighWatermark(); hw != frames*int64(128<<10/110) {
			b.Fatalf("partition %d: high watermark %d after %d frames", p, hw, frames)
		}
	}
}

// produceFrame is a Produce v9 frame (topic names) for topic "produce"
// with one batch of n records of size bytes for each of parts partitions.
func produceFrame(parts, n, size int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "produce"
	recs := make([]rawRecord, n)
	for i := range recs {
		recs[i] = rawRecord{value: make([]byte, size), tsDelta: int64(i)}
	}
	for p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Records = buildBatch(-1, -1, -1, time.Now().UnixMilli(), recs...)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return encodeFrame(req, 1)
}

// BenchmarkHandleSmallProduce serves small Produce frames (one partition,
// 10 records of 100 bytes, acks=all) through handleFrame with the request
// metrics off (no operations listener) and on: the per-request cost of
// recording them (clock reads, histograms, the error-code walk) next to a
// request whose own work is small.
func BenchmarkHandleSmallProduce(b *testing.B) {
	for _, mode := range []struct {
		name string
		http string
	}{{"metrics=off", ""}, {"metrics=on", "127.0.0.1:0"}} {
		b.Run(mode.name, func(b *testing.B) {
			tb := startBrokerWith(b, Config{HTTPListen: mode.http})
			if (tb.metrics != nil) != (mode.http != "") {
				b.Fatalf("metrics on: %v", tb.metrics != nil)
			}
			createTopic(b, newClient(b, tb.addr), "produce", 1, nil)
			frame := produceFrame(1, 10, 100)
			c, _ := benchConn(b, tb)
			b.ReportAllocs()
			frames := int64(0)
			cpu0 := processCPU()
			for b.Loop() {
				frames++
				if !c.handleFrame(frame) {
					b.Fatal("connection closed")
				}
			}
			// The process's CPU time (this loop, the goroutine draining
			// the responses, the garbage collector): on a shared machine
			// less noisy than ns/op, which counts time waiting for a core.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(frames), "cpu-ns/op")
			if hw := tb.partition("produce", 0).log.HighWatermark(); hw != frames*10 {
				b.Fatalf("high watermark %d after %d frames", hw, frames)
			}
		})
	}
}

// BenchmarkObserveRequest is the recording alone, as handleFrame does it
// with the metrics on: three clock reads, then observeRequest (a fourth,
// the histograms, the error-code walk) of a Produce request and its
// response of one partition without error.
func BenchmarkObserveRequest(b *testing.B) {
	tb := startBrokerWith(b, Config{HTTPListen: "127.0.0.1:0"})
	req := &request{c: &conn{}, key: 0, version: 9}
	resp := kmsg.NewPtrProduceResponse()
	rt := kmsg.NewProduceResponseTopic()
	rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, 1)
	resp.Topics = append(resp.Topics, rt)
	b.ReportAllocs()
	for b.Loop() {
		read := monoNow()
		start := monoNow()
		handled := monoNow()
		tb.observeRequest(req, resp, read, start, handled)
	}
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
