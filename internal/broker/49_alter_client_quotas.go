package broker

// AlterClientQuotas: v0-1 (Kafka 4.x serves 0-1)
//
// Behaviour:
// * ALTER_CONFIGS on the cluster is required: without it every entry gets
//   CLUSTER_AUTHORIZATION_FAILED.
// * Entities are user, client-id or both, each a name or the default (a
//   null name). Each entry is validated on its own as Kafka's
//   ClientQuotaControlManager does, with INVALID_REQUEST for an empty
//   entity, a repeated or unknown entity type, an empty name, a repeated
//   key, an unknown key (producer_byte_rate, consumer_byte_rate,
//   request_percentage, controller_mutation_rate), a value that is not
//   greater than 0, or a byte rate that is not a whole number. Removing a
//   key that is not set does nothing.
// * ip entities (Kafka's connection_creation_rate) are not supported:
//   INVALID_REQUEST.
// * validate_only validates and changes nothing. Otherwise the valid
//   entries are applied together, persisted (quotas.json) before the
//   response, and enforced from the next request on (quotas.go).
// * Cluster mode: the quotas are in etcd (clustershared.go), changed by a
//   compare-and-swap before the response and enforced by every broker on
//   its own traffic; etcd not answering is REQUEST_TIMED_OUT (retriable)
//   for every valid entry.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/quota"
)

func init() { register(49, 0, 1, handleAlterClientQuotas) }

func handleAlterClientQuotas(b *Broker, r *request, req *kmsg.AlterClientQuotasRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	allowed := r.allowed(auth.OpAlterConfigs, auth.Cluster())
	changes := map[quota.Entity][]quota.Op{}
	var valid []int // indexes into resp.Entries of entries to apply
	for _, re := range req.Entries {
		se := kmsg.NewAlterClientQuotasResponseEntry()
		for _, e := range re.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = e.Type, e.Name
			se.Entity = append(se.Entity, ent)
		}
		var err error
		var entity quota.Entity
		var ops []quota.Op
		if !allowed {
			err = kerr.ClusterAuthorizationFailed
		} else {
			entity, ops, err = validateQuotaEntry(re)
		}
		if err != nil {
			se.ErrorCode, se.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			if ke, ok := err.(*kerr.Error); ok {
				se.ErrorCode, se.ErrorMessage = ke.Code, kmsg.StringPtr(ke.Message)
			}
		} else {
			changes[entity] = append(changes[entity], ops...)
			valid = append(valid, len(resp.Entries))
		}
		resp.Entries = append(resp.Entries, se)
	}
	if req.ValidateOnly || len(changes) == 0 {
		return resp
	}
	if err := b.quotas.Store().Alter(changes); err != nil {
		b.logger.Error("persisting client quotas failed", "err", err)
		for _, i := range valid {
			resp.Entries[i].ErrorCode = storeErrorCode(err).Code // clustershared.go
			resp.Entries[i].ErrorMessage = kmsg.StringPtr("persisting quotas failed: " + err.Error())
		}
		return resp
	}
	b.logger.Info("client quotas altered", "entities", len(changes), "principal", r.c.subj.Principal.String())
	return resp
}

// invalidQuota is an INVALID_REQUEST with Kafka's message.
func invalidQuota(format string, args ...any) error { return fmt.Errorf(format, args...) }

func validateQuotaEntry(re kmsg.AlterClientQuotasRequestEntry) (quota.Entity, []quota.Op, error) {
	var e quota.Entity
	if len(re.Entity) == 0 {
		return e, nil, invalidQuota("Invalid empty client quota entity")
	}
	for _, c := range re.Entity {
		var dst *quota.Component
		switch c.Type {
		case quota.TypeUser:
			dst = &e.User
		case quota.TypeClientID:
			dst = &e.ClientID
		case quotaTypeIP:
			return e, nil, invalidQuota("ip quota entities are not supported by this broker")
		default:
			return e, nil, invalidQuota("Unhandled client quota entity type: %s", c.Type)
		}
		if dst.Kind != quota.Absent {
			return e, nil, invalidQuota("Invalid empty client quota entity, duplicate entity entry %s", c.Type)
		}
		switch {
		case c.Name == nil:
			*dst = quota.Component{Kind: quota.Default}
		case *c.Name == "":
			return e, nil, invalidQuota("Empty %s not supported", c.Type)
		default:
			*dst = quota.Component{Kind: quota.Named, Name: *c.Name}
		}
	}
	seen := map[string]bool{}
	var ops []quota.Op
	for _, op := range re.Ops {
		if seen[op.Key] {
			return e, nil, invalidQuota("Duplicate quota key %s not updating quota for this entity %s", op.Key, e)
		}
		seen[op.Key] = true
		if op.Remove {
			ops = append(ops, quota.Op{Key: op.Key, Remove: true})
			continue
		}
		if !quota.ValidKey(op.Key) {
			return e, nil, invalidQuota("Invalid configuration key %s", op.Key)
		}
		if err := quota.ValidateValue(op.Key, op.Value); err != nil {
			return e, nil, invalidQuota("%s", err.Error())
		}
		ops = append(ops, quota.Op{Key: op.Key, Value: op.Value})
	}
	return e, ops, nil
}
