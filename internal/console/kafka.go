package console

// Reading broker state through Kafka requests (Backend.Request): topics
// and partitions, offsets, sizes, configs, groups and lag.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicInfo is a topic as Metadata describes it.
type topicInfo struct {
	Name       string
	ID         [16]byte
	Internal   bool
	Partitions []int32
	Size       int64 // -1 when unknown (no Describe on the cluster)
}

// metadata lists the topics (all when names is nil) the user may
// Describe. A named topic that does not exist is errNotFound.
func (c *Console) metadata(ctx context.Context, names []string) ([]topicInfo, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false // looking at a page never creates a topic
	if names != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, n := range names {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, t)
		}
	}
	resp, err := call[*kmsg.MetadataResponse](ctx, c.be, req)
	if err != nil {
		return nil, err
	}
	var out []topicInfo
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := codeErr(t.ErrorCode, nil); err != nil {
			if t.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				return nil, fmt.Errorf("%w: topic %q does not exist (it may have been deleted)", errNotFound, name)
			}
			return nil, fmt.Errorf("topic %q: %w", name, err)
		}
		ti := topicInfo{Name: name, ID: t.TopicID, Internal: t.IsInternal, Size: -1}
		for _, p := range t.Partitions {
			ti.Partitions = append(ti.Partitions, p.Partition)
		}
		sort.Slice(ti.Partitions, func(i, j int) bool { return ti.Partitions[i] < ti.Partitions[j] })
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// topicMeta is one topic's metadata.
func (c *Console) topicMeta(ctx context.Context, name string) (topicInfo, error) {
	ts, err := c.metadata(ctx, []string{name})
	if err != nil {
		return topicInfo{}, err
	}
	if len(ts) != 1 {
		return topicInfo{}, fmt.Errorf("%w: topic %q does not exist", errNotFound, name)
	}
	return ts[0], nil
}

// logDir is one log directory (DescribeLogDirs).
type logDir struct {
	Path          string
	Total, Usable int64
	Used          int64 // sum of the partition logs in it
	Partitions    int
}

// logDirs describes the log directories and the size of every partition
// (topic -> partition -> bytes); ok is false without Describe on the
// cluster.
func (c *Console) logDirs(ctx context.Context, topics []topicInfo) (dirs []logDir, sizes map[string]map[int32]int64, ok bool, err error) {
	req := kmsg.NewPtrDescribeLogDirsRequest()
	if topics != nil {
		req.Topics = []kmsg.DescribeLogDirsRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewDescribeLogDirsRequestTopic()
			rt.Topic, rt.Partitions = t.Name, t.Partitions
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := call[*kmsg.DescribeLogDirsResponse](ctx, c.be, req)
	if err != nil {
		return nil, nil, false, err
	}
	if resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
		return nil, nil, false, nil
	}
	if err := codeErr(resp.ErrorCode, nil); err != nil {
		return nil, nil, false, err
	}
	sizes = map[string]map[int32]int64{}
	for _, d := range resp.Dirs {
		ld := logDir{Path: d.Dir, Total: d.TotalBytes, Usable: d.UsableBytes}
		for _, t := range d.Topics {
			if sizes[t.Topic] == nil {
				sizes[t.Topic] = map[int32]int64{}
			}
			for _, p := range t.Partitions {
				sizes[t.Topic][p.Partition] += p.Size
				ld.Used += p.Size
				ld.Partitions++
			}
		}
		dirs = append(dirs, ld)
	}
	return dirs, sizes, true, nil
}

// offsets are a partition's log start and end (high watermark).
type offsets struct{ Start, End int64 }

// listOffsets gives the start and end offsets of partitions of topics.
func (c *Console) listOffsets(ctx context.Context, parts map[string][]int32) (map[string]map[int32]offsets, error) {
	out := map[string]map[int32]offsets{}
	for _, ts := range []int64{-2, -1} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for t, ps := range parts {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = t
			for _, p := range ps {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := call[*kmsg.ListOffsetsResponse](ctx, c.be, req)
		if err != nil {
			return nil, err
		}
		for _, t := range resp.Topics {
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]offsets{}
			}
			for _, p := range t.Partitions {
				if err := codeErr(p.ErrorCode, nil); err != nil {
					if p.ErrorCode == kerr.UnknownTopicOrPartition.Code {
						return nil, fmt.Errorf("%w: topic %q partition %d does not exist (it may have been deleted)", errNotFound, t.Topic, p.Partition)
					}
					return nil, fmt.Errorf("offsets of %s/%d: %w", t.Topic, p.Partition, err)
				}
				o := out[t.Topic][p.Partition]
				if ts == -2 {
					o.Start = p.Offset
				} else {
					o.End = p.Offset
				}
				out[t.Topic][p.Partition] = o
			}
		}
	}
	return out, nil
}

