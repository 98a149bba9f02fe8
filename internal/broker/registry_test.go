package broker

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// srCall is one registry request; it returns the status and body.
func srCall(t *testing.T, hc *http.Client, method, url, user, pass string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(raw))
}

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

// Every acknowledged write is in _schemas, in Confluent's key/value
// format, and a restarted broker answers the same ids, versions and
// configs.
func TestRegistryPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBrokerWith(t, Config{DataDir: dir, RegistryListen: "127.0.0.1:0"})
	url := "http://" + tb.RegistryAddr().String()
	hc := &http.Client{}
	want := map[string]string{}
	for i, c := range []struct{ subject, schema string }{
		{"a-value", `"string"`},
		{"b-value", `{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}`},
		{"b-value", `{"type":"record","name":"R","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":1}]}`},
		{"c-value", `"string"`}, // same schema as a-value: same id
	} {
		st, body := srCall(t, hc, "POST", url+"/subjects/"+c.subject+"/versions", "", "", schemaBody(c.schema))
		if st != 200 {
			t.Fatalf("register %d: %d %s", i, st, body)
		}
		want[fmt.Sprintf("%s %d", c.subject, i)] = body
	}
	if want["c-value 3"] != want["a-value 0"] || want["b-value 2"] != `{"id":3}` {
		t.Fatalf("ids: %v", want)
	}
	if st, body := srCall(t, hc, "PUT", url+"/config/b-value", "", "", `{"compatibility":"FULL"}`); st != 200 {
		t.Fatalf("config: %d %s", st, body)
	}
	if st, body := srCall(t, hc, "DELETE", url+"/subjects/c-value", "", "", ""); st != 200 || body != "[1]" {
		t.Fatalf("delete: %d %s", st, body)
	}
	// The records, as Confluent writes them.
	cl := newClient(t, tb.addr, kgo.ConsumeTopics(SchemasTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var keys []string
	for len(keys) < 7 {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { keys = append(keys, string(r.Key)+" => "+string(r.Value)) })
	}
	wantKeys := []string{
		`{"keytype":"SCHEMA","subject":"a-value","version":1,"magic":1} => {"subject":"a-value","version":1,"id":1,"references":[],"schema":"\"string\"","deleted":false}`,
		`{"keytype":"SCHEMA","subject":"b-value","version":1,"magic":1} => `,
		`{"keytype":"SCHEMA","subject":"b-value","version":2,"magic":1} => `,
		`{"keytype":"SCHEMA","subject":"c-value","version":1,"magic":1} => {"subject":"c-value","version":1,"id":1,"references":[],"schema":"\"string\"","deleted":false}`,
		`{"keytype":"CONFIG","subject":"b-value","magic":0} => {"compatibilityLevel":"FULL"}`,
		`{"keytype":"SCHEMA","subject":"c-value","version":1,"magic":1} => {"subject":"c-value","version":1,"id":1,"references":[],"schema":"\"string\"","deleted":true}`,
		`{"keytype":"DELETE_SUBJECT","subject":"c-value","magic":0} => {"subject":"c-value","version":1}`,
	}
	for i, w := range wantKeys {
		if !strings.HasPrefix(keys[i], w) {
			t.Errorf("record %d:\n got %s\nwant %s", i, keys[i], w)
		}
	}
	cl.Close()
	tb.stop(t)

	tb2 := startBrokerWith(t, Config{DataDir: dir, RegistryListen: "127.0.0.1:0"})
	url = "http://" + tb2.RegistryAddr().String()
	for path, wantBody := range map[string]string{
		"/subjects":                     `["a-value","b-value"]`,
		"/subjects?deleted=true":        `["a-value","b-value","c-value"]`,
		"/subjects/b-value/versions":    `[1,2]`,
		"/config/b-value":               `{"compatibilityLevel":"FULL"}`,
		"/schemas/ids/3/versions":       `[{"subject":"b-value","version":2}]`,
		"/subjects/a-value/versions/1":  `{"subject":"a-value","version":1,"id":1,"schema":"\"string\""}`,
		"/schemas/ids/1/subjects":       `["a-value"]`,
		"/subjects/b-value/versions/-1": `{"subject":"b-value","version":2,"id":3,"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},{\"name\":\"y\",\"type\":\"int\",\"default\":1}]}"}`,
	} {
		if st, body := srCall(t, hc, "GET", url+path, "", "", ""); st != 200 || body != wantBody {
			t.Errorf("after restart %s: %d %s, want %s", path, st, body, wantBody)
		}
	}
	// The next id continues after the highest.
	if st, body := srCall(t, hc, "POST", url+"/subjects/d/versions", "", "", schemaBody(`"long"`)); st != 200 || body != `{"id":4}` {
		t.Fatalf("register after restart: %d %s", st, body)
	}
}

