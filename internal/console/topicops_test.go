package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestAddPartitions(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "grow", 2)
	want(t, tb.get(t, "/topics/grow"), http.StatusOK, `id="partitions-form"`, `name="count"`)
	want(t, tb.post(t, "/topics/grow/partitions", url.Values{"count": {"abc"}}), http.StatusBadRequest, "not a positive number")
	want(t, tb.post(t, "/topics/grow/partitions", url.Values{"count": {"-3"}}), http.StatusBadRequest, "not a positive number")
	want(t, tb.post(t, "/topics/grow/partitions", url.Values{"count": {"1"}}), http.StatusBadRequest, "INVALID_PARTITIONS", "Partitions not added")
	want(t, tb.post(t, "/topics/nope/partitions", url.Values{"count": {"4"}}), http.StatusNotFound)
	r := tb.post(t, "/topics/grow/partitions", url.Values{"count": {"5"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/topics/grow") {
		t.Fatalf("add partitions: %d %q %s", r.status, r.location, r.body)
	}
	r = tb.get(t, "/topics/grow")
	if n := strings.Count(r.body, `/topics/grow/messages?partition=`); n != 5 {
		t.Fatalf("%d partition rows after adding, want 5", n)
	}
}

func TestDeleteRecords(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tb.createTopic(t, "trim", 2)
	for i := range 10 {
		if r := tb.post(t, "/topics/trim/produce", url.Values{"partition": {"0"}, "value": {"v" + string(rune('a'+i))}}); r.status != http.StatusSeeOther {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	want(t, tb.get(t, "/topics/trim"), http.StatusOK, `id="delete-records-form"`)
	want(t, tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"0"}, "offset": {"4"}}), http.StatusBadRequest, "tick the confirmation box")
	want(t, tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"9"}, "offset": {"4"}, "confirm": {"yes"}}), http.StatusBadRequest, "has no partition")
	want(t, tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"0"}, "offset": {"x"}, "confirm": {"yes"}}), http.StatusBadRequest, "not a non-negative number")
	want(t, tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"0"}, "offset": {"99"}, "confirm": {"yes"}}), http.StatusBadRequest, "OFFSET_OUT_OF_RANGE")
	want(t, tb.post(t, "/topics/nope/delete-records", url.Values{"partition": {"0"}, "offset": {"1"}, "confirm": {"yes"}}), http.StatusNotFound, "does not exist")
	r := tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"0"}, "offset": {"4"}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.location, "before+offset+4") {
		t.Fatalf("delete records: %d %q %s", r.status, r.location, r.body)
	}
	r = tb.get(t, "/topics/trim/messages?partition=0&order=oldest")
	want(t, r, http.StatusOK, "6 messages shown", "offset 4")
	if strings.Contains(r.body, "offset 3<") {
		t.Fatal("a deleted record is still shown")
	}
	// "end": up to the high watermark.
	if r := tb.post(t, "/topics/trim/delete-records", url.Values{"partition": {"0"}, "offset": {"end"}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete records to end: %d %s", r.status, r.body)
	}
	want(t, tb.get(t, "/topics/trim/messages?partition=0"), http.StatusOK, "No messages.")
}

func TestTopicOpsACL(t *testing.T) {
	tb := startBroker(t, broker.Config{Authorizer: denyTopic{"secret"}})
	tb.createTopic(t, "secret", 1)
	want(t, tb.post(t, "/topics/secret/partitions", url.Values{"count": {"3"}}), http.StatusForbidden, "TOPIC_AUTHORIZATION_FAILED")
	want(t, tb.post(t, "/topics/secret/delete-records", url.Values{"partition": {"0"}, "offset": {"0"}, "confirm": {"yes"}}), http.StatusForbidden, "TOPIC_AUTHORIZATION_FAILED")
}
