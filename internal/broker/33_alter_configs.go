package broker

// AlterConfigs: v0-2
//
// Behaviour:
// * Replaces the whole set of dynamic configs of a TOPIC or BROKER
//   resource (the legacy, non-incremental semantics): configs not named are
//   reset to their defaults.
// * Unknown names or invalid values are INVALID_CONFIG; read-only broker
//   configs cannot be set. ValidateOnly changes nothing.
// * Changes apply to live partitions at once and persist.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, r *request, req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := func() error {
			ct, err := b.configTarget(r, int8(rr.ResourceType), rr.ResourceName, auth.OpAlterConfigs)
			if err != nil {
				return err
			}
			cfg := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value == nil {
					return wireErrf(kerr.InvalidConfig, "Null value not supported for : %s", c.Name)
				}
				cfg[c.Name] = *c.Value
			}
			if err := ct.validate(cfg); err != nil {
				return err
			}
			if req.ValidateOnly {
				return nil
			}
			return b.applyConfigs(ct, cfg)
		}()
		if err != nil {
			we := toWire(err)
			sr.ErrorCode, sr.ErrorMessage = we.code.Code, &we.msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
