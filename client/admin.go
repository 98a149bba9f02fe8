package client

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Admin manages topics, configs and consumer groups.
type Admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32             // -1: the broker's num.partitions
	Replicas   int16             // -1: the broker's default.replication.factor
	Configs    map[string]string // Kafka topic configs, e.g. retention.ms
}

// CreateTopic creates a topic.
func (a *Admin) CreateTopic(ctx context.Context, spec TopicSpec) error {
	cfg := map[string]*string{}
	for k, v := range spec.Configs {
		cfg[k] = &v
	}
	if spec.Partitions == 0 {
		spec.Partitions = -1
	}
	if spec.Replicas == 0 {
		spec.Replicas = -1
	}
	resp, err := a.adm.CreateTopic(ctx, spec.Partitions, spec.Replicas, cfg, spec.Name)
	// kgo caches metadata for a few seconds; forget what it knew.
	a.cl.PurgeTopicsFromClient(spec.Name)
	if err != nil {
		return err
	}
	return resp.Err
}

// DeleteTopic deletes a topic.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	resp, err := a.adm.DeleteTopics(ctx, name)
	a.cl.PurgeTopicsFromClient(name)
	if err != nil {
		return err
	}
	return resp[name].Err
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         string
	Partitions int32
	Internal   bool
}

// ListTopics lists the cluster's topics (internal ones too), by name.
func (a *Admin) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	tds, err := a.adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, err
	}
	var out []TopicInfo
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", td.Topic, td.Err)
		}
		out = append(out, TopicInfo{Name: td.Topic, ID: td.ID.String(), Partitions: int32(len(td.Partitions)), Internal: td.IsInternal})
	}
	return out, nil
}

// ErrUnknownTopic is returned for a topic the cluster does not have.
var ErrUnknownTopic = errors.New("client: unknown topic")

// DescribeTopic describes one topic.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (TopicInfo, error) {
	tds, err := a.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return TopicInfo{}, err
	}
	td, ok := tds[name]
	if !ok {
		return TopicInfo{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if td.Err != nil {
		return TopicInfo{}, fmt.Errorf("topic %s: %w", name, td.Err)
	}
	return TopicInfo{Name: name, ID: td.ID.String(), Partitions: int32(len(td.Partitions)), Internal: td.IsInternal}, nil
}

// TopicConfigs returns the topic's configs that differ from the defaults.
func (a *Admin) TopicConfigs(ctx context.Context, name string) (map[string]string, error) {
	rcs, err := a.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return nil, err
	}
	if rc.Err != nil {
		return nil, rc.Err
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == 1 { // DYNAMIC_TOPIC_CONFIG
			out[c.Key] = c.MaybeValue()
		}
	}
	return out, nil
}

// SetTopicConfigs sets (or, with an empty value, removes) topic configs.
func (a *Admin) SetTopicConfigs(ctx context.Context, name string, set map[string]string) error {
	var alters []kadm.AlterConfig
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := set[k]
		if v == "" {
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		} else {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
		}
	}
	resps, err := a.adm.AlterTopicConfigs(ctx, alters, name)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
	}
	return nil
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // -1 when nothing is committed
	End       int64
	Lag       int64
}

// GroupLag returns a group's committed offsets and lag per partition.
func (a *Admin) GroupLag(ctx context.Context, group string) ([]PartitionLag, error) {
	lags, err := a.adm.Lag(ctx, group)
	if err != nil {
		return nil, err
	}
	gl, ok := lags[group]
	if !ok {
		return nil, fmt.Errorf("client: group %s not described", group)
	}
	if err := gl.Error(); err != nil {
		return nil, err
	}
	var out []PartitionLag
	for _, l := range gl.Lag.Sorted() {
		out = append(out, PartitionLag{Topic: l.Topic, Partition: l.Partition, Committed: l.Commit.At, End: l.End.Offset, Lag: l.Lag})
	}
	return out, nil
}

// ListGroups lists the cluster's consumer groups, by name.
func (a *Admin) ListGroups(ctx context.Context) ([]string, error) {
	ls, err := a.adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	return ls.Groups(), nil
}
