package compat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestCLISchemaAsAUser runs the real binary: 'sluice schema register' an
// Avro schema, 'sluice produce --value-schema' JSON lines, 'sluice consume
// --decode value' them back as JSON, and franz-go's sr.Serde (a wire-format
// implementation we did not write) decodes the same records read with kgo,
// with the schema fetched by id through franz-go's sr client.
func TestCLISchemaAsAUser(t *testing.T) {
	s, url := startRegistryServer(t, "")
	regFlag := []string{"--registry", url}
	conn := append([]string{"--brokers", s.addr}, regFlag...)
	schema := `{"type":"record","name":"Order","namespace":"shop","fields":[` +
		`{"name":"id","type":"long"},{"name":"item","type":"string"},` +
		`{"name":"note","type":["null","string"],"default":null}]}`
	file := filepath.Join(t.TempDir(), "order.avsc")
	if err := os.WriteFile(file, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := sluiceCLI(t, "", append([]string{"schema", "register", "orders-value", "--schema", file, "--format", "json"}, regFlag...)...)
	var reg struct {
		Subject     string
		Version, ID int
	}
	if code != 0 || json.Unmarshal([]byte(out), &reg) != nil || reg.ID != 1 || reg.Version != 1 {
		t.Fatalf("schema register: exit %d %q %q", code, out, errOut)
	}
	if out, _, code := sluiceCLI(t, "", append([]string{"schema", "list"}, regFlag...)...); code != 0 || !strings.Contains(out, "orders-value") {
		t.Fatalf("schema list: exit %d %q", code, out)
	}
	_, errOut, code = sluiceCLI(t, "", append([]string{"schema", "get", "nobody"}, regFlag...)...)
	if code != 1 || !strings.Contains(errOut, "(error 40401)") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("schema get of an unknown subject: exit %d %q", code, errOut)
	}

	lines := []string{
		`{"id":1,"item":"book","note":null}`,
		`{"id":2,"item":"pen","note":"blue"}`,
		`{"id":3,"item":"ink","note":"black"}`,
	}
	if _, errOut, code := sluiceCLI(t, strings.Join(lines, "\n")+"\n", append([]string{"produce", "orders", "--value-schema", "orders-value"}, conn...)...); code != 0 {
		t.Fatalf("produce --value-schema: exit %d %q", code, errOut)
	}
	_, errOut, code = sluiceCLI(t, `{"id":"x"}`+"\n", append([]string{"produce", "orders", "--value-schema", "orders-value"}, conn...)...)
	if code != 1 || !strings.Contains(errOut, "line 1:") {
		t.Fatalf("produce of a bad line: exit %d %q", code, errOut)
	}

	out, errOut, code = sluiceCLI(t, "", append([]string{"consume", "orders", "--offset", "beginning", "-e", "--decode", "value"}, conn...)...)
	got := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(got) != len(lines) {
		t.Fatalf("consume --decode value: exit %d %q %q", code, out, errOut)
	}
	for i := range lines {
		if !sameJSON(t, got[i], lines[i]) {
			t.Fatalf("record %d: consumed %s, produced %s", i, got[i], lines[i])
		}
	}

	// The same records through franz-go's sr.Serde.
	ctx := ctxT(t, 60*time.Second)
	rcl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := rcl.SchemaByID(ctx, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	as, err := avro.Parse(fetched.Schema)
	if err != nil {
		t.Fatal(err)
	}
	type order struct {
		ID   int64   `avro:"id"`
		Item string  `avro:"item"`
		Note *string `avro:"note"`
	}
	var serde sr.Serde
	serde.Register(reg.ID, order{}, sr.DecodeFn(func(b []byte, v any) error {
		rest, err := as.Decode(b, v)
		if err == nil && len(rest) > 0 {
			t.Errorf("%d bytes after the Avro value", len(rest))
		}
		return err
	}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var decoded []order
	for len(decoded) < len(lines) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var o order
			if err := serde.Decode(r.Value, &o); err != nil {
				t.Fatalf("sr.Serde decoding offset %d: %v", r.Offset, err)
			}
			decoded = append(decoded, o)
		})
	}
	blue, black := "blue", "black"
	want := []order{{1, "book", nil}, {2, "pen", &blue}, {3, "ink", &black}}
	if !reflect.DeepEqual(decoded, want) {
		t.Fatalf("sr.Serde decoded %+v, want %+v", decoded, want)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
