package broker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/meta"
)

// BenchmarkMetadataAllTopics answers a Metadata request for every topic
// (v12, flexible) through handleFrame, response written to loopback TCP and
// fully read by the other end: what the broker spends per "all topics"
// Metadata. SLUICE_BENCH_MD_TOPICS topics of SLUICE_BENCH_MD_PARTITIONS
// partitions (default 100 x 100; issue #19's full size is 1,000 x 100).
func BenchmarkMetadataAllTopics(b *testing.B) {
	topics, parts := scaleEnv("SLUICE_BENCH_MD_TOPICS", 100), scaleEnv("SLUICE_BENCH_MD_PARTITIONS", 100)
	tb := startBroker(b, "", map[string]string{"log.lazy.load.enable": "true"})
	for i := 0; i < topics; i += 100 {
		var ts []meta.Topic
		for j := i; j < min(i+100, topics); j++ {
			ts = append(ts, meta.Topic{Name: fmt.Sprintf("md-%05d", j), Partitions: int32(parts), Configs: map[string]string{}})
		}
		if _, errs := tb.createTopics(ts); errs != nil {
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	c, sizes := framedConn(b, tb)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = nil // all topics
	var size int32
	b.ReportAllocs()
	var i int32
	for b.Loop() {
		i++
		if !c.handleFrame(encodeFrame(req, i)) {
			b.Fatal("connection closed")
		}
		size = <-sizes
	}
	if size < int32(topics*parts*20) {
		b.Fatalf("a response of %d bytes for %d partitions", size, topics*parts)
	}
	b.ReportMetric(float64(size), "resp-bytes")
}

// framedConn is a conn of tb's broker on loopback TCP whose client end
// reads whole response frames and sends each one's size.
func framedConn(b *testing.B, tb *testBroker) (*conn, <-chan int32) {
	b.Helper()
	server, client := loopbackPair(b)
	sizes := make(chan int32, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(client, 256<<10)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			n := int32(binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return
			}
			sizes <- n
		}
	}()
	b.Cleanup(func() {
		server.Close()
		client.Close()
		<-done
	})
	return newConn(tb.Broker, server), sizes
}