// Behind a SASL listener the registry needs HTTP basic credentials of a
// SCRAM user, and the ACLs on TOPIC resources named like the subject decide.
func TestRegistryBasicAuthAndACLs(t *testing.T) {
	cfg := Config{Listeners: []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	}, Kafka: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512", "super.users": "User:ANONYMOUS;User:admin"},
		RegistryListen: "127.0.0.1:0"}
	tb, logs := startSecure(t, cfg)
	admin := secClient(t, listenerAddr(tb, "PLAINTEXT"))
	addUser(t, admin, "alice", "alice-secret", kadm.ScramSha256)
	addUser(t, admin, "admin", "admin-secret", kadm.ScramSha512)
	url := "http://" + tb.RegistryAddr().String()
	hc := &http.Client{}
	for name, c := range map[string]struct{ user, pass string }{
		"no credentials": {"", ""}, "wrong password": {"alice", "nope"}, "unknown user": {"mallory", "x"},
	} {
		if st, body := srCall(t, hc, "GET", url+"/subjects", c.user, c.pass, ""); st != 401 || !strings.Contains(body, `"error_code":40101`) {
			t.Errorf("%s: %d %s", name, st, body)
		}
	}
	logs.waitLog(t, "schema registry authentication failed", "mallory")
	// The super user may do anything.
	if st, body := srCall(t, hc, "POST", url+"/subjects/orders-value/versions", "admin", "admin-secret", schemaBody(`"string"`)); st != 200 {
		t.Fatalf("admin register: %d %s", st, body)
	}
	srCall(t, hc, "POST", url+"/subjects/secret-value/versions", "admin", "admin-secret", schemaBody(`"int"`))
	// alice has no ACLs yet.
	if st, body := srCall(t, hc, "GET", url+"/subjects/orders-value/versions/1", "alice", "alice-secret", ""); st != 403 || !strings.Contains(body, `"error_code":40301`) {
		t.Fatalf("alice read without ACL: %d %s", st, body)
	}
	if st, body := srCall(t, hc, "GET", url+"/subjects", "alice", "alice-secret", ""); st != 200 || body != `[]` {
		t.Fatalf("alice list without ACL: %d %s", st, body)
	}
	adm := kadm.NewClient(admin)
	ctx := context.Background()
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	if err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	if st, body := srCall(t, hc, "GET", url+"/subjects/orders-value/versions/1", "alice", "alice-secret", ""); st != 200 {
		t.Fatalf("alice read with ACL: %d %s", st, body)
	}
	if st, body := srCall(t, hc, "GET", url+"/subjects", "alice", "alice-secret", ""); st != 200 || body != `["orders-value"]` {
		t.Fatalf("alice list with ACL: %d %s", st, body)
	}
	if st, _ := srCall(t, hc, "GET", url+"/schemas/ids/1", "alice", "alice-secret", ""); st != 200 {
		t.Fatalf("alice id 1: %d", st)
	}
	if st, _ := srCall(t, hc, "GET", url+"/schemas/ids/2", "alice", "alice-secret", ""); st != 403 {
		t.Fatalf("alice id 2 (secret-value only): %d", st)
	}
	// Read does not allow Write.
	if st, body := srCall(t, hc, "POST", url+"/subjects/orders-value/versions", "alice", "alice-secret", schemaBody(`["null","string"]`)); st != 403 {
		t.Fatalf("alice write without ACL: %d %s", st, body)
	}
	if res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders-value").Operations(kadm.OpWrite)); err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	if st, body := srCall(t, hc, "POST", url+"/subjects/orders-value/versions", "alice", "alice-secret", schemaBody(`["null","string"]`)); st != 200 || body != `{"id":3}` {
		t.Fatalf("alice write with ACL: %d %s", st, body)
	}
	// Global config needs the cluster.
	if st, _ := srCall(t, hc, "PUT", url+"/config", "alice", "alice-secret", `{"compatibility":"NONE"}`); st != 403 {
		t.Fatalf("alice global config: %d", st)
	}
	if st, _ := srCall(t, hc, "DELETE", url+"/subjects/orders-value", "alice", "alice-secret", ""); st != 403 {
		t.Fatalf("alice delete: %d", st)
	}
	// A changed password: the old one (verified, and remembered, above) no
	// longer works.
	addUser(t, admin, "alice", "new-secret", kadm.ScramSha256)
	if st, _ := srCall(t, hc, "GET", url+"/subjects", "alice", "alice-secret", ""); st != 401 {
		t.Fatalf("old password after the change: %d", st)
	}
	if st, _ := srCall(t, hc, "GET", url+"/subjects", "alice", "new-secret", ""); st != 200 {
		t.Fatalf("new password: %d", st)
	}
}

