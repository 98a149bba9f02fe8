package compat

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExampleAvroTutorial builds examples/avro-tutorial and runs it twice
// against the real binary: the tutorial's Avro cells through the registry
// (topic, producer registering user.avsc, group "tester" consumer decoding
// by the schema id). The second run finds the topic and the schema (same
// id) and its consumer resumes after the offsets the first committed.
func TestExampleAvroTutorial(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "avro-tutorial")
	build := exec.Command("go", "build", "-o", bin, "github.com/sluice-io/sluice/examples/avro-tutorial")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s, url := startRegistryServer(t, "")
	records := func(first int) []string {
		return []string{
			"produced offset " + strconv.Itoa(first) + ": 00 00 00 00 01 08 4a 6f 68 6e 06 44 6f 65 3c",
			"produced offset " + strconv.Itoa(first+1) + ": 00 00 00 00 01 08 4a 61 6e 65 06 52 6f 65 52",
			"produced offset " + strconv.Itoa(first+2) + ": 00 00 00 00 01 06 4d 61 78 14 4d 75 73 74 65 72 6d 61 6e 6e 68",
			"consumed offset " + strconv.Itoa(first) + ` (schema id 1): {"first_name":"John","last_name":"Doe","age":30}`,
			"consumed offset " + strconv.Itoa(first+1) + ` (schema id 1): {"first_name":"Jane","last_name":"Roe","age":41}`,
			"consumed offset " + strconv.Itoa(first+2) + ` (schema id 1): {"first_name":"Max","last_name":"Mustermann","age":52}`,
		}
	}
	for i, first := range []string{"created topic avro_topic_test", "topic avro_topic_test exists"} {
		out := run(t, ctxT(t, 120*time.Second), "", bin, "--brokers", s.addr, "--registry", url)
		want := append([]string{first, "schema id 1 (subject avro_topic_test-value)"}, records(3*i)...)
		if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d printed:\n%s\nwant:\n%s", i+1, out, strings.Join(want, "\n"))
		}
	}
	var versions []int
	if st := getJSON(t, &http.Client{}, url+"/subjects/avro_topic_test-value/versions", &versions); st != 200 || !reflect.DeepEqual(versions, []int{1}) {
		t.Fatalf("versions of avro_topic_test-value: %d %v", st, versions)
	}
	var schema struct{ Name, Namespace string }
	if st := getJSON(t, &http.Client{}, url+"/schemas/ids/1/schema", &schema); st != 200 || schema.Name != "User" || schema.Namespace != "example.avro" {
		t.Fatalf("schema 1: %d %+v", st, schema)
	}
}
