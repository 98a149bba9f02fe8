package compat

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestConfluentKafkaGroupAssignors runs two confluent-kafka consumers of
// one group with the range and cooperative-sticky assignors: every
// partition is owned by exactly one member, and with stable membership
// every record is consumed once, by the member owning its partition, and
// committed.
func TestConfluentKafkaGroupAssignors(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startServer(t, "")
	for _, strategy := range []string{"range", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) {
			topic, group := "ckg-"+strategy, "ckg-group-"+strategy
			out := run(t, ctxT(t, 180*time.Second), "", py, "testdata/ck_group.py", s.addr, strategy, topic, group)
			var res struct {
				Errors     []string
				Events     [][]any
				Assigned   map[string][]int32
				OwnedAtEnd map[string][]int32 `json:"owned_at_end"`
				Acked      [][3]any
				Consumed   map[string][][3]any
				Committed  map[string]int64
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("errors: %v", res.Errors)
			}
			owner := map[int32]string{}
			for name, ps := range res.Assigned {
				if len(ps) == 0 {
					t.Fatalf("%s owns nothing: %v (events %v)", name, res.Assigned, res.Events)
				}
				for _, p := range ps {
					if o, ok := owner[p]; ok {
						t.Fatalf("partition %d owned by %s and %s", p, o, name)
					}
					owner[p] = name
				}
			}
			if len(owner) != 6 {
				t.Fatalf("owned partitions %v, want all 6", res.Assigned)
			}
			if fmt.Sprint(res.OwnedAtEnd) != fmt.Sprint(res.Assigned) {
				t.Fatalf("membership changed: %v then %v (events %v)", res.Assigned, res.OwnedAtEnd, res.Events)
			}
			if len(res.Acked) != 300 {
				t.Fatalf("acked %d records", len(res.Acked))
			}
			key := func(p, o any) string { return fmt.Sprint(p, "/", o) }
			acked := map[string]string{}
			for _, a := range res.Acked {
				acked[key(a[0], a[1])] = a[2].(string)
			}
			seen := map[string]bool{}
			for name, recs := range res.Consumed {
				for _, r := range recs {
					k := key(r[0], r[1])
					if seen[k] {
						t.Fatalf("%s consumed twice", k)
					}
					seen[k] = true
					if acked[k] != r[2] {
						t.Fatalf("%s consumed %v, acknowledged %q there", name, r, acked[k])
					}
					if p := int32(r[0].(float64)); owner[p] != name {
						t.Fatalf("%s consumed partition %d owned by %s", name, p, owner[p])
					}
				}
			}
			if len(seen) != 300 {
				t.Fatalf("consumed %d distinct records of 300", len(seen))
			}
			var total int64
			for _, o := range res.Committed {
				total += o
			}
			if len(res.Committed) != 6 || total != 300 {
				t.Fatalf("committed %v, want 50 on each of 6 partitions", res.Committed)
			}
		})
	}
}
