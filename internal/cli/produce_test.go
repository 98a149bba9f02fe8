package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// consumedRecord is one line of consume --format json, with pointers to
// tell null from empty.
type consumedRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp int64             `json:"timestamp"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
	Headers   map[string]string `json:"headers"`
}

func parseJSONLines(t *testing.T, out string) []consumedRecord {
	t.Helper()
	var rs []consumedRecord
	for line := range strings.Lines(out) {
		var r consumedRecord
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// partitionOffsets parses consume --format '%p %o\n' into the offsets read
// from each partition.
func partitionOffsets(t *testing.T, out string) map[int32][]int64 {
	t.Helper()
	got := map[int32][]int64{}
	for line := range strings.Lines(out) {
		var p int32
		var o int64
		if _, err := fmt.Sscanf(line, "%d %d\n", &p, &o); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got[p] = append(got[p], o)
	}
	return got
}

func seqOffsets(from, to int64) []int64 {
	var s []int64
	for o := from; o < to; o++ {
		s = append(s, o)
	}
	return s
}

func TestProduceAndConsume(t *testing.T) {
	c, _ := startSluice(t)
	c.ok("", "topic", "create", "events", "--partitions", "3")

	// 1,000 lines KEY:VALUE over 50 keys.
	var in strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&in, "key-%d:value-%d\n", i%50, i)
	}
	r := c.ok(in.String(), "produce", "events", "--key-delimiter", ":", "--header", "src=test", "--header", "run=1")
	if r.stderr != "produced 1000 records\n" || r.stdout != "" {
		t.Fatalf("produce: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	// From the beginning to the end, as JSON.
	r = c.ok("", "consume", "events", "--offset", "beginning", "-e", "--format", "json")
	all := parseJSONLines(t, r.stdout)
	if len(all) != 1000 {
		t.Fatalf("consumed %d records, want 1000", len(all))
	}
	counts := map[int32]int64{}
	keyPartition := map[string]int32{}
	lastValue := map[string]int{}
	for _, rec := range all {
		if rec.Topic != "events" || rec.Key == nil || rec.Value == nil || rec.Headers["src"] != "test" || rec.Headers["run"] != "1" || len(rec.Headers) != 2 {
			t.Fatalf("record %+v", rec)
		}
		if rec.Offset != counts[rec.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", rec.Partition, rec.Offset, counts[rec.Partition])
		}
		counts[rec.Partition]++
		if age := time.Since(time.UnixMilli(rec.Timestamp)); age < 0 || age > time.Minute {
			t.Errorf("timestamp %d is %v old", rec.Timestamp, age)
		}
		// A key always goes to the same partition, in order.
		if p, ok := keyPartition[*rec.Key]; ok && p != rec.Partition {
			t.Fatalf("key %s in partitions %d and %d", *rec.Key, p, rec.Partition)
		}
		keyPartition[*rec.Key] = rec.Partition
		n, _ := strconv.Atoi(strings.TrimPrefix(*rec.Value, "value-"))
		if *rec.Key != fmt.Sprintf("key-%d", n%50) || n < lastValue[*rec.Key] {
			t.Fatalf("key %s value %s out of order", *rec.Key, *rec.Value)
		}
		lastValue[*rec.Key] = n
	}
	if len(counts) != 3 {
		t.Errorf("records in %d partitions, want 3: %v", len(counts), counts)
	}

	// From the end, exiting at the end: nothing.
	r = c.ok("", "consume", "events", "--offset", "end", "-e")
	if r.stdout != "" {
		t.Errorf("--offset end -e printed %q", r.stdout)
	}
	// The default start is the end too.
	if r = c.ok("", "consume", "events", "-e"); r.stdout != "" {
		t.Errorf("default offset -e printed %q", r.stdout)
	}

	// An absolute offset, in one partition.
	r = c.ok("", "consume", "events", "--offset", "7", "--partition", "2", "-e", "--format", `%p %o\n`)
	if got := partitionOffsets(t, r.stdout); len(got) != 1 || !equalInt64s(got[2], seqOffsets(7, counts[2])) {
		t.Errorf("--offset 7 --partition 2: %v", got)
	}
	// Beyond the end it is clamped to the end.
	if r = c.ok("", "consume", "events", "--offset", "1000000", "-e"); r.stdout != "" {
		t.Errorf("--offset 1000000 -e printed %q", r.stdout)
	}

	// -N: the last N of each partition.
	r = c.ok("", "consume", "events", "--offset", "-4", "-e", "--format", `%p %o\n`)
	got := partitionOffsets(t, r.stdout)
	for p, n := range counts {
		if !equalInt64s(got[p], seqOffsets(n-4, n)) {
			t.Errorf("--offset -4: partition %d read %v, want the last 4 of %d", p, got[p], n)
		}
	}
	// More than a partition holds is clamped at the beginning.
	if r = c.ok("", "consume", "events", "--offset", "-5000", "-e"); strings.Count(r.stdout, "\n") != 1000 {
		t.Errorf("--offset -5000 -e: %d lines", strings.Count(r.stdout, "\n"))
	}

	// -n: exit after COUNT records even while following.
	r = c.ok("", "consume", "events", "--offset", "beginning", "-n", "25")
	if strings.Count(r.stdout, "\n") != 25 {
		t.Errorf("-n 25: %d lines", strings.Count(r.stdout, "\n"))
	}

	// A format string with every token.
	r = c.ok("", "consume", "events", "--offset", "0", "--partition", "0", "-n", "1",
		"--format", `%t|%p|%o|%k|%v|%s|%h|%K|%S|%T|100%%\n`)
	f := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "|")
	if len(f) != 11 || f[0] != "events" || f[1] != "0" || f[2] != "0" || f[4] != f[5] || f[6] != "src=test,run=1" ||
		f[7] != strconv.Itoa(len(f[3])) || f[8] != strconv.Itoa(len(f[4])) || f[10] != "100%" {
		t.Errorf("format tokens: %q", r.stdout)
	}

	c.fails(1, "", []string{"consume", "nope", "-e"}, `topic "nope" does not exist`)
	c.fails(1, "", []string{"consume", "events", "--partition", "3"}, "has no partition 3")
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProduceOptions(t *testing.T) {
	c, _ := startSluice(t)
	c.ok("", "topic", "create", "t", "--partitions", "2")

	// kcat -K semantics: a line without the delimiter is all value with a
	// null key; escapes in the delimiter; empty lines are empty values.
	c.ok("a\tone\nplain\n\tempty key\n\nb\ttwo\tthree", "produce", "t", "--key-delimiter", `\t`, "--partition", "1")
	r := c.ok("", "consume", "t", "--partition", "1", "--offset", "beginning", "-e", "--format", "json")
	recs := parseJSONLines(t, r.stdout)
	type kv struct{ k, v string }
	var got []kv
	for _, rec := range recs {
		k := "<null>"
		if rec.Key != nil {
			k = *rec.Key
		}
		got = append(got, kv{k, *rec.Value})
	}
	want := []kv{{"a", "one"}, {"<null>", "plain"}, {"", "empty key"}, {"<null>", ""}, {"b", "two\tthree"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}

	// Every compression codec and acks level.
	for _, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"all", "1", "0"} {
			r := c.ok(strings.Repeat(comp+"-"+acks+"\n", 20), "produce", "t", "--partition", "0", "--compression", comp, "--acks", acks)
			if r.stderr != "produced 20 records\n" {
				t.Errorf("%s/%s: %q", comp, acks, r.stderr)
			}
		}
	}
	// -n, not -e: acks=0 records may still be on their way into the log
	// when the producer exits.
	if r = c.ok("", "consume", "t", "--partition", "0", "--offset", "beginning", "-n", "300"); strings.Count(r.stdout, "\n") != 300 {
		t.Errorf("consumed %d of 300 compressed records", strings.Count(r.stdout, "\n"))
	}

	// Nothing in, nothing out.
	if r = c.ok("", "produce", "t"); r.stderr != "produced 0 records\n" {
		t.Errorf("empty input: %q", r.stderr)
	}

	// Failures: a line that does not match --format, a partition that
	// does not exist.
	c.fails(1, "k1=v1\nk2\nk3=v3\n", []string{"produce", "t", "--format", "%k=%v"}, "line 2 does not match --format", "(1 record produced)")
	c.fails(1, "x\ny\n", []string{"produce", "t", "--partition", "9", "--timeout", "5s"}, "2 of 2 records failed (0 produced)")
}
