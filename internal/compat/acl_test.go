package compat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestConfluentKafkaACLs creates, describes and deletes ACLs with
// confluent-kafka (its AdminClient, or on bindings older than 1.9 the same
// librdkafka's C admin API) against a broker started with --super-users,
// then checks that the ACLs survive a restart. The client is
// User:ANONYMOUS, allowed ALTER on the cluster by
// allow.everyone.if.no.acl.found=true (no ACL names the cluster).
func TestConfluentKafkaACLs(t *testing.T) {
	py := systemPython(t, "confluent_kafka")
	s := startServer(t, "", "--super-users", "User:admin", "--set", "allow.everyone.if.no.acl.found=true")
	out := run(t, ctxT(t, 120*time.Second), "", py, "testdata/ck_acls.py", s.addr, "roundtrip")
	var res struct {
		API          string
		Versions     []string
		CreateErrors []*string `json:"create_errors"`
		Before       [][]any
		Deleted      [][]any
		After        [][]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	t.Logf("confluent-kafka %v through %s", res.Versions, res.API)
	if len(res.CreateErrors) != 4 || res.CreateErrors[0] != nil || res.CreateErrors[1] != nil || res.CreateErrors[2] != nil ||
		res.CreateErrors[3] == nil || !(strings.Contains(*res.CreateErrors[3], "principal") || strings.Contains(*res.CreateErrors[3], "client:")) {
		t.Errorf("create errors: %v", fmtErrs(res.CreateErrors))
	}
	if len(res.Before) != 3 || len(res.Deleted) != 1 || len(res.After) != 2 {
		t.Fatalf("before %v, deleted %v, after %v", res.Before, res.Deleted, res.After)
	}
	if fmt.Sprint(res.Deleted[0]) != "[2 ck-orders 3 User:alice * 3 3]" {
		t.Errorf("deleted %v", res.Deleted[0])
	}
	if fmt.Sprint(res.After) != "[[2 ck-secret- 4 User:bob 10.1.2.3 4 2] [3 ck- 4 User:alice * 3 3]]" {
		t.Errorf("after delete: %v", res.After)
	}

	s.stop()
	s.start()
	out = run(t, ctxT(t, 60*time.Second), "", py, "testdata/ck_acls.py", s.addr, "describe")
	res.After = nil
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res.After) != 2 {
		t.Fatalf("after restart: %v", res.After)
	}
}

func fmtErrs(errs []*string) []string {
	var out []string
	for _, e := range errs {
		if e == nil {
			out = append(out, "<nil>")
		} else {
			out = append(out, *e)
		}
	}
	return out
}
