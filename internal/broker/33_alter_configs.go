package broker

// AlterConfigs: v0-2
//
// Behaviour:
// * Replaces the whole set of dynamic configs of a TOPIC, BROKER or GROUP
//   resource (the legacy, non-incremental semantics): configs not named are
//   reset to their defaults.
// * Unknown names or invalid values are INVALID_CONFIG; read-only broker
//   configs cannot be set. ValidateOnly changes nothing.
// * Changes apply to live partitions at once and persist.
// * Cluster mode: topic configs are stored in etcd and every broker
//   applies them through its topics watch; BROKER and GROUP resources are
//   INVALID_REQUEST (each broker's are set at its start).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, r *request, req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.alterConfigs(r, int8(rr.ResourceType), rr.ResourceName, req.ValidateOnly, func(*configTarget) (map[string]string, error) {
			cfg := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value == nil {
					return nil, wireErrf(kerr.InvalidConfig, "Null value not supported for : %s", c.Name)
				}
				cfg[c.Name] = *c.Value
			}
			return cfg, nil
		})
		if err != nil {
			we := toWire(err)
			sr.ErrorCode, sr.ErrorMessage = we.code.Code, &we.msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
