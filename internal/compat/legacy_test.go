package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluice-io/sluice/internal/log"
)

// Debian's librdkafka 2.0.2 (kcat, python3-confluent-kafka) compresses only
// when the broker has Produce v0-v2 (its feature detection keys the codecs
// on them), so with a broker whose Produce started at v3 it silently sent
// gzip, snappy and lz4 uncompressed. The batches on disk must carry the
// codec asked for.
func TestKcatStoresCompressedBatches(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "")
	ctx := ctxT(t, 60*time.Second)
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "key%d:value%d %s\n", i, i, strings.Repeat("x", 50))
	}
	codecs := map[string]int8{"gzip": log.CodecGzip, "snappy": log.CodecSnappy, "lz4": log.CodecLz4, "zstd": log.CodecZstd}
	for name, codec := range codecs {
		topic := "kz-" + name
		run(t, ctx, in.String(), kcat, "-b", s.addr, "-P", "-t", topic, "-p", "0", "-K:", "-z", name, "-X", "acks=all")
		data, err := os.ReadFile(filepath.Join(s.dir, topic+"-0", "00000000000000000000.log"))
		if err != nil {
			t.Fatal(err)
		}
		batches, records := 0, 0
		for len(data) > 0 {
			h, err := log.ParseBatchHeader(data)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != codec {
				t.Fatalf("%s: batch at offset %d has codec %d, want %d", name, h.BaseOffset, h.Compression(), codec)
			}
			batches++
			records += int(h.NumRecords)
			data = data[h.Size():]
		}
		if records != 100 {
			t.Fatalf("%s: %d records in %d batches", name, records, batches)
		}
		out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\n")
		if n := strings.Count(out, "=value"); n != 100 {
			t.Fatalf("%s: consumed %d records:\n%s", name, n, out)
		}
	}
}

// Old clients speak message formats 0 and 1: sarama configured as Kafka
// 0.8.2 (Produce v0, magic 0), 0.9 (Produce v1, magic 0) and 0.10.0
// (Produce v2, magic 1) produces with each codec it has there; the records
// are stored as v2 batches of that codec, and consumers of the same version
// (ListOffsets v0; Fetch v0, v1 and v2, down-converted to magic 0, 0 and 1)
// and of 0.10.1 (Fetch v3, magic 1) read them back.
func TestSaramaLegacyMessageFormats(t *testing.T) {
	s := startServer(t, "")
	type tc struct {
		version sarama.KafkaVersion
		codec   sarama.CompressionCodec
	}
	var cases []tc
	for _, v := range []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V0_9_0_0, sarama.V0_10_0_0} {
		for _, c := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4} {
			if c == sarama.CompressionLZ4 && !v.IsAtLeast(sarama.V0_10_0_0) {
				continue // sarama has lz4 from 0.10 (message format 1) on
			}
			cases = append(cases, tc{v, c})
		}
	}
	for _, c := range cases {
		topic := fmt.Sprintf("sl-%s-%s", strings.ReplaceAll(c.version.String(), ".", "_"), c.codec)
		t.Run(topic, func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = c.version
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Return.Successes = true
			cfg.Producer.Compression = c.codec
			cfg.Producer.Flush.Messages = 10 // batches of 10 messages
			cfg.Producer.Flush.Frequency = time.Second
			prod, err := sarama.NewSyncProducer([]string{s.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			var msgs []*sarama.ProducerMessage
			for i := range 30 {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0,
					Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint("v", i))})
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatal(err)
			}

			data, err := os.ReadFile(filepath.Join(s.dir, topic+"-0", "00000000000000000000.log"))
			if err != nil {
				t.Fatal(err)
			}
			records := 0
			for len(data) > 0 {
				h, err := log.ParseBatchHeader(data)
				if err != nil {
					t.Fatal(err)
				}
				if h.Compression() != int8(c.codec) {
					t.Fatalf("batch at offset %d has codec %d, want %d", h.BaseOffset, h.Compression(), c.codec)
				}
				records += int(h.NumRecords)
				data = data[h.Size():]
			}
			if records != 30 {
				t.Fatalf("%d records stored", records)
			}

			// Consumed as the producing version does (ListOffsets v0,
			// Fetch v0, v1 or v2) and as 0.10.1 (Fetch v3).
			for _, cv := range []sarama.KafkaVersion{c.version, sarama.V0_10_1_0} {
				consumeLegacy(t, s.addr, topic, cv, c.version.IsAtLeast(sarama.V0_10_0_0) && cv.IsAtLeast(sarama.V0_10_0_0))
			}
		})
	}
}