// configEntry is one config of a topic.
type configEntry struct {
	Name      string
	Value     string
	Null      bool
	Source    string
	Default   bool
	ReadOnly  bool
	Sensitive bool
	Doc       string
}

// topicConfigs describes a topic's configs.
func (c *Console) topicConfigs(ctx context.Context, name string) ([]configEntry, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	req.Resources = append(req.Resources, rr)
	req.IncludeDocumentation = true
	resp, err := call[*kmsg.DescribeConfigsResponse](ctx, c.be, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("DescribeConfigs: %d resources in the response", len(resp.Resources))
	}
	res := resp.Resources[0]
	if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
		return nil, fmt.Errorf("configs of topic %q: %w", name, err)
	}
	var out []configEntry
	for _, e := range res.Configs {
		ce := configEntry{Name: e.Name, Null: e.Value == nil, Source: sourceName(e.Source), ReadOnly: e.ReadOnly, Sensitive: e.IsSensitive,
			Default: e.Source == kmsg.ConfigSourceDefaultConfig || e.Source == kmsg.ConfigSourceStaticBrokerConfig || e.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig}
		if e.Value != nil {
			ce.Value = *e.Value
		}
		if e.Documentation != nil {
			ce.Doc = *e.Documentation
		}
		out = append(out, ce)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "broker (dynamic)"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "cluster default (dynamic)"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "broker (static)"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return s.String()
}

// groupListing is one group of ListGroups.
type groupListing struct {
	Name, State, Type, Protocol string
}

