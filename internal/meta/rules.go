package meta

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Value rules with Kafka's ConfigDef validator messages.

// atLeast is ConfigDef.Range.atLeast for integer types.
func atLeast(min int64) rule {
	return func(name, raw string, v parsed) *ConfigError {
		if v.i < min {
			return invalidValue(name, raw, "Value must be at least "+strconv.FormatInt(min, 10))
		}
		return nil
	}
}

// between is ConfigDef.Range.between for integer types.
func between(min, max int64) rule {
	return func(name, raw string, v parsed) *ConfigError {
		if v.i < min {
			return invalidValue(name, raw, "Value must be at least "+strconv.FormatInt(min, 10))
		}
		if v.i > max {
			return invalidValue(name, raw, "Value must be no more than "+strconv.FormatInt(max, 10))
		}
		return nil
	}
}

// ratio is ConfigDef.Range.between(0, 1) for a DOUBLE.
func ratio(name, raw string, v parsed) *ConfigError {
	if v.f < 0 {
		return invalidValue(name, raw, "Value must be at least 0")
	}
	if v.f > 1 {
		return invalidValue(name, raw, "Value must be no more than 1")
	}
	return nil
}

// oneOf is ConfigDef.ValidString.in (case-sensitive).
func oneOf(allowed ...string) rule {
	return func(name, raw string, v parsed) *ConfigError {
		if slices.Contains(allowed, v.s) {
			return nil
		}
		return invalidValue(name, v.s, "String must be one of: "+strings.Join(allowed, ", "))
	}
}

// listOf is ConfigDef.ValidList.in: every element must be allowed; Kafka
// reports the first offending element as the value.
func listOf(allowed ...string) rule {
	return func(name, raw string, v parsed) *ConfigError {
		for _, e := range v.list {
			if !slices.Contains(allowed, e) {
				return invalidValue(name, e, "String must be one of: "+strings.Join(allowed, ", "))
			}
		}
		return nil
	}
}

// gzipLevel is Kafka's GzipCompression level validator: 1..9 or -1.
func gzipLevel(name, raw string, v parsed) *ConfigError {
	if v.i > 9 || (v.i < 1 && v.i != -1) {
		return invalidValue(name, raw, "Value must be between 1 and 9 or equal to -1")
	}
	return nil
}

var replicaRe = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" or a list
// of partitionId:brokerId pairs.
func throttledReplicas(name, raw string, v parsed) *ConfigError {
	if strings.Join(v.list, "") == "*" {
		return nil
	}
	for _, e := range v.list {
		if !replicaRe.MatchString(e) {
			return invalidValue(name, "["+strings.Join(v.list, ", ")+"]", name+
				" must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

// compressionTypes are Kafka's BrokerCompressionType names, in Kafka's order.
var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
