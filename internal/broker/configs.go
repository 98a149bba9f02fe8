package broker

// Shared logic of DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs: resource lookup, authorization, and applying a
// new set of dynamic configs to a topic, the broker or a group (KIP-848
// group configs, internal/meta/groupconfigs.go).

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

// Kafka's ConfigResource types.
const (
	resourceTopic        = 2
	resourceBroker       = 4
	resourceBrokerLogger = 8
	resourceGroup        = 32
)

// configTarget is a resolved, authorized config resource.
type configTarget struct {
	kind      int8
	name      string
	t         *topic            // topic resources
	overrides map[string]string // current dynamic configs
}

func (b *Broker) configTarget(r *request, kind int8, name string, op auth.Operation) (*configTarget, error) {
	if b.cl != nil && op == auth.OpAlterConfigs && (kind == resourceBroker || kind == resourceGroup) {
		// Cluster mode shares topic configs through etcd; broker configs
		// are each broker's own (--set at start), and a change here would
		// reach one broker only.
		return nil, wireErrf(kerr.InvalidRequest, "cluster mode alters topic configs only: broker and group configs are set on each broker at start (--set)")
	}
	switch kind {
	case resourceTopic:
		if !r.allowed(op, auth.Topic(name)) {
			return nil, wireErrf(kerr.TopicAuthorizationFailed, "Authorization failed.")
		}
		if b.cl != nil {
			t, ok := b.cl.topic(name)
			if !ok {
				return nil, wireErrf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
			}
			return &configTarget{kind: kind, name: name, overrides: t.Configs}, nil
		}
		t := b.topic(name)
		if t == nil {
			return nil, wireErrf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
		}
		return &configTarget{kind: kind, name: name, t: t, overrides: t.meta.Configs}, nil
	case resourceBroker:
		if !r.allowed(op, auth.Cluster()) {
			return nil, wireErrf(kerr.ClusterAuthorizationFailed, "Authorization failed.")
		}
		if name != "" && name != strconv.Itoa(int(b.cfg.NodeID)) {
			return nil, wireErrf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.cfg.NodeID, name)
		}
		return &configTarget{kind: kind, name: name, overrides: b.store.BrokerDynamic()}, nil
	case resourceGroup:
		if !r.allowed(op, auth.Group(name)) {
			return nil, wireErrf(kerr.GroupAuthorizationFailed, "Authorization failed.")
		}
		if name == "" {
			return nil, wireErrf(kerr.InvalidRequest, "Group name must not be empty")
		}
		// Like Kafka, configs may be set for a group that does not exist
		// (yet): they apply when it is created.
		return &configTarget{kind: kind, name: name, overrides: b.store.GroupConfigs(name)}, nil
	case resourceBrokerLogger:
		return nil, wireErrf(kerr.InvalidRequest, "BROKER_LOGGER config resources are not supported by this broker")
	default:
		return nil, wireErrf(kerr.InvalidRequest, "Unsupported config resource type %d", kind)
	}
}

// validate checks a complete new set of dynamic configs for the target.
func (b *Broker) validateConfigs(ct *configTarget, cfg map[string]string) error {
	var err error
	switch ct.kind {
	case resourceTopic:
		err = meta.ValidateTopicConfigs(cfg)
	case resourceGroup:
		err = meta.ValidateGroupConfigs(cfg, b.brokerConfigs())
	default:
		err = meta.ValidateBrokerConfigs(cfg, true)
		if err == nil && ct.name == "" {
			err = perBrokerAtClusterLevel(cfg, ct.overrides)
		}
	}
	if err != nil {
		return wireErrf(kerr.InvalidConfig, "%s", err.Error())
	}
	return nil
}

// apply stores the new dynamic configs and reconfigures live logs.
func (b *Broker) applyConfigs(ct *configTarget, cfg map[string]string) error {
	var err error
	switch {
	case ct.kind == resourceTopic:
		err = b.setTopicConfigs(ct.name, cfg)
	case ct.kind == resourceGroup:
		err = b.store.SetGroupConfigs(ct.name, cfg)
	default:
		err = b.store.SetBrokerDynamic(cfg)
		if err == nil {
			b.reconfigure()
		}
	}
	if err != nil {
		b.logger.Error("storing configs failed", "resource", ct.name, "err", err)
		return wireErrf(kerr.KafkaStorageError, "storing configs: %v", err)
	}
	b.logger.Info("configs changed", "resource_type", ct.kind, "resource", ct.name, "configs", fmt.Sprint(cfg))
	return nil
}

// configDef finds the definition of a config for the target's kind.
func (ct *configTarget) configDef(name string) (meta.ConfigDef, bool) {
	switch ct.kind {
	case resourceTopic:
		return meta.TopicConfig(name)
	case resourceGroup:
		return meta.GroupConfig(name)
	}
	return meta.BrokerConfig(name)
}

// perBrokerAtClusterLevel refuses, as Kafka's DynamicBrokerConfig does, a
// change at the cluster-default level (resource name "") to a config whose
// update mode is per-broker.
func perBrokerAtClusterLevel(cfg, cur map[string]string) error {
	var bad []string
	for name, v := range cfg {
		if def, ok := meta.BrokerConfig(name); ok && def.PerBroker {
			if old, had := cur[name]; !had || old != v {
				bad = append(bad, name)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return wireErrf(kerr.InvalidConfig, "Cannot update these configs at default cluster level, broker id must be specified: [%s]", strings.Join(bad, ", "))
}

// listOp applies an APPEND or SUBTRACT to a comma-separated list value.
func listOp(cur string, val string, appendOp bool) string {
	var items []string
	if cur != "" {
		items = strings.Split(cur, ",")
	}
	for _, v := range strings.Split(val, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		idx := -1
		for i, it := range items {
			if strings.TrimSpace(it) == v {
				idx = i
				break
			}
		}
		switch {
		case appendOp && idx < 0:
			items = append(items, v)
		case !appendOp && idx >= 0:
			items = append(items[:idx], items[idx+1:]...)
		}
	}
	return strings.Join(items, ",")
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// toWire turns any handler error into a wire error.
func toWire(err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	return &wireError{code: kerr.UnknownServerError, msg: err.Error()}
}

// alterConfigs is the flow both alter APIs share: find and authorize the
// resource, compute its new complete set of dynamic configs with next,
// validate it, and store it unless validateOnly.
func (b *Broker) alterConfigs(r *request, kind int8, name string, validateOnly bool, next func(ct *configTarget) (map[string]string, error)) error {
	ct, err := b.configTarget(r, kind, name, auth.OpAlterConfigs)
	if err != nil {
		return err
	}
	if b.cl != nil && kind == resourceTopic && !validateOnly {
		// Cluster mode: the new set is computed from, and swapped with,
		// the configs etcd holds (cluster.go), not this broker's copy,
		// so that concurrent alters of other configs are kept.
		return b.cl.alterTopicConfigs(name, func(cur map[string]string) (map[string]string, error) {
			at := *ct
			at.overrides = cur
			cfg, err := next(&at)
			if err != nil {
				return nil, err
			}
			return cfg, b.validateConfigs(&at, cfg)
		})
	}
	cfg, err := next(ct)
	if err != nil {
		return err
	}
	if err := b.validateConfigs(ct, cfg); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return b.applyConfigs(ct, cfg)
}
