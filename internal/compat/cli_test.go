package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sluiceCLI runs the sluice binary as a user would and returns stdout,
// stderr and the exit code.
func sluiceCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t, 60*time.Second), sluiceBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running sluice %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

type jsonRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64
	Key       *string
	Value     *string
	Headers   map[string]string
}

func parseJSONLines(t *testing.T, out string) []jsonRecord {
	t.Helper()
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("consume --format json line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestCLIAsAUser drives the command-line contract against the real broker:
// topic create (twice: the second fails with one line), produce 1,000
// keyed lines, consume them back with each start option, and describe a
// group's lag after a partial consume.
func TestCLIAsAUser(t *testing.T) {
	s := startServer(t, "", "--set", "group.initial.rebalance.delay.ms=0")
	b := []string{"--brokers", s.addr}

	if out, errOut, code := sluiceCLI(t, "", append([]string{"topic", "create", "orders", "--partitions", "2"}, b...)...); code != 0 {
		t.Fatalf("topic create: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code := sluiceCLI(t, "", append([]string{"topic", "create", "orders", "--partitions", "2"}, b...)...)
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("creating an existing topic: exit %d, stderr %q", code, errOut)
	}
	if out, _, code := sluiceCLI(t, "", append([]string{"topic", "list"}, b...)...); code != 0 || !strings.Contains(out, "orders") {
		t.Fatalf("topic list: exit %d\n%s", code, out)
	}

	var in strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&in, "key%d:value%d\n", i, i)
	}
	if _, errOut, code := sluiceCLI(t, in.String(), append([]string{"produce", "orders", "--key-delimiter", ":"}, b...)...); code != 0 {
		t.Fatalf("produce: exit %d: %s", code, errOut)
	}

	consume := func(n int, extra ...string) []jsonRecord {
		t.Helper()
		args := append([]string{"consume", "orders", "--format", "json", "-n", strconv.Itoa(n)}, extra...)
		out, errOut, code := sluiceCLI(t, "", append(args, b...)...)
		if code != 0 {
			t.Fatalf("consume %v: exit %d: %s", extra, code, errOut)
		}
		return parseJSONLines(t, out)
	}
	all := consume(1000, "--offset", "beginning")
	if len(all) != 1000 {
		t.Fatalf("consumed %d records from the beginning", len(all))
	}
	ends := map[int32]int64{}
	for _, r := range all {
		if r.Key == nil || r.Value == nil || "value"+strings.TrimPrefix(*r.Key, "key") != *r.Value || r.Topic != "orders" || r.Timestamp <= 0 || r.Headers == nil {
			t.Fatalf("record %+v", r)
		}
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	if got := consume(2, "--offset", "-1"); len(got) != 2 || got[0].Offset != ends[got[0].Partition]-1 {
		t.Fatalf("--offset -1 (one per partition): %+v", got)
	}
	fromThree := consume(1000-6, "--offset", "3")
	first := map[int32]int64{0: -1, 1: -1}
	for _, r := range fromThree {
		if first[r.Partition] < 0 {
			first[r.Partition] = r.Offset
		}
	}
	if len(fromThree) != 994 || first[0] != 3 || first[1] != 3 {
		t.Fatalf("--offset 3: %d records, first offsets %v", len(fromThree), first)
	}
	if got := consume(1000, "--offset", "@"+strconv.FormatInt(all[0].Timestamp, 10)); len(got) != 1000 {
		t.Fatalf("--offset @timestamp of the first record: %d records", len(got))
	}
	if out, _, code := sluiceCLI(t, "", append([]string{"consume", "orders", "--offset", "end", "-e"}, b...)...); code != 0 || out != "" {
		t.Fatalf("--offset end -e: exit %d, output %q", code, out)
	}

	// A group consumes 600 of the 1,000 records; the rest is its lag.
	if got := consume(600, "--group", "audit", "--offset", "beginning"); len(got) != 600 {
		t.Fatalf("group consume: %d", len(got))
	}
	out, errOut, code := sluiceCLI(t, "", append([]string{"group", "describe", "audit"}, b...)...)
	if code != 0 {
		t.Fatalf("group describe: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	lagCol := -1
	for i, h := range header {
		if h == "LAG" {
			lagCol = i
		}
	}
	if lagCol < 0 {
		t.Fatalf("group describe has no LAG column:\n%s", out)
	}
	lag := 0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		n, err := strconv.Atoi(f[lagCol])
		if err != nil {
			t.Fatalf("LAG %q in %q", f[lagCol], l)
		}
		lag += n
	}
	if lag != 400 {
		t.Fatalf("total lag %d after consuming 600 of 1,000:\n%s", lag, out)
	}
}
