package cluster

import (
	"errors"
	"testing"
)

func TestTopicsCreateListWatchDelete(t *testing.T) {
	e := startEtcd(t, 128)
	a, b := e.open(t, nil), e.open(t, nil)
	seen := newLatest[map[string]TopicInfo]()
	w := b.WatchTopics(ctxT(t), seen.set)
	defer w.Stop()

	orders := TopicInfo{Name: "orders", ID: [16]byte{1, 2, 3}, Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}
	if err := a.CreateTopic(ctxT(t), orders); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic(ctxT(t), TopicInfo{Name: "orders", ID: [16]byte{9}, Partitions: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v, want ErrTopicExists", err)
	}
	if err := a.CreateTopic(ctxT(t), TopicInfo{Name: "bad", Partitions: 0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero partitions: %v, want ErrInvalid", err)
	}
	got := seen.waitFor(t, "the watch to see orders", func(m map[string]TopicInfo) bool { _, ok := m["orders"]; return ok })["orders"]
	if got.ID != orders.ID || got.Partitions != 3 || got.ReplicationFactor != 1 || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("watched topic %+v, want %+v", got, orders)
	}

	if _, err := a.SetPartitions(ctxT(t), "orders", 2, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shrinking: %v, want ErrInvalid", err)
	}
	if _, err := a.SetPartitions(ctxT(t), "nope", 5, nil); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v, want ErrUnknownTopic", err)
	}
	if _, err := a.SetPartitions(ctxT(t), "orders", 5, nil); err != nil {
		t.Fatal(err)
	}
	seen.waitFor(t, "5 partitions", func(m map[string]TopicInfo) bool { return m["orders"].Partitions == 5 })
	if _, err := a.SetTopicConfigs(ctxT(t), "nope", nil); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("configs of an unknown topic: %v, want ErrUnknownTopic", err)
	}
	if got, err := a.SetTopicConfigs(ctxT(t), "orders", map[string]string{"retention.ms": "2000", "cleanup.policy": "compact"}); err != nil ||
		got.Configs["retention.ms"] != "2000" || got.Partitions != 5 {
		t.Fatalf("SetTopicConfigs: %+v %v", got, err)
	}
	seen.waitFor(t, "the new configs", func(m map[string]TopicInfo) bool {
		return m["orders"].Configs["retention.ms"] == "2000" && m["orders"].Configs["cleanup.policy"] == "compact" && m["orders"].Partitions == 5
	})
	all, err := b.Topics(ctxT(t))
	if err != nil || len(all) != 1 || all["orders"].Partitions != 5 {
		t.Fatalf("Topics: %v %+v", err, all)
	}

	// A partition's keys go with the topic.
	m, err := a.Register(ctxT(t), BrokerInfo{NodeID: 1, Host: "h", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp := orders.Partition(0)
	if _, err := m.Acquire(ctxT(t), tp); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteTopic(ctxT(t), "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteTopic(ctxT(t), "orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second delete: %v, want ErrUnknownTopic", err)
	}
	seen.waitFor(t, "the topic gone", func(m map[string]TopicInfo) bool { return len(m) == 0 })
	if _, ok, err := a.Leader(ctxT(t), tp); err != nil || ok {
		t.Fatalf("leader after delete: %v %v", ok, err)
	}
	if ep, err := a.Epoch(ctxT(t), tp); err != nil || ep != -1 {
		t.Fatalf("epoch after delete: %d %v, want -1", ep, err)
	}
}
