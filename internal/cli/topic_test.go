package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTopicCommands(t *testing.T) {
	c, _ := startSluice(t)

	r := c.ok("", "topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=600000")
	if r.stdout != "created topic orders with 3 partitions\n" {
		t.Errorf("create: %q", r.stdout)
	}
	c.fails(1, "", []string{"topic", "create", "orders", "--partitions", "3"}, `topic "orders" already exists`)
	c.ok("", "topic", "create", "orders", "--if-not-exists")
	c.ok("", "topic", "create", "payments") // broker default partitions
	c.fails(1, "", []string{"topic", "create", "bad-config", "--config", "retention.ms=soon"}, "bad-config", "INVALID_CONFIG")

	// list: an aligned table, or JSON.
	r = c.ok("", "topic", "list", "--exclude-internal")
	want := "NAME      PARTITIONS  REPLICAS  INTERNAL\n" +
		"orders    3           1         false\n" +
		"payments  1           1         false\n"
	if r.stdout != want {
		t.Errorf("list:\n%s\nwant:\n%s", r.stdout, want)
	}
	var listed []topicSummary
	r = c.ok("", "topic", "list", "--format", "json", "--exclude-internal")
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("list json: %v\n%s", err, r.stdout)
	}
	if len(listed) != 2 || listed[0].Name != "orders" || listed[0].Partitions != 3 || listed[0].Replicas != 1 || listed[0].ID == "" {
		t.Errorf("list json: %+v", listed)
	}

	// describe: partitions with offsets, and the non-default configs.
	c.ok(strings.Repeat("x\n", 10), "produce", "orders", "--partition", "1")
	r = c.ok("", "topic", "describe", "orders")
	for _, s := range []string{
		"Topic:       orders\n",
		"Partitions:  3\n",
		"PARTITION  LEADER  REPLICAS  ISR  LOG-START  HIGH-WATERMARK\n",
		"0          1       1         1    0          0\n",
		"1          1       1         1    0          10\n",
		"retention.ms  600000  DYNAMIC_TOPIC_CONFIG\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("describe lacks %q:\n%s", s, r.stdout)
		}
	}
	var info topicInfo
	r = c.ok("", "topic", "describe", "orders", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("describe json: %v\n%s", err, r.stdout)
	}
	if len(info.Partitions) != 3 || info.Partitions[1].HighWatermark != 10 || info.Partitions[1].Leader != 1 || len(info.Partitions[1].ISR) != 1 {
		t.Errorf("describe json partitions: %+v", info.Partitions)
	}
	if len(info.Configs) != 1 || info.Configs[0].Name != "retention.ms" || *info.Configs[0].Value != "600000" {
		t.Errorf("describe json configs: %+v", info.Configs)
	}
	r = c.ok("", "topic", "describe", "orders", "--all-configs", "--format", "json")
	info = topicInfo{}
	json.Unmarshal([]byte(r.stdout), &info)
	if len(info.Configs) < 10 {
		t.Errorf("--all-configs: only %d configs", len(info.Configs))
	}
	c.fails(1, "", []string{"topic", "describe", "nope"}, `topic "nope" does not exist`)

	// alter-config: set and delete, incrementally.
	r = c.ok("", "topic", "alter-config", "orders", "--set", "cleanup.policy=compact", "--set", "max.message.bytes=2048")
	if r.stdout != "altered configs of topic orders\n" {
		t.Errorf("alter-config: %q", r.stdout)
	}
	r = c.ok("", "topic", "describe", "orders")
	for _, s := range []string{"cleanup.policy     compact", "max.message.bytes  2048", "retention.ms       600000"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("after alter-config, describe lacks %q:\n%s", s, r.stdout)
		}
	}
	c.ok("", "topic", "alter-config", "orders", "--delete", "retention.ms")
	if r = c.ok("", "topic", "describe", "orders"); strings.Contains(r.stdout, "retention.ms") {
		t.Errorf("retention.ms still set:\n%s", r.stdout)
	}
	c.fails(1, "", []string{"topic", "alter-config", "orders", "--set", "no.such.config=1"}, "INVALID_CONFIG")
	c.fails(1, "", []string{"topic", "alter-config", "nope", "--set", "retention.ms=1"}, `topic "nope" does not exist`)

	// delete: several at once; a missing one fails (unless --if-exists).
	r = c.run("", "topic", "delete", "payments", "nope")
	if r.code != 1 || r.stdout != "deleted topic payments\n" || r.stderr != "sluice topic delete: topic \"nope\" does not exist\n" {
		t.Errorf("delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.ok("", "topic", "delete", "nope", "--if-exists")
	c.ok("", "topic", "delete", "orders")
	if r = c.ok("", "topic", "list", "--exclude-internal"); r.stdout != "NAME  PARTITIONS  REPLICAS  INTERNAL\n" {
		t.Errorf("list after delete: %q", r.stdout)
	}
	if r = c.ok("", "topic", "list", "--format", "json", "--exclude-internal"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty list json: %q", r.stdout)
	}
	// Without --exclude-internal, internal topics (if the broker has any,
	// such as __consumer_offsets) are listed and marked.
	listed = nil
	json.Unmarshal([]byte(c.ok("", "topic", "list", "--format", "json").stdout), &listed)
	for _, s := range listed {
		if !s.Internal || !strings.HasPrefix(s.Name, "__") {
			t.Errorf("left after deleting all: %+v", s)
		}
	}
}
