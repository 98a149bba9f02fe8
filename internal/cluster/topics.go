package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdmaps "maps"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Topics in etcd: topics/<name> holds the topic's id, partition count,
// the replication factor it was created with and its configs (JSON, "v":
// 1). Every broker keeps a current copy through WatchTopics. A topic's
// partitions are named by its id (TopicPartition), so a topic deleted and
// created again under the same name starts with new partitions.
//
//	topics/<name>   {v, id, partitions, replication_factor, configs, created}

// TopicInfo is a topic as stored in topics/<name>.
type TopicInfo struct {
	Name string
	// ID is the topic's Kafka Uuid.
	ID [16]byte
	// Partitions is the partition count.
	Partitions int32
	// ReplicationFactor is what CreateTopics asked for (the data itself is
	// in the object store; Metadata lists this many replicas).
	ReplicationFactor int16
	// Configs are the topic's config overrides (Kafka's names).
	Configs map[string]string
	// Created is when the topic was created.
	Created time.Time
}

// Partition is the TopicPartition of partition p of this topic.
func (t TopicInfo) Partition(p int32) TopicPartition {
	return TopicPartition{TopicID: t.ID, Partition: p}
}

// Errors of the topic calls.
var (
	// ErrTopicExists: CreateTopic of a name that exists.
	ErrTopicExists = errors.New("cluster: topic already exists")
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("cluster: unknown topic")
)

