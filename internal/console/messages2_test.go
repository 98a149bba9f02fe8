package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/internal/broker"
)

// TestBrowseHeaderAndTime browses by header and time range and from a
// time, records produced with known timestamps and headers.
func TestBrowseHeaderAndTime(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "timed", 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 20 {
		r := &kgo.Record{Topic: "timed", Partition: int32(i % 2), Value: fmt.Appendf(nil, "rec-%02d", i), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if i%5 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "id-%d", i)}}
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Header: name=value substring, or the name alone.
	r := tb.get(t, "/topics/timed/messages?header="+url.QueryEscape("trace=id-1"))
	want(t, r, http.StatusOK, "2 messages shown", "rec-10", "rec-15")
	want(t, tb.get(t, "/topics/timed/messages?header=trace"), http.StatusOK, "4 messages shown")
	want(t, tb.get(t, "/topics/timed/messages?header=nope"), http.StatusOK, "No messages.")
	// Time range, inclusive; both time syntaxes.
	r = tb.get(t, "/topics/timed/messages?order=oldest&after=2026-01-02T03:05&before="+url.QueryEscape("2026-01-02T03:07:00Z"))
	want(t, r, http.StatusOK, "3 messages shown", "rec-05", "rec-06", "rec-07")
	ms := base.Add(18 * time.Minute).UnixMilli()
	want(t, tb.get(t, fmt.Sprintf("/topics/timed/messages?after=%d", ms)), http.StatusOK, "2 messages shown", "rec-18", "rec-19")
	// From a time: oldest first starts there, newest first ends there.
	r = tb.get(t, "/topics/timed/messages?partition=0&order=oldest&limit=2&time=2026-01-02T03:10:00Z")
	want(t, r, http.StatusOK, "2 messages shown", "rec-10", "rec-12")
	r = tb.get(t, "/topics/timed/messages?partition=0&order=newest&limit=2&time=2026-01-02T03:10:00Z")
	want(t, r, http.StatusOK, "2 messages shown", "rec-10", "rec-08")
	want(t, tb.get(t, "/topics/timed/messages?order=oldest&time=2030-01-01"), http.StatusOK, "No messages.")
	// Bad input.
	want(t, tb.get(t, "/topics/timed/messages?after=yesterday"), http.StatusBadRequest, "is not a time")
	want(t, tb.get(t, "/topics/timed/messages?after=2026-01-03&before=2026-01-02"), http.StatusBadRequest, "ends")
	want(t, tb.get(t, "/topics/timed/messages?partition=0&offset=1&time=2026-01-02"), http.StatusBadRequest, "not both")
	want(t, tb.get(t, "/topics/timed/messages?header=%3Dx"), http.StatusBadRequest, "no header name")
	want(t, tb.get(t, "/topics/timed/messages?header="+strings.Repeat("h", 300)), http.StatusBadRequest, "longer than 256")
}

