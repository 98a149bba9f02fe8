package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

// regCluster is a Sluice broker with its schema registry.
type regCluster struct {
	cluster
	url string
}

func startSluiceRegistry(t *testing.T) regCluster {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listen:         "127.0.0.1:0",
		RegistryListen: "127.0.0.1:0",
		DataDir:        t.TempDir(),
		Logger:         slog.New(slog.DiscardHandler),
		Kafka:          map[string]string{"group.initial.rebalance.delay.ms": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	return regCluster{cluster: cluster{t: t, addr: b.Addr().String()}, url: "http://" + b.RegistryAddr().String()}
}

// schema runs 'sluice schema ARGS --registry URL'.
func (rc regCluster) schema(in string, args ...string) cliResult {
	rc.t.Helper()
	return runCLI(rc.t, in, append(append([]string{"schema"}, args...), "--registry", rc.url)...)
}

func (rc regCluster) schemaOK(in string, args ...string) cliResult {
	rc.t.Helper()
	r := rc.schema(in, args...)
	if r.code != 0 {
		rc.t.Fatalf("sluice schema %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// withRegistry runs a client command with --brokers and --registry.
func (rc regCluster) withRegistry(in string, args ...string) cliResult {
	rc.t.Helper()
	return rc.run(in, append(args, "--registry", rc.url)...)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	orderV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`
	// v2 adds a field with a default: backward compatible.
	orderV2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"note","type":["null","string"],"default":null},{"name":"qty","type":"int","default":1}]}`
	// bad changes item's type: incompatible.
	orderBad = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"int"},{"name":"note","type":["null","string"],"default":null}]}`
)

func TestSchemaCommands(t *testing.T) {
	rc := startSluiceRegistry(t)
	v1 := writeFile(t, "order.avsc", orderV1)
	v2 := writeFile(t, "order2.avsc", orderV2)
	bad := writeFile(t, "bad.avsc", orderBad)

	// register: table, then JSON; registering again is idempotent.
	r := rc.schemaOK("", "register", "orders-value", "--schema", v1)
	if !strings.Contains(r.stdout, "SUBJECT") || !regexpLine(r.stdout, `orders-value\s+1\s+1`) {
		t.Fatalf("register output:\n%s", r.stdout)
	}
	var reg registeredOut
	r = rc.schemaOK("", "register", "orders-value", "--schema", v1, "--format", "json")
	mustJSON(t, r.stdout, &reg)
	if reg != (registeredOut{Subject: "orders-value", Version: 1, ID: 1}) {
		t.Fatalf("re-register: %+v", reg)
	}
	// From standard input with an explicit type, and --normalize.
	r = rc.schemaOK(orderV2, "register", "other-value", "--schema", "-", "--type", "AVRO", "--normalize", "--format", "json")
	mustJSON(t, r.stdout, &reg)
	if reg.Subject != "other-value" || reg.Version != 1 || reg.ID != 2 {
		t.Fatalf("register from stdin: %+v", reg)
	}

	// list, with --prefix, table and JSON.
	r = rc.schemaOK("", "list")
	if !regexpLine(r.stdout, `orders-value`) || !regexpLine(r.stdout, `other-value`) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	var subjects []string
	mustJSON(t, rc.schemaOK("", "list", "--prefix", "ord", "--format", "json").stdout, &subjects)
	if len(subjects) != 1 || subjects[0] != "orders-value" {
		t.Fatalf("list --prefix ord: %v", subjects)
	}

	// check: compatible (exit 0), incompatible (exit 1, messages shown).
	r = rc.schemaOK("", "check", "orders-value", "--schema", v2)
	if !strings.HasPrefix(r.stdout, "compatible with orders-value version latest") {
		t.Fatalf("check v2: %q", r.stdout)
	}
	r = rc.schema("", "check", "orders-value", "--schema", bad)
	checkFailure(t, r, 1, "incompatible with orders-value version latest")
	if !strings.HasPrefix(r.stdout, "incompatible with orders-value") || len(strings.Split(strings.TrimSpace(r.stdout), "\n")) < 2 {
		t.Fatalf("check bad: want the verdict and the registry's messages, got %q", r.stdout)
	}
	r = rc.schema("", "check", "orders-value", "--schema", bad, "--version", "all", "--format", "json")
	checkFailure(t, r, 1, "incompatible")
	var ck checkOut
	mustJSON(t, r.stdout, &ck)
	if ck.Compatible || len(ck.Messages) == 0 || ck.Version != "all" {
		t.Fatalf("check --format json: %+v", ck)
	}
	// Registering it is refused with Confluent's 409.
	checkFailure(t, rc.schema("", "register", "orders-value", "--schema", bad), 1, "(error 409)")

	// register v2, then get: latest, a version, by id.
	rc.schemaOK("", "register", "orders-value", "--schema", v2)
	r = rc.schemaOK("", "get", "orders-value")
	if !regexpLine(r.stdout, `orders-value\s+2\s+3\s+AVRO`) || !strings.Contains(r.stdout, `"qty"`) {
		t.Fatalf("get latest:\n%s", r.stdout)
	}
	var so schemaOut
	mustJSON(t, rc.schemaOK("", "get", "orders-value", "--version", "1", "--format", "json").stdout, &so)
	if so.Subject != "orders-value" || so.Version != 1 || so.ID != 1 || so.Type != "AVRO" || strings.Contains(so.Schema, "qty") {
		t.Fatalf("get --version 1: %+v", so)
	}
	so = schemaOut{}
	mustJSON(t, rc.schemaOK("", "get", "--id", "3", "--format", "json").stdout, &so)
	if so.ID != 3 || so.Subject != "" || !strings.Contains(so.Schema, "qty") {
		t.Fatalf("get --id 3: %+v", so)
	}

	// Errors: Confluent's message and code, exit 1.
	checkFailure(t, rc.schema("", "get", "nope"), 1, "Subject 'nope' not found", "(error 40401)")
	checkFailure(t, rc.schema("", "get", "orders-value", "--version", "9"), 1, "(error 40402)")
	checkFailure(t, rc.schema("", "get", "--id", "99"), 1, "(error 40403)")
	checkFailure(t, rc.schema("", "delete", "nope"), 1, "(error 40401)")
	// Usage mistakes: exit 2.
	checkFailure(t, rc.schema("", "register", "x"), 2, "--schema FILE is required")
	checkFailure(t, rc.schema("", "register", "x", "--schema", v1, "--type", "XML"), 2, "--type")
	checkFailure(t, rc.schema("", "register", "x", "--schema", v1, "--reference", "bad"), 2, "NAME=SUBJECT:VERSION")
	checkFailure(t, rc.schema("", "get", "x", "--version", "zero"), 2, "--version")
	checkFailure(t, rc.schema("", "get", "x", "--id", "1"), 2, "--id does not go with a SUBJECT")
	checkFailure(t, rc.schema("", "list", "--format", "yaml"), 2, `"yaml" for flag -format`)
	checkFailure(t, runCLI(t, "", "schema", "list", "--registry", "ftp://x"), 2, "--registry")
	checkFailure(t, runCLI(t, "", "schema", "bogus"), 2, "unknown command")
	// An unreachable registry is one line too.
	checkFailure(t, runCLI(t, "", "schema", "list", "--registry", "http://127.0.0.1:1"), 1, "registry http://127.0.0.1:1")

	// config: global, subject (own or inherited), set, delete, mode.
	var co configOut
	mustJSON(t, rc.schemaOK("", "config", "--format", "json").stdout, &co)
	if co.Compatibility != "BACKWARD" || co.CompatibilitySource != "global" || co.Mode != "READWRITE" {
		t.Fatalf("global config: %+v", co)
	}
	r = rc.schemaOK("", "config", "orders-value", "--set", "full")
	if !regexpLine(r.stdout, `orders-value\s+FULL\s+subject\s+READWRITE\s+global`) {
		t.Fatalf("config --set:\n%s", r.stdout)
	}
	checkFailure(t, rc.schema("", "config", "orders-value", "--set", "SIDEWAYS"), 1, "(error 42203)")
	mustJSON(t, rc.schemaOK("", "config", "orders-value", "--delete", "--format", "json").stdout, &co)
	if co.Compatibility != "BACKWARD" || co.CompatibilitySource != "global" {
		t.Fatalf("config --delete: %+v", co)
	}
	mustJSON(t, rc.schemaOK("", "config", "orders-value", "--set-mode", "READONLY", "--format", "json").stdout, &co)
	if co.Mode != "READONLY" || co.ModeSource != "subject" {
		t.Fatalf("config --set-mode: %+v", co)
	}
	checkFailure(t, rc.schema("", "register", "orders-value", "--schema", writeFile(t, "v3.avsc", strings.Replace(orderV2, `"qty"`, `"qty2"`, 1))), 1, "(error 42205)")
	mustJSON(t, rc.schemaOK("", "config", "orders-value", "--delete-mode", "--format", "json").stdout, &co)
	if co.Mode != "READWRITE" || co.ModeSource != "global" {
		t.Fatalf("config --delete-mode: %+v", co)
	}
	checkFailure(t, rc.schema("", "config", "a", "b"), 2, "at most one SUBJECT")

	// delete: a version, the subject, then permanently.
	var del deletedOut
	mustJSON(t, rc.schemaOK("", "delete", "orders-value", "--version", "1", "--format", "json").stdout, &del)
	if len(del.Versions) != 1 || del.Versions[0] != 1 || del.Permanent {
		t.Fatalf("delete --version 1: %+v", del)
	}
	r = rc.schemaOK("", "delete", "orders-value")
	if !regexpLine(r.stdout, `orders-value\s+2\s+false`) {
		t.Fatalf("delete subject:\n%s", r.stdout)
	}
	mustJSON(t, rc.schemaOK("", "list", "--format", "json").stdout, &subjects)
	if len(subjects) != 1 || subjects[0] != "other-value" {
		t.Fatalf("list after delete: %v", subjects)
	}
	mustJSON(t, rc.schemaOK("", "list", "--deleted", "--format", "json").stdout, &subjects)
	if len(subjects) != 2 {
		t.Fatalf("list --deleted: %v", subjects)
	}
	mustJSON(t, rc.schemaOK("", "delete", "orders-value", "--permanent", "--format", "json").stdout, &del)
	if len(del.Versions) != 2 || !del.Permanent {
		t.Fatalf("delete --permanent: %+v", del)
	}
	mustJSON(t, rc.schemaOK("", "list", "--deleted", "--format", "json").stdout, &subjects)
	if len(subjects) != 1 {
		t.Fatalf("list --deleted after permanent delete: %v", subjects)
	}

	// Protobuf and JSON Schema, the type from the file extension, and a
	// reference.
	common := writeFile(t, "common.proto", "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; string currency = 2; }\n")
	rc.schemaOK("", "register", "common", "--schema", common)
	pay := writeFile(t, "payment.proto", "syntax = \"proto3\";\npackage shop;\nimport \"common.proto\";\nmessage Payment { string id = 1; Money amount = 2; }\n")
	mustJSON(t, rc.schemaOK("", "register", "payments-value", "--schema", pay, "--reference", "common.proto=common:1", "--format", "json").stdout, &reg)
	mustJSON(t, rc.schemaOK("", "get", "payments-value", "--format", "json").stdout, &so)
	if so.Type != "PROTOBUF" || len(so.References) != 1 || so.References[0].Subject != "common" {
		t.Fatalf("get protobuf: %+v", so)
	}
	js := writeFile(t, "event.json", `{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`)
	rc.schemaOK("", "register", "events-value", "--schema", js)
	mustJSON(t, rc.schemaOK("", "get", "events-value", "--format", "json").stdout, &so)
	if so.Type != "JSON" {
		t.Fatalf("get json schema: %+v", so)
	}

	// Help.
	if r := runCLI(t, "", "schema", "check", "--help"); r.code != 0 || !strings.Contains(r.stdout, "1 when incompatible") || !strings.Contains(r.stdout, "--registry") {
		t.Fatalf("schema check --help: %d %q", r.code, r.stdout)
	}
	if r := runCLI(t, "", "help"); !strings.Contains(r.stdout, "sluice schema register") {
		t.Fatalf("usage lacks the schema commands")
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

// regexpLine reports whether some line of s matches the pattern.
func regexpLine(s, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for line := range strings.Lines(s) {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}
