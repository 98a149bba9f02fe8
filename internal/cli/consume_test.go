package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseOffsetSpec(t *testing.T) {
	for in, want := range map[string]offsetSpec{
		"beginning":      {kind: offsetBeginning},
		"earliest":       {kind: offsetBeginning},
		"end":            {kind: offsetEnd},
		"latest":         {kind: offsetEnd},
		"42":             {kind: offsetAbsolute, n: 42},
		"0":              {kind: offsetAbsolute, n: 0},
		"-10":            {kind: offsetFromEnd, n: 10},
		"@1700000000000": {kind: offsetTime, n: 1700000000000},
	} {
		if got, err := parseOffsetSpec(in); err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "start-ish", "--1", "@", "@-1", "1.5", "-x"} {
		if _, err := parseOffsetSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestConsumeFromTimestamp(t *testing.T) {
	c, _ := startSluice(t)
	c.ok("", "topic", "create", "timed", "--partitions", "2")
	base := time.Now().Add(-time.Hour).UnixMilli()
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "%d\tk%d\t%d\tv%d\n", i%2, i, base+int64(i)*1000, i)
	}
	c.ok(in.String(), "produce", "timed", "--format", `%p\t%k\t%T\t%v`)

	r := c.ok("", "consume", "timed", "--offset", fmt.Sprintf("@%d", base+5000), "-e", "--format", "json")
	recs := parseJSONLines(t, r.stdout)
	var values []string
	for _, rec := range recs {
		if rec.Timestamp < base+5000 {
			t.Errorf("record %+v is before the timestamp", rec)
		}
		if want := fmt.Sprintf("v%d", (rec.Timestamp-base)/1000); *rec.Value != want || rec.Partition != int32((rec.Timestamp-base)/1000%2) {
			t.Errorf("record %+v: want value %s", rec, want)
		}
		values = append(values, *rec.Value)
	}
	if len(recs) != 5 {
		t.Errorf("from @base+5s: %v, want v5..v9", values)
	}
	if r = c.ok("", "consume", "timed", "--offset", fmt.Sprintf("@%d", time.Now().Add(time.Hour).UnixMilli()), "-e"); r.stdout != "" {
		t.Errorf("from a future timestamp: %q", r.stdout)
	}
	if r = c.ok("", "consume", "timed", "--offset", "@0", "-e"); strings.Count(r.stdout, "\n") != 10 {
		t.Errorf("from @0: %q", r.stdout)
	}
}
