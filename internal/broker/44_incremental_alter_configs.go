package broker

// IncrementalAlterConfigs: v0-1
//
// Behaviour:
// * SET, DELETE (back to the inherited value), APPEND and SUBTRACT (list
//   configs only, else INVALID_CONFIG) on TOPIC, BROKER and GROUP resources
//   (KIP-848 group configs: consumer.session.timeout.ms, ...; validated
//   against the broker's group.consumer.min/max.* configs).
// * Per-broker configs (Kafka's update mode) cannot be changed at the
//   cluster-default level (resource name ""): INVALID_CONFIG.
// * The resulting set is validated as a whole (INVALID_CONFIG); a config
//   named twice in one resource is INVALID_REQUEST. ValidateOnly changes
//   nothing.
// * Cluster mode: TOPIC resources only, as AlterConfigs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, r *request, req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.alterConfigs(r, int8(rr.ResourceType), rr.ResourceName, req.ValidateOnly, func(ct *configTarget) (map[string]string, error) {
			return b.incrementalConfigs(ct, rr.Configs)
		})
		if err != nil {
			we := toWire(err)
			sr.ErrorCode, sr.ErrorMessage = we.code.Code, &we.msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// incrementalConfigs applies the operations to the resource's current
// dynamic configs.
func (b *Broker) incrementalConfigs(ct *configTarget, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	cfg := copyMap(ct.overrides)
	seen := map[string]bool{}
	for _, c := range ops {
		if seen[c.Name] {
			return nil, wireErrf(kerr.InvalidRequest, "Error due to duplicate config keys: %s", c.Name)
		}
		seen[c.Name] = true
		def, known := ct.configDef(c.Name)
		if !known {
			return nil, wireErrf(kerr.InvalidConfig, "Unknown config name: %s", c.Name)
		}
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, wireErrf(kerr.InvalidConfig, "Null value not supported for : %s", c.Name)
			}
			cfg[c.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cfg, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != meta.TypeList {
				return nil, wireErrf(kerr.InvalidConfig, "Config value append is not allowed for config key: %s", c.Name)
			}
			cur, ok := cfg[c.Name]
			if !ok {
				cur = currentValue(b, ct, c.Name)
			}
			cfg[c.Name] = listOp(cur, val, c.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return nil, wireErrf(kerr.InvalidRequest, "Unknown alter config operation %d", c.Op)
		}
	}
	return cfg, nil
}

// currentValue is the effective value a list operation starts from.
func currentValue(b *Broker, ct *configTarget, name string) string {
	switch ct.kind {
	case resourceTopic:
		return meta.TopicValue(name, ct.overrides, b.brokerConfigs())
	case resourceGroup:
		return meta.GroupValue(name, ct.overrides, b.brokerConfigs())
	}
	v, _ := meta.BrokerValue(name, b.brokerConfigs()) // a name from the request
	return v
}