func consumeLegacy(t *testing.T, addr, topic string, version sarama.KafkaVersion, timestamps bool) {
	t.Helper()
	ccfg := sarama.NewConfig()
	ccfg.Version = version
	cons, err := sarama.NewConsumer([]string{addr}, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := range 30 {
		select {
		case m := <-pc.Messages():
			if m.Offset != int64(i) || string(m.Key) != fmt.Sprint("k", i) || string(m.Value) != fmt.Sprint("v", i) {
				t.Fatalf("%s: consumed %s=%s at %d, want k%d=v%d", version, m.Key, m.Value, m.Offset, i, i)
			}
			if timestamps && m.Timestamp.IsZero() {
				t.Fatalf("%s: offset %d lost its timestamp", version, m.Offset)
			}
		case err := <-pc.Errors():
			t.Fatalf("%s: %v", version, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: consumed %d of 30", version, i)
		}
	}
}

// librdkafka told the broker is Kafka 0.8.2, 0.9 or 0.10.0 (no ApiVersions)
// produces with Produce v0, v1 or v2 (magic 0, 0, 1; lz4 in magic 0 with
// its old, broken frame checksum) and consumes with ListOffsets v0 and
// Fetch v0, v1 or v2: every codec round-trips and is stored as sent.
func TestKcatLegacyBrokerVersions(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "")
	ctx := ctxT(t, 120*time.Second)
	var in strings.Builder
	pad := strings.Repeat("x", 50) // compressible: librdkafka sends what compression does not shrink uncompressed
	for i := range 20 {
		fmt.Fprintf(&in, "key%d:value%d%s\n", i, i, pad)
	}
	codecs := map[string]int8{"none": log.CodecNone, "gzip": log.CodecGzip, "snappy": log.CodecSnappy, "lz4": log.CodecLz4}
	for _, v := range []string{"0.8.2", "0.9.0", "0.10.0"} {
		for name, codec := range codecs {
			topic := "kl-" + strings.ReplaceAll(v, ".", "_") + "-" + name
			old := []string{"-X", "api.version.request=false", "-X", "broker.version.fallback=" + v}
			run(t, ctx, in.String(), kcat, append([]string{"-b", s.addr, "-P", "-t", topic, "-p", "0", "-K:", "-z", name, "-X", "acks=all"}, old...)...)
			data, err := os.ReadFile(filepath.Join(s.dir, topic+"-0", "00000000000000000000.log"))
			if err != nil {
				t.Fatal(err)
			}
			records := 0
			for len(data) > 0 {
				h, err := log.ParseBatchHeader(data)
				if err != nil {
					t.Fatal(err)
				}
				if h.Compression() != codec {
					t.Fatalf("%s %s: batch at offset %d has codec %d", v, name, h.BaseOffset, h.Compression())
				}
				records += int(h.NumRecords)
				data = data[h.Size():]
			}
			if records != 20 {
				t.Fatalf("%s %s: %d records stored", v, name, records)
			}
			out := run(t, ctx, "", kcat, append([]string{"-b", s.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %k=%s\n"}, old...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 20 {
				t.Fatalf("%s %s: consumed %d records:\n%s", v, name, len(lines), out)
			}
			for i, l := range lines {
				if l != fmt.Sprintf("%d key%d=value%d%s", i, i, i, pad) {
					t.Fatalf("%s %s: line %d is %q", v, name, i, l)
				}
			}
		}
	}
}
