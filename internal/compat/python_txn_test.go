package compat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestConfluentKafkaTransactions drives librdkafka's transactional
// producer: commit, abort and send_offsets_to_transaction.
func TestConfluentKafkaTransactions(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startServer(t, "")
	out := run(t, ctxT(t, 180*time.Second), "", py, "testdata/ck_transactions.py", s.addr)
	var res struct {
		Errors          []string
		Committed       int64
		ReadCommitted   []string `json:"read_committed"`
		ReadUncommitted []string `json:"read_uncommitted"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	count := func(vals []string) map[string]int {
		m := map[string]int{}
		for _, v := range vals {
			m[v[:strings.Index(v, "-")]]++
		}
		return m
	}
	if c := count(res.ReadCommitted); c["commit"] != 5 || c["abort"] != 0 || c["xf"] != 10 || len(res.ReadCommitted) != 15 {
		t.Errorf("read_committed saw %v", c)
	}
	if c := count(res.ReadUncommitted); c["commit"] != 5 || c["abort"] != 5 || c["xf"] != 10 {
		t.Errorf("read_uncommitted saw %v", c)
	}
	if res.Committed != 10 {
		t.Errorf("offsets committed in the transaction sum to %d, want 10", res.Committed)
	}
}