// With a TLS listener the registry speaks HTTPS with the same certificate,
// and a client certificate is a principal (mTLS).
func TestRegistryTLSClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	cert, key, _ := pki.issue(t, "server", pkix.Name{CommonName: "broker"}, true)
	authz := &recordingAuthz{}
	cfg := Config{Listeners: []Listener{{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"}},
		TLSCertFile: cert, TLSKeyFile: key, TLSClientCAFile: pki.caFile, Authorizer: authz,
		Kafka: map[string]string{"ssl.client.auth": "required"}, RegistryListen: "127.0.0.1:0"}
	tb, _ := startSecure(t, cfg)
	url := "https://" + tb.RegistryAddr().String()
	// Without a client certificate the handshake fails.
	noCert := pki.clientTLS()
	noCert.Certificates = nil
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: noCert}}).Get(url + "/subjects"); err == nil {
		t.Fatal("request without a client certificate succeeded")
	}
	_, _, pair := pki.issue(t, "client", pkix.Name{CommonName: "carol"}, false)
	tc := pki.clientTLS(pair)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	if st, body := srCall(t, hc, "POST", url+"/subjects/s/versions", "", "", schemaBody(`"string"`)); st != 200 {
		t.Fatalf("register over mTLS: %d %s", st, body)
	}
	if !authz.saw("User:CN=carol") {
		t.Fatalf("principal from the certificate not seen; saw %v", authz.seen)
	}
}

// A record in _schemas that is not the registry's (a client produced it) is
// skipped with a log line at start-up; the registry's own records stand.
func TestRegistrySkipsForeignRecords(t *testing.T) {
	dir := t.TempDir()
	tb := startBrokerWith(t, Config{DataDir: dir, RegistryListen: "127.0.0.1:0"})
	url := "http://" + tb.RegistryAddr().String()
	hc := &http.Client{}
	if st, body := srCall(t, hc, "POST", url+"/subjects/s/versions", "", "", schemaBody(`"string"`)); st != 200 {
		t.Fatalf("register: %d %s", st, body)
	}
	cl := newClient(t, tb.addr)
	for _, r := range []*kgo.Record{
		{Topic: SchemasTopic, Key: []byte("garbage"), Value: []byte("{")},
		{Topic: SchemasTopic, Key: []byte(`{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}`), Value: []byte(`{"id":"nope"}`)},
	} {
		if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	tb.stop(t)
	var logs logBuf
	cfg := Config{DataDir: dir, RegistryListen: "127.0.0.1:0", Listen: "127.0.0.1:0"}
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	logs.waitLog(t, "skipping _schemas record")
	logs.waitLog(t, "schema registry ready", "records=3", "skipped=2")
	go b.Serve(context.Background())
	url = "http://" + b.RegistryAddr().String()
	if st, body := srCall(t, hc, "GET", url+"/subjects", "", "", ""); st != 200 || body != `["s"]` {
		t.Fatalf("after restart: %d %s", st, body)
	}
}
