package broker

// DescribeConfigs: v1-4
//
// Behaviour:
// * TOPIC and BROKER resources (the broker by its node id, or "" for the
//   cluster-wide dynamic defaults) and GROUP resources (KIP-848 group
//   configs: GROUP_CONFIG where the group set one, else DEFAULT_CONFIG with
//   the broker-derived value); BROKER_LOGGER is INVALID_REQUEST.
// * Every config with its effective value and source (topic override,
//   dynamic broker, static broker from the server config, Kafka default),
//   synonyms when asked (v1+), type and documentation when asked (v3+).
// * Sensitive values are returned as null.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(32, 1, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, r *request, req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		ct, err := b.configTarget(r, int8(rr.ResourceType), rr.ResourceName, auth.OpDescribeConfigs)
		if err != nil {
			we := toWire(err)
			sr.ErrorCode, sr.ErrorMessage = we.code.Code, &we.msg
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		var entries []meta.ConfigEntry
		switch {
		case ct.kind == resourceTopic:
			entries = meta.ResolveTopic(ct.overrides, b.brokerConfigs())
		case ct.kind == resourceGroup:
			entries = meta.ResolveGroup(ct.overrides, b.brokerConfigs())
		case ct.name == "":
			// The cluster-wide defaults: only dynamic ones exist there.
			entries = meta.ResolveBrokerDefaults(b.brokerConfigs())
		default:
			entries = meta.ResolveBroker(b.brokerConfigs())
		}
		want := map[string]bool{}
		for _, n := range rr.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !want[e.Name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.ReadOnly, kmsg.ConfigSource(e.Source), e.Sensitive
			c.IsDefault = e.Source == meta.SourceDefault
			if !e.IsNull && !e.Sensitive {
				v := e.Value
				c.Value = &v
			}
			if req.IncludeSynonyms {
				for _, s := range e.Synonyms {
					sc := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					sc.Name, sc.Source = s.Name, kmsg.ConfigSource(s.Source)
					if !e.Sensitive {
						v := s.Value
						sc.Value = &v
					}
					c.ConfigSynonyms = append(c.ConfigSynonyms, sc)
				}
			}
			if r.version >= 3 {
				c.ConfigType = kmsg.ConfigType(e.Type)
				if req.IncludeDocumentation {
					d := e.Doc
					c.Documentation = &d
				}
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
