package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestShareGroupCommands drives sluice share-group against Sluice: a
// share consumer acknowledges records, list/describe show the group and
// its start offset, reset-offsets needs a stopped group and moves the
// start offset, delete removes it.
func TestShareGroupCommands(t *testing.T) {
	c, _ := startSluice(t)
	c.ok("", "topic", "create", "jobs", "--partitions", "1")
	c.ok("a\nb\nc\nd\n", "produce", "jobs")
	c.ok("", "share-group", "reset-offsets", "w", "--topic", "jobs", "--to", "beginning")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.ConsumeTopics("jobs"), kgo.ShareGroup("w"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for got < 4 && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			r.Ack(kgo.AckAccept)
			got++
		}
	}
	if err := cl.FlushAcks(ctx); err != nil || got != 4 {
		t.Fatalf("consumed %d: %v", got, err)
	}

	r := c.ok("", "share-group", "list")
	if _, rows := tableRows(t, r.stdout); len(rows) != 1 || strings.Join(rows[0], " ") != "w Stable 1" {
		t.Fatalf("list: %q", r.stdout)
	}
	r = c.ok("", "share-group", "describe", "w")
	if !strings.Contains(r.stdout, "jobs  0          4             0") && !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "jobs 0 4 0") {
		t.Fatalf("describe: %q", r.stdout)
	}
	c.fails(1, "", []string{"share-group", "reset-offsets", "w", "--topic", "jobs", "--to", "1"}, "active members")
	cl.Close()
	r = c.ok("", "share-group", "reset-offsets", "w", "--topic", "jobs", "--to", "1")
	if f := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(f, "jobs 0 4 1") {
		t.Fatalf("reset-offsets: %q", r.stdout)
	}
	if f := strings.Join(strings.Fields(c.ok("", "share-group", "describe", "w", "--format", "json").stdout), ""); !strings.Contains(f, `"start_offset":1`) {
		t.Fatalf("describe json after reset: %s", f)
	}
	c.ok("", "share-group", "delete", "w")
	c.fails(1, "", []string{"share-group", "describe", "w"}, "does not exist")
}

func TestShareGroupHelp(t *testing.T) {
	for _, cmd := range [][]string{{"share-group"}, {"share-group", "list"}, {"share-group", "describe"}, {"share-group", "reset-offsets"}, {"share-group", "delete"}} {
		r := runCLI(t, "", append(cmd, "--help")...)
		name := strings.Join(cmd, " ")
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage: sluice "+name) || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("sluice %s --help: exit %d, stderr %q, stdout:\n%s", name, r.code, r.stderr, r.stdout)
		}
	}
	if r := runCLI(t, "", "help"); !strings.Contains(r.stdout, "share-group") {
		t.Error("sluice help does not list share-group")
	}
}
