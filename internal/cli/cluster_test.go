package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestClusterInfo(t *testing.T) {
	c, b := startSluice(t)
	c.ok("", "topic", "create", "a")
	var topics []topicSummary
	json.Unmarshal([]byte(c.ok("", "topic", "list", "--format", "json").stdout), &topics)
	r := c.ok("", "cluster", "info")
	host, port, _ := strings.Cut(c.addr, ":")
	for _, s := range []string{
		"Cluster ID:  " + b.ClusterID() + "\n",
		"Controller:  1\n",
		fmt.Sprintf("Topics:      %d\n", len(topics)),
		"ID  HOST       PORT",
		"1   " + host + "  " + port,
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("cluster info lacks %q:\n%s", s, r.stdout)
		}
	}
	var info clusterInfo
	r = c.ok("", "cluster", "info", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.ClusterID != b.ClusterID() || len(info.Brokers) != 1 || info.Brokers[0].Host != host || info.Topics != len(topics) {
		t.Errorf("cluster info json: %+v", info)
	}
}
