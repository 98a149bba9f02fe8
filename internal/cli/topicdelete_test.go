package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicDeleteMany: more topics than one request names are deleted in
// batches; piped output has no progress line.
func TestTopicDeleteMany(t *testing.T) {
	c, _ := startSluice(t)
	var names []string
	for i := range deleteBatch + 30 {
		names = append(names, fmt.Sprintf("many-%03d", i))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(t.Context(), 1, 1, nil, names...); err != nil {
		t.Fatal(err)
	}
	r := c.ok("", append([]string{"topic", "delete"}, names...)...)
	if n := strings.Count(r.stdout, "deleted topic many-"); n != len(names) {
		t.Fatalf("%d topics reported deleted, want %d:\n%s", n, len(names), r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "\r") {
		t.Fatalf("progress written to a pipe: %q", r.stderr)
	}
	r = c.ok("", "topic", "list")
	if strings.Contains(r.stdout, "many-") {
		t.Fatalf("topics left:\n%s", r.stdout)
	}
}
