package compat

import (
	"fmt"
	"strconv"
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

func TestKcatConsumerGroupResumesFromCommittedOffsets(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "", "--set", "num.partitions=4", "--set", "group.initial.rebalance.delay.ms=0")
	ctx := ctxT(t, 90*time.Second)
	produce := func(from, to int) {
		var in strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&in, "%d\n", i)
		}
		run(t, ctx, in.String(), kcat, "-b", s.addr, "-P", "-t", "kcg", "-X", "topic.partitioner=random")
	}
	consume := func() []string {
		out := run(t, ctx, "", kcat, "-b", s.addr, "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-f", "%s\n", "kcg")
		return strings.Fields(out)
	}
	produce(0, 100)
	if got := consume(); len(got) != 100 {
		t.Fatalf("first group consumer read %d records, want 100", len(got))
	}
	produce(100, 120)
	got := consume()
	if len(got) != 20 {
		t.Fatalf("second group consumer read %d records, want the 20 after the committed offsets: %v", len(got), got)
	}
	for _, v := range got {
		if n, _ := strconv.Atoi(v); n < 100 {
			t.Fatalf("re-consumed %s", v)
		}
	}
}
