package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQuotaCommands(t *testing.T) {
	c, _ := startSluice(t)
	if r := c.ok("", "quota", "alter", "--user", "alice", "--client-id", "app", "--set", "producer_byte_rate=1048576"); r.stdout != "altered quotas of {user=alice, client-id=app}\n" {
		t.Errorf("alter: %q", r.stdout)
	}
	c.ok("", "quota", "alter", "--user-default", "--set", "consumer_byte_rate=2048,request_percentage=12.5")
	c.ok("", "quota", "alter", "--client-id-default", "--set", "producer_byte_rate=10", "--validate-only")

	r := c.ok("", "quota", "describe")
	want := "ENTITY                          KEY                 VALUE\n" +
		"{user=<default>}                consumer_byte_rate  2048\n" +
		"{user=<default>}                request_percentage  12.5\n" +
		"{user=alice, client-id=app}     producer_byte_rate  1048576\n"
	if norm(r.stdout) != norm(want) {
		t.Errorf("describe:\n%s\nwant\n%s", r.stdout, want)
	}
	r = c.ok("", "quota", "describe", "--user", "alice", "--format", "json")
	var got []describedQuota
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].Values["producer_byte_rate"] != 1048576 || *got[0].Entity["client-id"] != "app" {
		t.Errorf("describe json: %s %v", r.stdout, err)
	}
	c.ok("", "quota", "alter", "--user", "alice", "--client-id", "app", "--delete", "producer_byte_rate")
	if r := c.ok("", "quota", "describe", "--user", "alice"); strings.Contains(r.stdout, "alice") {
		t.Errorf("after delete: %q", r.stdout)
	}

	c.fails(1, "", []string{"quota", "alter", "--user", "bob", "--set", "producer_byte_rate=1.5"}, "INVALID_REQUEST", "Long")
	c.fails(1, "", []string{"quota", "alter", "--user", "bob", "--set", "bogus=1"}, "Invalid configuration key bogus")
	c.fails(2, "", []string{"quota", "alter", "--set", "producer_byte_rate=1"}, "name the entity")
	c.fails(2, "", []string{"quota", "alter", "--user", "bob"}, "--set or --delete")
	c.fails(2, "", []string{"quota", "alter", "--user", "bob", "--set", "producer_byte_rate"}, "KEY=VALUE")
	if r := runCLI(t, "", "help"); !strings.Contains(r.stdout, "sluice quota describe|alter") {
		t.Error("help lacks the quota command")
	}
}

// norm collapses runs of spaces, so the test does not depend on column
// widths.
func norm(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}
