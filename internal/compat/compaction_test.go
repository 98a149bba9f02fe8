package compat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatCompactedTopic reads a compacted topic with kcat and franz-go
// before and after the broker's cleaner runs: afterwards exactly the newest
// value of every key is left, at the offset it was written at.
//
// The cleaner never touches the active segment, so the topic starts with
// the default segment.ms: every record stays in the active segment, out of
// the cleaner's reach, until the pre-compaction read is done. Only then
// does segment.ms drop to 500 ms, letting the retention check roll the
// segment and the cleaner compact it. (With a short segment.ms from the
// start, a busy machine let the cleaner run before the first read.)
func TestKcatCompactedTopic(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "", "--set", "log.retention.check.interval.ms=200", "--set", "log.cleaner.backoff.ms=200")
	ctx := ctxT(t, 120*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{"cleanup.policy": ptr("compact"), "min.cleanable.dirty.ratio": ptr("0.01")}
	if _, err := adm.CreateTopic(ctx, 1, 1, cfg, "compacted"); err != nil {
		t.Fatal(err)
	}
	const keys, rounds = 20, 4
	for r := range rounds {
		var in strings.Builder
		for k := range keys {
			fmt.Fprintf(&in, "k%d:v%d\n", k, r)
		}
		run(t, ctx, in.String(), kcat, "-b", s.addr, "-P", "-t", "compacted", "-K:", "-X", "acks=all")
	}
	read := func() map[int64]string {
		out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", "compacted", "-o", "beginning", "-e", "-f", "%o %k=%s\n")
		recs := map[int64]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			off, kv, ok := strings.Cut(l, " ")
			n, err := strconv.ParseInt(off, 10, 64)
			if !ok || err != nil {
				t.Fatalf("kcat line %q", l)
			}
			recs[n] = kv
		}
		return recs
	}
	before := read()
	if len(before) != keys*rounds {
		t.Fatalf("before compaction kcat read %d records, want %d", len(before), keys*rounds)
	}
	newest := map[string]int64{} // key=value of the last round -> its offset
	for off, kv := range before {
		if strings.HasSuffix(kv, fmt.Sprintf("=v%d", rounds-1)) {
			newest[kv] = off
		}
	}

	// Now the retention check rolls the idle segment after segment.ms;
	// the cleaner then compacts it. Poll (bounded) until it has.
	releaseCleaner(t, ctx, adm, "compacted")
	var after map[int64]string
	for {
		after = read()
		if len(after) == keys {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not compacted: %d records left:\n%s", len(after), s.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for off, kv := range after {
		if want, ok := newest[kv]; !ok || want != off {
			t.Fatalf("after compaction %q at offset %d; the newest values were at %v", kv, off, newest)
		}
	}

	// franz-go sees the same: one record per key, original offsets.
	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < keys {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of %d", got, keys)
		}
		fs.EachRecord(func(r *kgo.Record) {
			kv := string(r.Key) + "=" + string(r.Value)
			if newest[kv] != r.Offset {
				t.Fatalf("franz-go read %s at %d after compaction", kv, r.Offset)
			}
			got++
		})
	}
}

func ptr(s string) *string { return &s }

// releaseCleaner sets topic's segment.ms to 500 ms: a compacted topic
// created with the default segment.ms keeps its records in the active
// segment, which the cleaner never touches, so a test can read them before
// compaction without racing the cleaner; after this call the retention
// check rolls the idle segment and the cleaner may compact it.
func releaseCleaner(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) {
	t.Helper()
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("500")}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		r, err = rs.On(topic, nil)
		if err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("setting segment.ms of %s: %v", topic, err)
	}
}

// TestKcatTombstoneHorizon: the cleaner gives a batch holding a tombstone
// its KIP-534 delete horizon (firstTimestamp becomes clean time +
// delete.retention.ms, the records' deltas re-encoded); kcat (librdkafka)
// and franz-go still read every kept record, the tombstone included, with
// the timestamp it was produced with.
func TestKcatTombstoneHorizon(t *testing.T) {
	kcat := tool(t, "kcat")
	s := startServer(t, "", "--set", "log.retention.check.interval.ms=200", "--set", "log.cleaner.backoff.ms=200")
	ctx := ctxT(t, 120*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The default segment.ms holds the cleaner off until the first read
	// (releaseCleaner).
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{"cleanup.policy": ptr("compact"), "min.cleanable.dirty.ratio": ptr("0.01")}
	if _, err := adm.CreateTopic(ctx, 1, 1, cfg, "tomb"); err != nil {
		t.Fatal(err)
	}
	// One kcat run, one batch: k0 twice (the first goes), k1 a
	// tombstone (-Z: an empty value is null), k2 a value.
	run(t, ctx, "k0:a\nk1:\nk0:b\nk2:c\n", kcat, "-b", s.addr, "-P", "-t", "tomb", "-K:", "-Z", "-X", "acks=all", "-X", "linger.ms=100")
	type rec struct {
		key  string
		ts   string
		null bool
	}
	read := func() map[int64]rec {
		out := run(t, ctx, "", kcat, "-b", s.addr, "-C", "-t", "tomb", "-o", "beginning", "-e", "-Z", "-f", "%o %k %T %S\n")
		recs := map[int64]rec{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			n, err := strconv.ParseInt(f[0], 10, 64)
			if len(f) != 4 || err != nil {
				t.Fatalf("kcat line %q", l)
			}
			recs[n] = rec{key: f[1], ts: f[2], null: f[3] == "-1"}
		}
		return recs
	}
	before := read()
	if len(before) != 4 || !before[1].null {
		t.Fatalf("before cleaning kcat read %v", before)
	}
	releaseCleaner(t, ctx, adm, "tomb")
	var after map[int64]rec
	for {
		after = read()
		if len(after) == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not compacted: %v\n%s", after, s.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for off, r := range after {
		if before[off] != r {
			t.Fatalf("kcat: offset %d was %+v, is %+v after cleaning", off, before[off], r)
		}
	}
	if _, ok := after[0]; ok || !after[1].null {
		t.Fatalf("after cleaning: %v; want k0's first value gone, the tombstone kept", after)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("tomb"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < 3; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of 3", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			want := before[r.Offset]
			if ts := strconv.FormatInt(r.Timestamp.UnixMilli(), 10); ts != want.ts || string(r.Key) != want.key || (r.Value == nil) != want.null {
				t.Fatalf("franz-go: offset %d %s at %s (null %v), produced %+v", r.Offset, r.Key, ts, r.Value == nil, want)
			}
			got++
		})
	}
}
