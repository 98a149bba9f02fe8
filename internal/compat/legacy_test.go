package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
