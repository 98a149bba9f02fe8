package meta

import (
	"slices"
	"strconv"
)

// ValidateTopicConfigs checks topic config overrides as Kafka does for
// CreateTopics and (Incremental)AlterConfigs: every name must be a topic
// config (else *ConfigError wrapping ErrUnknownConfig, "Unknown topic config
// name: x"), then every value must be valid (else *ConfigError wrapping
// ErrInvalidConfig with Kafka's message). The first failure in name order is
// returned. Cross-config rules: min.compaction.lag.ms must not exceed
// max.compaction.lag.ms, and remote.storage.enable=true is refused because
// this broker has no tiered storage.
func ValidateTopicConfigs(cfg map[string]string) error {
	names := sortedKeys(cfg)
	for _, n := range names {
		if _, ok := topicDefs[n]; !ok {
			return &ConfigError{Name: n, Value: cfg[n], Err: ErrUnknownConfig, Msg: "Unknown topic config name: " + n}
		}
	}
	for _, n := range names {
		if err := topicDefs[n].Validate(cfg[n]); err != nil {
			return err
		}
	}
	if minRaw, ok := cfg["min.compaction.lag.ms"]; ok {
		maxRaw, ok := cfg["max.compaction.lag.ms"]
		if ok {
			lo, _ := parseValue(TypeLong, minRaw)
			hi, _ := parseValue(TypeLong, maxRaw)
			if lo.i > hi.i {
				return &ConfigError{Name: "min.compaction.lag.ms", Value: minRaw, Err: ErrInvalidConfig,
					Msg: "conflict topic config setting min.compaction.lag.ms (" + strconv.FormatInt(lo.i, 10) +
						") > max.compaction.lag.ms (" + strconv.FormatInt(hi.i, 10) + ")"}
			}
		}
	}
	if raw, ok := cfg["remote.storage.enable"]; ok {
		if v, _ := parseValue(TypeBoolean, raw); v.i == 1 {
			return &ConfigError{Name: "remote.storage.enable", Value: raw, Err: ErrInvalidConfig,
				Msg: "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."}
		}
	}
	return nil
}

// ValidateBrokerConfigs checks broker configs. Unknown names are rejected
// (ErrUnknownConfig); with dynamic set, read-only configs are rejected
// (ErrReadOnlyConfig, Kafka's "Cannot update these configs dynamically");
// then every value must be valid (ErrInvalidConfig). The first failure in
// name order is returned, as a *ConfigError.
func ValidateBrokerConfigs(cfg map[string]string, dynamic bool) error {
	names := sortedKeys(cfg)
	for _, n := range names {
		def, ok := brokerDefs[n]
		if !ok {
			return &ConfigError{Name: n, Value: cfg[n], Err: ErrUnknownConfig, Msg: "Unknown broker config name: " + n}
		}
		if dynamic && def.ReadOnly {
			return &ConfigError{Name: n, Value: cfg[n], Err: ErrReadOnlyConfig, Msg: "Cannot update these configs dynamically: [" + n + "]"}
		}
	}
	for _, n := range names {
		if err := brokerDefs[n].Validate(cfg[n]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
