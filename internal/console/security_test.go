package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/broker"
)

// TestSecurityPage: SCRAM users created from the form log in over Kafka
// and over HTTP; ACLs and quotas are created, listed and deleted; a user
// without Describe on the cluster is refused the page.
func TestSecurityPage(t *testing.T) {
	tb := startBroker(t, broker.Config{Listeners: []broker.Listener{
		{Name: "PLAINTEXT", Protocol: broker.ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	}, Kafka: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512", "super.users": "User:ANONYMOUS;User:admin"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.ListenerAddr("PLAINTEXT").String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "admin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "admin-secret"}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	admin := tb.as("admin", "admin-secret")
	want(t, admin.get(t, "/security"), http.StatusOK, `id="users-table"`, "admin", "SCRAM-SHA-512", "No ACLs.", "No quotas.")

	// Users.
	r := admin.post(t, "/security/users", url.Values{"user": {"bob"}, "password": {"bob-secret"}, "mechanism": {"SCRAM-SHA-256"}, "iterations": {"8192"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	want(t, admin.get(t, "/security"), http.StatusOK, "<td>bob</td><td>SCRAM-SHA-256</td><td class=\"num\">8192</td>")
	// bob authenticates over HTTP and over SASL/SCRAM with that password.
	want(t, tb.as("bob", "bob-secret").get(t, "/topics"), http.StatusOK)
	bcl, err := kgo.NewClient(kgo.SeedBrokers(tb.ListenerAddr("SASL").String()), kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer bcl.Close()
	if err := bcl.Ping(ctx); err != nil {
		t.Fatalf("bob over SASL/SCRAM: %v", err)
	}
	want(t, admin.post(t, "/security/users", url.Values{"user": {"x"}, "password": {"p"}, "mechanism": {"MD5"}}), http.StatusBadRequest, "neither SCRAM-SHA-256 nor SCRAM-SHA-512")
	want(t, admin.post(t, "/security/users", url.Values{"user": {"x"}, "password": {"p"}, "mechanism": {"SCRAM-SHA-256"}, "iterations": {"10"}}), http.StatusBadRequest, "iterations")
	want(t, admin.post(t, "/security/users", url.Values{"user": {"x"}, "mechanism": {"SCRAM-SHA-256"}}), http.StatusBadRequest, "password are required")
	// bob is not allowed the page (no Describe on the cluster) nor changes.
	bob := tb.as("bob", "bob-secret")
	want(t, bob.get(t, "/security"), http.StatusForbidden, "needs Describe on the cluster")
	want(t, bob.post(t, "/security/users", url.Values{"user": {"eve"}, "password": {"p"}, "mechanism": {"SCRAM-SHA-256"}}), http.StatusForbidden)

	// ACLs.
	acl := url.Values{"principal": {"User:bob"}, "host": {"*"}, "permission": {"ALLOW"}, "operation": {"DESCRIBE"}, "resource_type": {"CLUSTER"}, "pattern": {"LITERAL"}}
	if r := admin.post(t, "/security/acls", acl); r.status != http.StatusSeeOther {
		t.Fatalf("create ACL: %d %s", r.status, r.body)
	}
	topicACL := url.Values{"principal": {"User:bob"}, "permission": {"DENY"}, "operation": {"WRITE"}, "resource_type": {"TOPIC"}, "resource_name": {"logs-"}, "pattern": {"PREFIXED"}}
	if r := admin.post(t, "/security/acls", topicACL); r.status != http.StatusSeeOther {
		t.Fatalf("create ACL: %d %s", r.status, r.body)
	}
	r = admin.get(t, "/security")
	want(t, r, http.StatusOK, "<td>User:bob</td><td>*</td><td>ALLOW</td><td>DESCRIBE</td><td>CLUSTER kafka-cluster</td>", "<td>DENY</td><td>WRITE</td><td>TOPIC logs-</td><td>PREFIXED</td>")
	// Now bob may read the page, not change it.
	want(t, bob.get(t, "/security"), http.StatusOK, "User:bob")
	want(t, bob.post(t, "/security/acls", topicACL), http.StatusForbidden, "CLUSTER_AUTHORIZATION_FAILED")
	for _, bad := range []struct {
		k, v, msg string
	}{{"principal", "bob", "not TYPE:NAME"}, {"operation", "EAT", "not one of Kafka&#39;s ACL operations"}, {"resource_type", "TABLE", "resource type"}, {"permission", "MAYBE", "neither ALLOW nor DENY"}, {"pattern", "MATCH", "neither LITERAL nor PREFIXED"}} {
		v := url.Values{}
		for k, vs := range topicACL {
			v[k] = vs
		}
		v.Set(bad.k, bad.v)
		want(t, admin.post(t, "/security/acls", v), http.StatusBadRequest, bad.msg)
	}
	delACL := url.Values{}
	for k, vs := range topicACL {
		delACL[k] = vs
	}
	delACL.Set("host", "*")
	if r := admin.post(t, "/security/acls/delete", delACL); r.status != http.StatusSeeOther {
		t.Fatalf("delete ACL: %d %s", r.status, r.body)
	}
	if strings.Contains(admin.get(t, "/security").body, "logs-") {
		t.Fatal("deleted ACL still listed")
	}
	want(t, admin.post(t, "/security/acls/delete", delACL), http.StatusNotFound, "no such ACL")

	// Quotas.
	if r := admin.post(t, "/security/quotas", url.Values{"user": {"bob"}, "key": {"producer_byte_rate"}, "value": {"1048576"}}); r.status != http.StatusSeeOther {
		t.Fatalf("set quota: %d %s", r.status, r.body)
	}
	if r := admin.post(t, "/security/quotas", url.Values{"client_default": {"yes"}, "key": {"consumer_byte_rate"}, "value": {"2048"}}); r.status != http.StatusSeeOther {
		t.Fatalf("set default quota: %d %s", r.status, r.body)
	}
	r = admin.get(t, "/security")
	want(t, r, http.StatusOK, "<td>user=bob</td><td>producer_byte_rate</td><td class=\"num\">1048576</td>", "<td>client-id=&lt;default&gt;</td><td>consumer_byte_rate</td>")
	if r := admin.post(t, "/security/quotas", url.Values{"user": {"bob"}, "key": {"producer_byte_rate"}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove quota: %d %s", r.status, r.body)
	}
	if strings.Contains(admin.get(t, "/security").body, "user=bob") {
		t.Fatal("removed quota still listed")
	}
	want(t, admin.post(t, "/security/quotas", url.Values{"user": {"bob"}, "key": {"speed"}, "value": {"1"}}), http.StatusBadRequest, "is not one of")
	want(t, admin.post(t, "/security/quotas", url.Values{"user": {"bob"}, "key": {"producer_byte_rate"}, "value": {"-1"}}), http.StatusBadRequest, "not a positive number")
	want(t, admin.post(t, "/security/quotas", url.Values{"key": {"producer_byte_rate"}, "value": {"1"}}), http.StatusBadRequest, "name a user or a client id")

	// Delete a user.
	if r := admin.post(t, "/security/users/delete", url.Values{"user": {"bob"}, "mechanism": {"SCRAM-SHA-256"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete user: %d %s", r.status, r.body)
	}
	want(t, tb.as("bob", "bob-secret").get(t, "/topics"), http.StatusUnauthorized)
	want(t, admin.post(t, "/security/users/delete", url.Values{"user": {"bob"}, "mechanism": {"SCRAM-SHA-256"}}), http.StatusBadRequest, "RESOURCE_NOT_FOUND")
}
