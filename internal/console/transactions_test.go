package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestTransactionsPage(t *testing.T) {
	tb := startBroker(t, broker.Config{Authorizer: denyTopic{"secret"}})
	tb.createTopic(t, "txtopic", 2)
	tb.createTopic(t, "secret", 1)
	want(t, tb.get(t, "/transactions"), http.StatusOK, "No transactions.")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.TransactionalID("tx-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "txtopic", Partition: 1, Value: []byte("in a transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := tb.get(t, "/transactions")
	want(t, r, http.StatusOK, "<td class=\"wrap\">tx-1</td><td>Ongoing", "txtopic: [1]")
	if !regexp.MustCompile(`<td class="txn-age"><time datetime="[^"]+">[0-9.]+ (s|min)</time>`).MatchString(r.body) {
		t.Fatalf("no age of the ongoing transaction:\n%s", r.body)
	}
	want(t, tb.get(t, "/transactions?state=Ongoing"), http.StatusOK, "tx-1")
	want(t, tb.get(t, "/transactions?state=CompleteCommit"), http.StatusOK, "No transactions.")
	// Producers of the topic: the transactional producer on partition 1,
	// its transaction starting at offset 0.
	r = tb.get(t, "/transactions?topic=txtopic")
	want(t, r, http.StatusOK, `id="producers-table"`, `<td class="num">1</td>`)
	if !regexp.MustCompile(`<tr><td class="num">1</td><td class="num">\d+</td><td class="num">0</td><td class="num">0</td><td><time[^>]*>[^<]+</time></td><td class="num">0</td></tr>`).MatchString(r.body) {
		t.Fatalf("producer row of partition 1 missing:\n%s", r.body)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	r = tb.get(t, "/transactions")
	want(t, r, http.StatusOK, "tx-1")
	if strings.Contains(r.body, "<td>Ongoing") {
		t.Fatal("a committed transaction is shown ongoing")
	}
	// Bad input and ACLs.
	want(t, tb.get(t, "/transactions?state=Sleeping"), http.StatusBadRequest, "unknown transaction state")
	want(t, tb.get(t, "/transactions?topic=nope"), http.StatusOK, "does not exist")
	want(t, tb.get(t, "/transactions?topic=secret"), http.StatusOK, "TOPIC_AUTHORIZATION_FAILED")
	want(t, tb.get(t, "/transactions?state="+strings.Repeat("s", 300)), http.StatusBadRequest, "longer than 256")
}
