package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// decodedRecord is one line of consume --decode --format json.
type decodedRecord struct {
	Partition   int32           `json:"partition"`
	Offset      int64           `json:"offset"`
	Key         json.RawMessage `json:"key"`
	Value       json.RawMessage `json:"value"`
	KeySchemaID *uint32         `json:"keySchemaId"`
	ValSchemaID *uint32         `json:"valueSchemaId"`
}

func decodedLines(t *testing.T, out string) []decodedRecord {
	t.Helper()
	var rs []decodedRecord
	for line := range strings.Lines(out) {
		var r decodedRecord
		mustJSON(t, line, &r)
		rs = append(rs, r)
	}
	return rs
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("got %s, want %s", gb, wb)
	}
}

func TestProduceConsumeAvroWithSchema(t *testing.T) {
	rc := startSluiceRegistry(t)
	rc.ok("", "topic", "create", "orders", "--partitions", "1")
	file := writeFile(t, "order.avsc", orderV1)
	in := `{"id":1,"item":"book","note":null}
{"id":2,"item":"pen","note":"blue"}
{"id":3,"item":"ink","note":{"string":"tagged union input"}}
`
	r := rc.withRegistry(in, "produce", "orders", "--value-schema", file)
	if r.code != 0 || !strings.Contains(r.stderr, "produced 3 records") {
		t.Fatalf("produce: %d %q", r.code, r.stderr)
	}
	// The file was registered under orders-value (TopicNameStrategy).
	var so schemaOut
	mustJSON(t, rc.schemaOK("", "get", "orders-value", "--format", "json").stdout, &so)
	if so.ID != 1 || so.Version != 1 {
		t.Fatalf("orders-value after produce: %+v", so)
	}
	// Raw bytes are Confluent's wire format: magic 0 and id 1.
	raw := rc.ok("", "consume", "orders", "--offset", "beginning", "-e", "--format", `%v\n`)
	if !strings.HasPrefix(raw.stdout, "\x00\x00\x00\x00\x01") {
		t.Fatalf("raw value %q lacks the wire header", raw.stdout[:min(len(raw.stdout), 10)])
	}

	// Decoded: JSON output embeds the values, unions plain.
	r = rc.withRegistry("", "consume", "orders", "--offset", "beginning", "-e", "--decode", "value", "--format", "json")
	if r.code != 0 {
		t.Fatalf("consume --decode: %d %q", r.code, r.stderr)
	}
	recs := decodedLines(t, r.stdout)
	want := []string{`{"id":1,"item":"book","note":null}`, `{"id":2,"item":"pen","note":"blue"}`, `{"id":3,"item":"ink","note":"tagged union input"}`}
	if len(recs) != len(want) {
		t.Fatalf("consumed %d records, want %d:\n%s", len(recs), len(want), r.stdout)
	}
	for i, rec := range recs {
		jsonEqual(t, rec.Value, want[i])
		if rec.ValSchemaID == nil || *rec.ValSchemaID != 1 || string(rec.Key) != "null" {
			t.Fatalf("record %d: schema id %v key %s", i, rec.ValSchemaID, rec.Key)
		}
	}
	// Default format: one JSON text per line.
	r = rc.withRegistry("", "consume", "orders", "--offset", "beginning", "-e", "--decode", "value")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("consume --decode value: %d %q %q", r.code, r.stdout, r.stderr)
	}
	jsonEqual(t, []byte(lines[1]), want[1])

	// --value-schema SUBJECT decodes as --decode value, and checks the
	// subject of each record's schema id.
	r = rc.withRegistry("", "consume", "orders", "--offset", "beginning", "-e", "--value-schema", "orders-value")
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(got) != 3 {
		t.Fatalf("consume --value-schema orders-value: %d %q %q", r.code, r.stdout, r.stderr)
	} else {
		jsonEqual(t, []byte(got[2]), want[2])
	}
	r = rc.withRegistry("", "consume", "orders", "--offset", "beginning", "-e", "--value-schema", "other-value")
	if r.code == 0 || !strings.Contains(r.stderr, `schema id 1 is not a version of subject "other-value" (it is registered under orders-value)`) {
		t.Fatalf("consume --value-schema other-value: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// By subject (its latest version), with a registry-encoded key too.
	rc.schemaOK(`"string"`, "register", "orders-key", "--schema", "-", "--type", "AVRO")
	r = rc.withRegistry(`"k9"|{"id":9,"item":"x","note":null}`+"\n", "produce", "orders",
		"--value-schema", "orders-value", "--key-schema", "orders-key", "--key-delimiter", "|")
	if r.code != 0 {
		t.Fatalf("produce by subject: %d %q", r.code, r.stderr)
	}
	r = rc.withRegistry("", "consume", "orders", "--offset", "-1", "-e", "--decode", "key,value", "--format", "json")
	recs = decodedLines(t, r.stdout)
	if r.code != 0 || len(recs) != 1 {
		t.Fatalf("consume key,value: %d %q %q", r.code, r.stdout, r.stderr)
	}
	jsonEqual(t, recs[0].Key, `"k9"`)
	jsonEqual(t, recs[0].Value, `{"id":9,"item":"x","note":null}`)
	if recs[0].KeySchemaID == nil || *recs[0].KeySchemaID != 2 || *recs[0].ValSchemaID != 1 {
		t.Fatalf("schema ids: key %v value %v", recs[0].KeySchemaID, recs[0].ValSchemaID)
	}
}

func TestProduceWithSchemaErrors(t *testing.T) {
	rc := startSluiceRegistry(t)
	rc.ok("", "topic", "create", "orders", "--partitions", "1")
	file := writeFile(t, "order.avsc", orderV1)
	// A line that does not match stops produce with its number; the
	// lines before it were produced.
	r := rc.withRegistry("{\"id\":1,\"item\":\"a\",\"note\":null}\n{\"id\":\"two\",\"item\":\"b\"}\n{\"id\":3,\"item\":\"c\",\"note\":null}\n", "produce", "orders", "--value-schema", file)
	checkFailure(t, r, 1, "line 2: value does not match the Avro schema", "(1 record produced)")
	checkFailure(t, rc.withRegistry("not json\n", "produce", "orders", "--value-schema", file), 1, "line 1: value does not match")
	// An unknown subject: Confluent's 40401.
	checkFailure(t, rc.withRegistry("{}\n", "produce", "orders", "--value-schema", "nope-value"), 1, "nope-value", "(error 40401)")
	// A missing schema file is a usage error.
	checkFailure(t, rc.withRegistry("{}\n", "produce", "orders", "--value-schema", "/no/such/file.avsc"), 2, "does not exist")
	// --key-schema needs a key.
	checkFailure(t, rc.withRegistry("{}\n", "produce", "orders", "--key-schema", file), 2, "--key-schema needs keys")
	// An incompatible file cannot be registered under the topic's subject.
	bad := writeFile(t, "bad.avsc", orderBad)
	checkFailure(t, rc.withRegistry("{}\n", "produce", "orders", "--value-schema", bad), 1, "orders-value", "(error 409)")

	// consume --decode of records that are not in the wire format.
	rc.ok("plain\n", "produce", "plain")
	checkFailure(t, rc.withRegistry("", "consume", "plain", "--offset", "beginning", "-e", "--decode", "value"), 1,
		"partition 0 offset 0: value: not in Confluent's wire format")
	// An id the registry does not know: 40403.
	rc.ok("\x00\x00\x00\x00\x63xyz\n", "produce", "unknownid")
	checkFailure(t, rc.withRegistry("", "consume", "unknownid", "--offset", "beginning", "-e", "--decode", "value"), 1,
		"partition 0 offset 0: value: schema id 99", "(error 40403)")
	checkFailure(t, rc.withRegistry("", "consume", "plain", "--decode", "everything"), 2, "--decode")
}

func TestProduceConsumeProtobufAndJSONSchema(t *testing.T) {
	rc := startSluiceRegistry(t)
	// Protobuf by subject, with a reference and a nested message.
	common := writeFile(t, "common.proto", "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; string currency = 2; }\n")
	rc.schemaOK("", "register", "common", "--schema", common)
	pay := writeFile(t, "payment.proto", "syntax = \"proto3\";\npackage shop;\nimport \"common.proto\";\nmessage Payment { string pay_id = 1; Money amount = 2; }\n")
	rc.schemaOK("", "register", "payments-value", "--schema", pay, "--reference", "common.proto=common:1")
	r := rc.withRegistry(`{"pay_id":"p1","amount":{"cents":250,"currency":"EUR"}}`+"\n"+`{"payId":"p2"}`+"\n", "produce", "payments", "--value-schema", "payments-value")
	if r.code != 0 {
		t.Fatalf("produce protobuf: %d %q", r.code, r.stderr)
	}
	r = rc.withRegistry("", "consume", "payments", "--offset", "beginning", "-e", "--decode", "value", "--format", "json")
	recs := decodedLines(t, r.stdout)
	if r.code != 0 || len(recs) != 2 {
		t.Fatalf("consume protobuf: %d %q %q", r.code, r.stdout, r.stderr)
	}
	jsonEqual(t, recs[0].Value, `{"pay_id":"p1","amount":{"cents":"250","currency":"EUR"}}`)
	jsonEqual(t, recs[1].Value, `{"pay_id":"p2"}`)
	checkFailure(t, rc.withRegistry(`{"nope":1}`+"\n", "produce", "payments", "--value-schema", "payments-value"), 1, "line 1: value does not match message shop.Payment")

	// JSON Schema from a file, with a JSON Schema key by subject and
	// --key-delimiter.
	js := writeFile(t, "event.json", `{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`)
	rc.schemaOK("", "register", "keys", "--schema", writeFile(t, "key.json", `{"type":"string"}`))
	r = rc.withRegistry(`"k1"|{"n": 1}`+"\n"+`"k2"|{"n":2}`+"\n", "produce", "events", "--value-schema", js, "--key-schema", "keys", "--key-delimiter", "|")
	if r.code != 0 {
		t.Fatalf("produce json schema: %d %q", r.code, r.stderr)
	}
	r = rc.withRegistry("", "consume", "events", "--offset", "beginning", "-e", "--decode", "key,value", "--format", "json")
	recs = decodedLines(t, r.stdout)
	if r.code != 0 || len(recs) != 2 {
		t.Fatalf("consume json schema: %d %q %q", r.code, r.stdout, r.stderr)
	}
	jsonEqual(t, recs[0].Key, `"k1"`)
	jsonEqual(t, recs[0].Value, `{"n":1}`)
	if recs[1].KeySchemaID == nil || recs[1].ValSchemaID == nil || *recs[1].KeySchemaID == *recs[1].ValSchemaID {
		t.Fatalf("schema ids: key %v value %v", recs[1].KeySchemaID, recs[1].ValSchemaID)
	}
	checkFailure(t, rc.withRegistry(`"k3"|{"n":"three"}`+"\n", "produce", "events", "--value-schema", js, "--key-schema", "keys", "--key-delimiter", "|"), 1,
		"line 1: value does not match the JSON Schema")
}

// An Avro schema that references another subject's named type.
func TestProduceConsumeAvroReferences(t *testing.T) {
	rc := startSluiceRegistry(t)
	rc.schemaOK(`{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}`, "register", "money", "--schema", "-", "--type", "AVRO")
	rc.schemaOK(`{"type":"record","name":"Invoice","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"shop.Money"}]}`,
		"register", "invoices-value", "--schema", "-", "--type", "AVRO", "--reference", "shop.Money=money:1")
	line := `{"id":"i1","total":{"cents":1250}}`
	if r := rc.withRegistry(line+"\n", "produce", "invoices", "--value-schema", "invoices-value"); r.code != 0 {
		t.Fatalf("produce: %d %q", r.code, r.stderr)
	}
	r := rc.withRegistry("", "consume", "invoices", "--offset", "beginning", "-e", "--decode", "value")
	if r.code != 0 {
		t.Fatalf("consume: %d %q", r.code, r.stderr)
	}
	jsonEqual(t, []byte(strings.TrimSpace(r.stdout)), line)
}
