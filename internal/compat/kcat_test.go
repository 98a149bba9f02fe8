package compat

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestKcatProduceConsumeMetadata(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "", "--set", "num.partitions=2")
	ctx := ctxT(t, 60*time.Second)

	var in strings.Builder
	for i := range 200 {
		fmt.Fprintf(&in, "key%d:value%d\n", i, i)
	}
	// Auto-creates the topic through Metadata; every codec librdkafka has.
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		run(t, ctx, in.String(), kcat, "-b", s.addr, "-P", "-t", "kc-"+codec, "-K:", "-z", codec,
			"-H", "source=kcat", "-X", "acks=all")
		out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", "kc-"+codec, "-o", "beginning", "-e",
			"-f", "%k=%s|%h\n")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 200 {
			t.Fatalf("%s: consumed %d lines, want 200:\n%s", codec, len(lines), out)
		}
		seen := map[string]bool{}
		for _, l := range lines {
			kv, hdr, _ := strings.Cut(l, "|")
			k, v, _ := strings.Cut(kv, "=")
			if "value"+strings.TrimPrefix(k, "key") != v || hdr != "source=kcat" {
				t.Fatalf("%s: bad line %q", codec, l)
			}
			seen[k] = true
		}
		if len(seen) != 200 {
			t.Fatalf("%s: %d distinct keys", codec, len(seen))
		}
	}

	meta := run(t, ctx, "", kcat, "-b", s.addr, "-L", "-t", "kc-none")
	if !strings.Contains(meta, `topic "kc-none" with 2 partitions`) || !strings.Contains(meta, "leader 1") {
		t.Fatalf("kcat -L:\n%s", meta)
	}

	// Consume from an offset and from the end of one partition.
	out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", "kc-none", "-p", "0", "-o", "-5", "-e", "-f", "%o\n")
	if n := len(strings.Fields(out)); n != 5 {
		t.Fatalf("kcat -o -5 returned %d records:\n%s", n, out)
	}
}