// TestSchemaDecodeAndProduce: values in Confluent's wire format are shown
// decoded as JSON (Avro, Protobuf, JSON Schema), and the produce form
// encodes with the topic's value schema.
func TestSchemaDecodeAndProduce(t *testing.T) {
	tb := startBroker(t, broker.Config{RegistryListen: "127.0.0.1:0"})
	ctx := context.Background()
	rcl, err := sr.NewClient(sr.URLs("http://" + tb.RegistryAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	avroSchema := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	ss, err := rcl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	protoSchema := "syntax = \"proto3\";\nmessage Point { int32 x = 1; int32 y = 2; }\n"
	ps, err := rcl.CreateSchema(ctx, "points-value", sr.Schema{Schema: protoSchema, Type: sr.TypeProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	jsonSchema := `{"type":"object","properties":{"sku":{"type":"string"}},"required":["sku"]}`
	js, err := rcl.CreateSchema(ctx, "items-value", sr.Schema{Schema: jsonSchema, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	tb.createTopic(t, "users", 1)
	tb.createTopic(t, "mixed", 1)

	// The produce form encodes with users-value (Avro).
	want(t, tb.get(t, "/topics/users/messages"), http.StatusOK, `id="produce-encoding"`, "users-value version 1 (Avro")
	r := tb.post(t, "/topics/users/produce", url.Values{"partition": {"0"}, "value": {`{"name":"ada","age":36}`}, "encoding": {"schema"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("produce with schema: %d %s", r.status, r.body)
	}
	want(t, tb.post(t, "/topics/users/produce", url.Values{"value": {`{"name":"ada"}`}, "encoding": {"schema"}}), http.StatusBadRequest, "does not match the Avro schema")
	want(t, tb.post(t, "/topics/users/produce", url.Values{"value": {`not json`}, "encoding": {"schema"}}), http.StatusBadRequest, "Not produced")
	// A topic without a value schema: no encoding choice, and asking for it is refused.
	want(t, tb.post(t, "/topics/mixed/produce", url.Values{"value": {`{}`}, "encoding": {"schema"}}), http.StatusBadRequest, "no schema to encode with")
	// What was produced is framed Avro.
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := func() *kgo.Client {
		c, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.ConsumeTopics("users"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()
	defer fs.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var got []byte
	for got == nil {
		f := fs.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatal("no record consumed")
		}
		f.EachRecord(func(r *kgo.Record) { got = r.Value })
	}
	if id, _, err := codec.ParseHeader(got); err != nil || int(id) != ss.ID {
		t.Fatalf("produced value %x: id %d err %v, want id %d", got, id, err, ss.ID)
	}
	want(t, tb.get(t, "/topics/users/messages"), http.StatusOK, fmt.Sprintf("Avro, schema id %d", ss.ID), "&#34;name&#34;: &#34;ada&#34;", "&#34;age&#34;: 36")

	// Protobuf and JSON Schema framed by hand, an unknown id and a broken payload.
	pc := codec.AppendProtobufHeader(nil, uint32(ps.ID), []int{0})
	pc = append(pc, 0x08, 0x03, 0x10, 0x04) // x=3, y=4
	jc := append(codec.AppendHeader(nil, uint32(js.ID)), `{"sku":"A-1"}`...)
	unknown := append(codec.AppendHeader(nil, 999), "zzz"...)
	broken := append(codec.AppendHeader(nil, uint32(ss.ID)), 0xff)
	for i, v := range [][]byte{pc, jc, unknown, broken} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mixed", Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	r = tb.get(t, "/topics/mixed/messages?order=oldest")
	want(t, r, http.StatusOK, fmt.Sprintf("Protobuf, schema id %d", ps.ID), "&#34;x&#34;: 3", "&#34;y&#34;: 4",
		fmt.Sprintf("JSON Schema, schema id %d", js.ID), "&#34;sku&#34;: &#34;A-1&#34;",
		"not decodable", `<pre class="hex">`)
	if strings.Contains(r.body, "schema id 999") {
		t.Fatal("an unknown schema id is shown as decoded")
	}
}

// TestLiveTail: the page shows the newest messages and reloads without
// JavaScript; a poll with the cursor returns only what is new and the
// next cursor.
func TestLiveTail(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "live", 2)
	produce := func(p, v string) {
		t.Helper()
		if r := tb.post(t, "/topics/live/produce", url.Values{"partition": {p}, "value": {v}}); r.status != http.StatusSeeOther {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	produce("0", "old-a")
	produce("1", "old-b")
	r := tb.get(t, "/topics/live/tail")
	want(t, r, http.StatusOK, `<noscript><meta http-equiv="refresh" content="5"></noscript>`, "old-a", "old-b", `data-cursor="0:1,1:1"`, `id="load-newer"`)
	frag := "/topics/live/tail?fragment=1&cursor="
	r = tb.get(t, frag+url.QueryEscape("0:1,1:1"))
	if r.status != http.StatusOK || strings.TrimSpace(r.body) != "" {
		t.Fatalf("poll with nothing new: %d %q", r.status, r.body)
	}
	produce("0", "new-c")
	produce("1", "new-d")
	produce("1", "new-e")
	req, _ := http.NewRequest(http.MethodGet, tb.base+frag+url.QueryEscape("0:1,1:1"), nil)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("X-Tail-Cursor"); c != "0:2,1:3" {
		t.Fatalf("next cursor %q, want 0:2,1:3", c)
	}
	r = tb.get(t, frag+url.QueryEscape("0:1,1:1"))
	want(t, r, http.StatusOK, "new-c", "new-d", "new-e")
	if strings.Contains(r.body, "old-") || strings.Contains(r.body, "<html") {
		t.Fatalf("poll returned more than the new messages:\n%s", r.body)
	}
	// Filters apply to the poll.
	want(t, tb.get(t, "/topics/live/tail?fragment=1&value=new-e&cursor="+url.QueryEscape("0:1,1:1")), http.StatusOK, "new-e")
	if r := tb.get(t, "/topics/live/tail?fragment=1&value=new-e&cursor="+url.QueryEscape("0:1,1:1")); strings.Contains(r.body, "new-d") {
		t.Fatal("filter not applied to the poll")
	}
	// Bad cursors, and a topic deleted while tailed.
	want(t, tb.get(t, frag+"garbage"), http.StatusBadRequest, "not partition:offset pairs")
	want(t, tb.get(t, frag+"0:1"), http.StatusBadRequest, "no offset for partition 1")
	want(t, tb.get(t, frag+"7:1,0:1,1:1"), http.StatusBadRequest, "not partition:offset pairs")
	if r := tb.post(t, "/topics/live/delete", url.Values{"confirm": {"live"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	want(t, tb.get(t, frag+url.QueryEscape("0:1,1:1")), http.StatusNotFound, "does not exist")
}
