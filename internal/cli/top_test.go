package cli

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestTop(t *testing.T) {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler), Kafka: map[string]string{"offsets.topic.num.partitions": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() { cancel(); b.Close(); <-done })
	c := cluster{t: t, addr: b.Addr().String()}
	c.ok("", "topic", "create", "orders", "--partitions", "2")
	c.ok("a\nb\nc\n", "produce", "orders")
	c.ok("", "consume", "orders", "--offset", "beginning", "-e", "--group", "billing")
	url := "http://" + b.HTTPAddr().String() + "/metrics"
	r := runCLI(t, "", "top", "--once", "--interval", "50ms", "--url", url)
	if r.code != 0 {
		t.Fatalf("top: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"TOPICS (", "orders", "CONSUMER GROUP LAG", "billing", "REQUESTS", "connections "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("top output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("top cleared a screen that is not a terminal")
	}

	r = runCLI(t, "", "top", "--once", "--url", "http://127.0.0.1:1/metrics")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "sluice top: scraping http://127.0.0.1:1/metrics") {
		t.Errorf("unreachable: exit %d, %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "top", "--interval", "0s")
	if r.code != 2 {
		t.Errorf("--interval 0s: exit %d, %q", r.code, r.stderr)
	}
}
