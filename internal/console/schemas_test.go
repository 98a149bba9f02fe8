package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestSchemasPages(t *testing.T) {
	tb := startBroker(t, broker.Config{RegistryListen: "127.0.0.1:0"})
	v1 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	v2 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	bad := `{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}`

	want(t, tb.get(t, "/schemas"), http.StatusOK, "No subjects.", `id="register-form"`, `id="global-level">BACKWARD<`)
	r := tb.post(t, "/schemas", url.Values{"subject": {"users-value"}, "type": {"AVRO"}, "schema": {v1}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/schemas/users-value") {
		t.Fatalf("register: %d %q %s", r.status, r.location, r.body)
	}
	want(t, tb.get(t, "/schemas?q=USERS"), http.StatusOK, ">users-value</a>", "1 of 1 subjects")
	want(t, tb.get(t, "/schemas?q=nothing"), http.StatusOK, "0 of 1 subjects")
	// Check, then register a second version on the subject page.
	want(t, tb.post(t, "/schemas/users-value/check", url.Values{"type": {"AVRO"}, "schema": {v2}}), http.StatusOK, `id="check-result"`, "Compatible with the latest version.")
	want(t, tb.post(t, "/schemas/users-value/check", url.Values{"type": {"AVRO"}, "schema": {bad}}), http.StatusOK, "Not compatible with the latest version.")
	if r := tb.post(t, "/schemas/users-value/register", url.Values{"type": {"AVRO"}, "schema": {v2}}); r.status != http.StatusSeeOther {
		t.Fatalf("register v2: %d %s", r.status, r.body)
	}
	want(t, tb.post(t, "/schemas/users-value/register", url.Values{"type": {"AVRO"}, "schema": {bad}}), http.StatusConflict, "Not registered", "409")
	r = tb.get(t, "/schemas/users-value")
	want(t, r, http.StatusOK, "2 versions", "Version 2", "&#34;age&#34;", `id="subject-level">BACKWARD<`, "(the global level)")
	want(t, tb.get(t, "/schemas/users-value?version=1"), http.StatusOK, "Version 1")
	// Diff between the versions.
	r = tb.get(t, "/schemas/users-value?a=1&b=2")
	want(t, r, http.StatusOK, `id="diff-out"`, `<span class="dadd">&#43;       &#34;name&#34;: &#34;age&#34;,</span>`)
	// Compatibility level.
	if r := tb.post(t, "/schemas/users-value/config", url.Values{"level": {"FULL"}}); r.status != http.StatusSeeOther {
		t.Fatalf("set level: %d %s", r.status, r.body)
	}
	r = tb.get(t, "/schemas/users-value")
	want(t, r, http.StatusOK, `id="subject-level">FULL<`)
	if strings.Contains(r.body, "(the global level)") {
		t.Fatal("a subject's own level is shown as the global one")
	}
	// Bad input.
	want(t, tb.post(t, "/schemas/users-value/config", url.Values{"level": {"SOMETIMES"}}), http.StatusBadRequest, "not one of Confluent&#39;s levels")
	want(t, tb.post(t, "/schemas", url.Values{"subject": {"x"}, "type": {"XML"}, "schema": {"<x/>"}}), http.StatusBadRequest, "not one of AVRO, PROTOBUF, JSON")
	want(t, tb.post(t, "/schemas", url.Values{"subject": {"x"}, "type": {"AVRO"}, "schema": {"{not avro"}}), http.StatusBadRequest, "Not registered", "42201")
	want(t, tb.post(t, "/schemas", url.Values{"type": {"AVRO"}, "schema": {v1}}), http.StatusBadRequest, "subject name is required")
	want(t, tb.post(t, "/schemas", url.Values{"subject": {"x"}, "type": {"AVRO"}}), http.StatusBadRequest, "a schema of at most")
	want(t, tb.get(t, "/schemas/users-value?version=9"), http.StatusNotFound, "40402")
	want(t, tb.get(t, "/schemas/users-value?version=x"), http.StatusBadRequest, "not a version number")
	want(t, tb.get(t, "/schemas/users-value?a=1&b=x"), http.StatusBadRequest, "choose two versions")
	want(t, tb.get(t, "/schemas/nobody"), http.StatusNotFound, "40401")
}

func TestSchemasWithoutRegistry(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	want(t, tb.get(t, "/schemas"), http.StatusOK, "runs no schema registry")
	want(t, tb.get(t, "/schemas/x"), http.StatusNotFound, "runs no schema registry")
	want(t, tb.post(t, "/schemas", url.Values{"subject": {"x"}, "type": {"AVRO"}, "schema": {`"string"`}}), http.StatusOK, "runs no schema registry")
}

// TestSchemasACL: the registry's ACLs (subjects as topics) apply to the
// console's user.
func TestSchemasACL(t *testing.T) {
	tb := startBroker(t, broker.Config{RegistryListen: "127.0.0.1:0", Authorizer: denyTopic{"secret-value"}})
	for _, s := range []string{"open-value", "secret-value"} {
		r := tb.post(t, "/schemas", url.Values{"subject": {s}, "type": {"AVRO"}, "schema": {`"string"`}})
		if s == "open-value" && r.status != http.StatusSeeOther {
			t.Fatalf("register %s: %d %s", s, r.status, r.body)
		}
		if s == "secret-value" && r.status != http.StatusForbidden {
			t.Fatalf("register %s: %d, want 403", s, r.status)
		}
	}
	r := tb.get(t, "/schemas")
	want(t, r, http.StatusOK, ">open-value</a>")
	if strings.Contains(r.body, "secret-value") {
		t.Fatal("a subject the user may not read is listed")
	}
	want(t, tb.get(t, "/schemas/secret-value"), http.StatusForbidden)
}