func (c *Console) listGroups(ctx context.Context) ([]groupListing, error) {
	resp, err := call[*kmsg.ListGroupsResponse](ctx, c.be, kmsg.NewPtrListGroupsRequest())
	if err != nil {
		return nil, err
	}
	if err := codeErr(resp.ErrorCode, nil); err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	var out []groupListing
	for _, g := range resp.Groups {
		out = append(out, groupListing{Name: g.Group, State: g.GroupState, Type: g.GroupType, Protocol: g.ProtocolType})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// groupMember is a member of a described group.
type groupMember struct {
	ID, InstanceID, ClientID, Host string
	Assigned                       []string // "topic: 0, 1"
	// KIP-848 members only:
	Epoch      string   // the member epoch
	Subscribed string   // topics (or the regex) subscribed to
	Target     []string // the target assignment, when it differs
}

// groupDesc is a described group.
type groupDesc struct {
	Name, State, ProtocolType, Protocol string
	Members                             []groupMember
	Epochs                              string // KIP-848: group and assignment epochs
}

func (c *Console) describeGroup(ctx context.Context, name string) (groupDesc, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{name}
	resp, err := call[*kmsg.DescribeGroupsResponse](ctx, c.be, req)
	if err != nil {
		return groupDesc{}, err
	}
	if len(resp.Groups) != 1 {
		return groupDesc{}, fmt.Errorf("DescribeGroups: %d groups in the response", len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := codeErr(g.ErrorCode, g.ErrorMessage); err != nil {
		if g.ErrorCode == kerr.GroupIDNotFound.Code {
			// Not a classic group: a KIP-848 consumer group, or none.
			return c.describeConsumerGroup(ctx, name)
		}
		return groupDesc{}, fmt.Errorf("group %q: %w", name, err)
	}
	d := groupDesc{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol}
	for _, m := range g.Members {
		gm := groupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if g.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.MemberAssignment) == nil {
				for _, t := range a.Topics {
					gm.Assigned = append(gm.Assigned, fmt.Sprintf("%s: %v", t.Topic, t.Partitions))
				}
			}
		}
		d.Members = append(d.Members, gm)
	}
	return d, nil
}

// describeConsumerGroup describes a KIP-848 consumer group
// (ConsumerGroupDescribe).
func (c *Console) describeConsumerGroup(ctx context.Context, name string) (groupDesc, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{name}
	resp, err := call[*kmsg.ConsumerGroupDescribeResponse](ctx, c.be, req)
	if err != nil {
		return groupDesc{}, err
	}
	if len(resp.Groups) != 1 {
		return groupDesc{}, fmt.Errorf("ConsumerGroupDescribe: %d groups in the response", len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := codeErr(g.ErrorCode, g.ErrorMessage); err != nil {
		if g.ErrorCode == kerr.GroupIDNotFound.Code {
			return groupDesc{}, fmt.Errorf("%w: group %q does not exist", errNotFound, name)
		}
		return groupDesc{}, fmt.Errorf("group %q: %w", name, err)
	}
	d := groupDesc{Name: g.Group, State: kip848State(g.State), ProtocolType: "consumer (KIP-848)", Protocol: g.AssignorName,
		Epochs: fmt.Sprintf("group epoch %d, assignment epoch %d", g.Epoch, g.AssignmentEpoch)}
	for _, m := range g.Members {
		gm := groupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Epoch: fmt.Sprint(m.MemberEpoch),
			Subscribed: strings.Join(m.SubscribedTopics, ", ")}
		if m.SubscribedTopicRegex != nil && *m.SubscribedTopicRegex != "" {
			gm.Subscribed = "regex " + *m.SubscribedTopicRegex
		}
		var target []string
		for _, t := range m.TargetAssignment.TopicPartitions {
			target = append(target, fmt.Sprintf("%s: %v", t.Topic, t.Partitions))
		}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		for _, t := range m.Assignment.TopicPartitions {
			gm.Assigned = append(gm.Assigned, fmt.Sprintf("%s: %v", t.Topic, t.Partitions))
		}
		if strings.Join(target, ";") != strings.Join(gm.Assigned, ";") {
			gm.Target = target
		}
		d.Members = append(d.Members, gm)
	}
	return d, nil
}

// kip848State is a KIP-848 group state as ListGroups and the classic
// groups spell them ("empty" -> "Empty").
func kip848State(s string) string {
	switch strings.ToLower(s) {
	case "empty":
		return "Empty"
	case "assigning":
		return "Assigning"
	case "reconciling":
		return "Reconciling"
	case "stable":
		return "Stable"
	case "dead":
		return "Dead"
	case "not_ready", "notready":
		return "NotReady"
	}
	return s
}

// committed is a group's committed offsets (topic -> partition -> offset).
func (c *Console) committed(ctx context.Context, group string) (map[string]map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	resp, err := call[*kmsg.OffsetFetchResponse](ctx, c.be, req)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	add := func(topic string, p int32, off int64, code int16) {
		if code != 0 || off < 0 {
			return
		}
		if out[topic] == nil {
			out[topic] = map[int32]int64{}
		}
		out[topic][p] = off
	}
	if len(resp.Groups) > 0 {
		for _, g := range resp.Groups {
			if err := codeErr(g.ErrorCode, nil); err != nil {
				return nil, fmt.Errorf("offsets of group %q: %w", group, err)
			}
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					add(t.Topic, p.Partition, p.Offset, p.ErrorCode)
				}
			}
		}
		return out, nil
	}
	if err := codeErr(resp.ErrorCode, nil); err != nil {
		return nil, fmt.Errorf("offsets of group %q: %w", group, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			add(t.Topic, p.Partition, p.Offset, p.ErrorCode)
		}
	}
	return out, nil
}

// offsetsForTime is, per partition of topic, the offset of the first
// record with a timestamp at or after ms (ListOffsets by timestamp), or -1
// when there is none.
func (c *Console) offsetsForTime(ctx context.Context, topic string, parts []int32, ms int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ms, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := call[*kmsg.ListOffsetsResponse](ctx, c.be, req)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := codeErr(p.ErrorCode, nil); err != nil {
				if p.ErrorCode == kerr.UnknownTopicOrPartition.Code {
					return nil, fmt.Errorf("%w: topic %q partition %d does not exist (it may have been deleted)", errNotFound, t.Topic, p.Partition)
				}
				return nil, fmt.Errorf("offset of %s/%d at time %d: %w", t.Topic, p.Partition, ms, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}
