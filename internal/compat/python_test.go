package compat

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestKafkaPython(t *testing.T) {
	py := systemPython(t, "kafka")
	s := startServer(t, "")
	out := run(t, ctxT(t, 120*time.Second), "", py, "testdata/kp_roundtrip.py", s.addr)
	var res struct {
		Topics []string
		Acked  [][2]int64
		Seen   []struct {
			P    int32
			O    int64
			K, H string
			I    int
		}
		End map[string]int64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !slices.Contains(res.Topics, "kp-topic") {
		t.Fatalf("list_topics: %v", res.Topics)
	}
	if len(res.Acked) != 300 || len(res.Seen) != 300 {
		t.Fatalf("acked %d, consumed %d, want 300 each", len(res.Acked), len(res.Seen))
	}
	acked := map[[2]int64]bool{}
	for _, a := range res.Acked {
		acked[a] = true
	}
	for _, r := range res.Seen {
		if !acked[[2]int64{int64(r.P), r.O}] || r.K != fmt.Sprintf("k%d", r.I) || r.H != fmt.Sprint(r.I) {
			t.Fatalf("consumed record %+v was not acknowledged as such", r)
		}
	}
	var total int64
	for _, e := range res.End {
		total += e
	}
	if total != 300 {
		t.Fatalf("end offsets %v sum to %d, want 300", res.End, total)
	}
}

func TestConfluentKafka(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startServer(t, "")
	out := run(t, ctxT(t, 180*time.Second), "", py, "testdata/ck_roundtrip.py", s.addr)
	var res struct {
		DuplicateError *string `json:"duplicate_error"`
		Topics         map[string]struct {
			Acked  [][3]any
			Seen   [][5]any
			Errors []string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.DuplicateError == nil || *res.DuplicateError != "TOPIC_ALREADY_EXISTS" {
		t.Errorf("creating an existing topic: %v", res.DuplicateError)
	}
	if len(res.Topics) != 5 {
		t.Fatalf("topics: %v", res.Topics)
	}
	for name, tr := range res.Topics {
		if len(tr.Errors) > 0 {
			t.Errorf("%s: errors %v", name, tr.Errors)
		}
		if len(tr.Acked) != 200 || len(tr.Seen) != 200 {
			t.Errorf("%s: acked %d, consumed %d, want 200", name, len(tr.Acked), len(tr.Seen))
			continue
		}
		key := func(p, o any) string { return fmt.Sprint(p, "/", o) }
		acked := map[string]string{}
		for _, a := range tr.Acked {
			acked[key(a[0], a[1])] = a[2].(string)
		}
		var offsets []string
		for _, r := range tr.Seen {
			k := key(r[0], r[1])
			if acked[k] != r[2] || "v"+r[2].(string)[1:] != r[3] || "k"+r[4].(string) != r[2] {
				t.Fatalf("%s: consumed %v, acknowledged key %q at that offset", name, r, acked[k])
			}
			offsets = append(offsets, k)
		}
		sort.Strings(offsets)
		if len(slices.Compact(offsets)) != 200 {
			t.Fatalf("%s: duplicate records consumed", name)
		}
	}
}

func TestKafkaPythonConsumerGroup(t *testing.T) {
	py := systemPython(t, "kafka")
	s := startServer(t, "", "--set", "group.initial.rebalance.delay.ms=0")
	out := run(t, ctxT(t, 120*time.Second), "", py, "testdata/kp_group.py", s.addr)
	var res struct {
		First, Second []string
		Committed     map[string]int64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var total int64
	for _, o := range res.Committed {
		total += o
	}
	if len(res.First) != 50 || total != 50 {
		t.Fatalf("first consumer: %d records, committed %v", len(res.First), res.Committed)
	}
	seen := map[string]bool{}
	for _, v := range append(res.First, res.Second...) {
		if seen[v] {
			t.Fatalf("%s consumed twice: the second consumer did not resume after the committed offsets", v)
		}
		seen[v] = true
	}
	if len(seen) != 90 {
		t.Fatalf("consumed %d distinct records of 90 (second consumer %d)", len(seen), len(res.Second))
	}
}