type topicValue struct {
	V                 int               `json:"v"`
	ID                string            `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	Created           int64             `json:"created"` // unix ms
}

func encodeTopic(t TopicInfo) string {
	b, _ := json.Marshal(topicValue{V: valueVersion, ID: encodeTopicID(t.ID), Partitions: t.Partitions,
		ReplicationFactor: t.ReplicationFactor, Configs: t.Configs, Created: t.Created.UnixMilli()})
	return string(b)
}

func (c *Client) decodeTopic(kv *mvccpb.KeyValue) (TopicInfo, error) {
	var v topicValue
	if err := decode(string(kv.Key), kv.Value, &v); err != nil {
		return TopicInfo{}, err
	}
	tp, err := parseTP(v.ID + "/0")
	if err != nil {
		return TopicInfo{}, fmt.Errorf("%w: %s: topic id %q", ErrBadValue, kv.Key, v.ID)
	}
	if v.Partitions < 0 {
		return TopicInfo{}, fmt.Errorf("%w: %s: %d partitions", ErrBadValue, kv.Key, v.Partitions)
	}
	return TopicInfo{Name: strings.TrimPrefix(string(kv.Key), c.k.topics()), ID: tp.TopicID, Partitions: v.Partitions,
		ReplicationFactor: v.ReplicationFactor, Configs: v.Configs, Created: time.UnixMilli(v.Created)}, nil
}

// CreateTopic stores a new topic: one txn If(topics/<name> absent)
// Then(put it). ErrTopicExists if the name is taken.
func (c *Client) CreateTopic(ctx context.Context, t TopicInfo) error {
	if t.Name == "" || strings.Contains(t.Name, "/") || t.Partitions <= 0 {
		return fmt.Errorf("%w: topic %q with %d partitions", ErrInvalid, t.Name, t.Partitions)
	}
	if t.Created.IsZero() {
		t.Created = c.cfg.Now()
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	key := c.k.topic(t.Name)
	resp, err := c.etcd.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, encodeTopic(t))).Commit()
	if err != nil {
		return fmt.Errorf("cluster: creating topic %s: %w", t.Name, classify(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s", ErrTopicExists, t.Name)
	}
	c.log.Info("created topic", "topic", t.Name, "id", encodeTopicID(t.ID), "partitions", t.Partitions)
	return nil
}

// getTopic reads topics/<name> and its mod revision.
func (c *Client) getTopic(ctx context.Context, name string) (TopicInfo, int64, error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(rctx, c.k.topic(name))
	if err != nil {
		return TopicInfo{}, 0, fmt.Errorf("cluster: reading topic %s: %w", name, classify(err))
	}
	if len(resp.Kvs) == 0 {
		return TopicInfo{}, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	t, err := c.decodeTopic(resp.Kvs[0])
	return t, resp.Kvs[0].ModRevision, err
}

// Topic reads one topic; ErrUnknownTopic if it does not exist.
func (c *Client) Topic(ctx context.Context, name string) (TopicInfo, error) {
	t, _, err := c.getTopic(ctx, name)
	return t, err
}

// DeleteTopic deletes a topic and, in the same txn, its partitions'
// leaders/, epochs/, hw/, logstart/ and index/ keys (the leaders' next
// commit fails its fence; their objects are left to the garbage
// collector). ErrUnknownTopic if it does not exist.
func (c *Client) DeleteTopic(ctx context.Context, name string) (TopicInfo, error) {
	for range 5 {
		t, rev, err := c.getTopic(ctx, name)
		if err != nil {
			return TopicInfo{}, err
		}
		id := encodeTopicID(t.ID) + "/"
		key := c.k.topic(name)
		rctx, cancel := c.reqCtx(ctx)
		resp, err := c.etcd.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpDelete(key),
				clientv3.OpDelete(c.k.leaders()+id, clientv3.WithPrefix()),
				clientv3.OpDelete(c.k.root+"epochs/"+id, clientv3.WithPrefix()),
				clientv3.OpDelete(c.k.root+"hw/"+id, clientv3.WithPrefix()),
				clientv3.OpDelete(c.k.root+"logstart/"+id, clientv3.WithPrefix()),
				clientv3.OpDelete(c.k.root+"producers/"+id, clientv3.WithPrefix()),
				clientv3.OpDelete(c.k.indexAll()+id, clientv3.WithPrefix())).Commit()
		cancel()
		if err != nil {
			return TopicInfo{}, fmt.Errorf("cluster: deleting topic %s: %w", name, classify(err))
		}
		if resp.Succeeded {
			c.log.Info("deleted topic", "topic", name, "id", encodeTopicID(t.ID))
			return t, nil
		}
	}
	return TopicInfo{}, fmt.Errorf("%w: deleting topic %s: contended", ErrUnavailable, name)
}

// SetPartitions raises a topic's partition count to total (Kafka's
// CreatePartitions: never lower). A total not above the current count is
// ErrInvalid; validate, if not nil, sees the stored topic first and may
// refuse with its own error.
func (c *Client) SetPartitions(ctx context.Context, name string, total int32, validate func(TopicInfo) error) (TopicInfo, error) {
	return c.updateTopic(ctx, name, "adding partitions to", func(t *TopicInfo) error {
		if validate != nil {
			if err := validate(*t); err != nil {
				return err
			}
		}
		if total <= t.Partitions {
			return fmt.Errorf("%w: topic %s has %d partitions, cannot set %d", ErrInvalid, name, t.Partitions, total)
		}
		t.Partitions = total
		return nil
	})
}

// SetTopicConfigs replaces a topic's config overrides with configs (the
// caller has validated them). ErrUnknownTopic if it does not exist.
func (c *Client) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (TopicInfo, error) {
	return c.UpdateTopicConfigs(ctx, name, func(map[string]string) (map[string]string, error) {
		return stdmaps.Clone(configs), nil
	})
}

// UpdateTopicConfigs replaces a topic's config overrides with what next
// makes of the stored ones, in a compare-and-swap: next may run more than
// once, each time on the configs etcd holds, so concurrent updates of
// different configs (IncrementalAlterConfigs on two brokers) both apply.
// An error of next refuses the update and is returned as is.
func (c *Client) UpdateTopicConfigs(ctx context.Context, name string, next func(cur map[string]string) (map[string]string, error)) (TopicInfo, error) {
	return c.updateTopic(ctx, name, "setting the configs of", func(t *TopicInfo) error {
		cfg, err := next(stdmaps.Clone(t.Configs))
		if err != nil {
			return err
		}
		t.Configs = cfg
		return nil
	})
}

// updateTopic reads topics/<name>, lets change edit it (an error refuses
// the update and is returned with the stored topic), and writes it back if
// nobody changed it meanwhile, trying again a few times if somebody did.
func (c *Client) updateTopic(ctx context.Context, name, what string, change func(*TopicInfo) error) (TopicInfo, error) {
	for range 5 {
		t, rev, err := c.getTopic(ctx, name)
		if err != nil {
			return TopicInfo{}, err
		}
		stored := t
		if err := change(&t); err != nil {
			return stored, err
		}
		key := c.k.topic(name)
		rctx, cancel := c.reqCtx(ctx)
		resp, err := c.etcd.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, encodeTopic(t))).Commit()
		cancel()
		if err != nil {
			return TopicInfo{}, fmt.Errorf("cluster: %s %s: %w", what, name, classify(err))
		}
		if resp.Succeeded {
			return t, nil
		}
	}
	return TopicInfo{}, fmt.Errorf("%w: %s %s: contended", ErrUnavailable, what, name)
}

// Topics lists every topic by name.
func (c *Client) Topics(ctx context.Context) (map[string]TopicInfo, error) {
	out := map[string]TopicInfo{}
	_, err := c.scan(ctx, c.k.topics(), 0, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			t, err := c.decodeTopic(kv)
			if err != nil {
				c.log.Warn("skipping an unreadable topic", "err", err)
				continue
			}
			out[t.Name] = t
		}
		return nil
	})
	return out, err
}

// WatchTopics calls fn with every topic (by name) now and after each
// change. fn owns the map it is given. It runs on the watch's goroutine.
func (c *Client) WatchTopics(ctx context.Context, fn func(map[string]TopicInfo)) *Watcher {
	cur := map[string]TopicInfo{}
	put := func(kv *mvccpb.KeyValue) {
		t, err := c.decodeTopic(kv)
		if err != nil {
			c.log.Warn("skipping an unreadable topic", "err", err)
			return
		}
		cur[t.Name] = t
	}
	return c.watchPrefix(ctx, c.k.topics(), func(kvs []*mvccpb.KeyValue) {
		clear(cur)
		for _, kv := range kvs {
			put(kv)
		}
		fn(stdmaps.Clone(cur))
	}, func(evs []*clientv3.Event) {
		for _, ev := range evs {
			if ev.Type == clientv3.EventTypeDelete {
				delete(cur, strings.TrimPrefix(string(ev.Kv.Key), c.k.topics()))
			} else {
				put(ev.Kv)
			}
		}
		fn(stdmaps.Clone(cur))
	})
}
