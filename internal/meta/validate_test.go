package meta

import (
	"errors"
	"testing"
)

func TestValidateTopicConfigs(t *testing.T) {
	cases := []struct {
		cfg  map[string]string
		kind error  // nil = valid
		name string // ConfigError.Name
		msg  string
	}{
		{cfg: nil},
		{cfg: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.1"}},
		{cfg: map[string]string{"retention.ms": "-1", "retention.bytes": "-5", "local.retention.ms": "-2"}},
		{cfg: map[string]string{"segment.bytes": "1048576", "segment.index.bytes": "4", "segment.ms": "1"}},
		{cfg: map[string]string{"compression.type": "zstd", "compression.zstd.level": "-131072", "compression.gzip.level": "-1"}},
		{cfg: map[string]string{"leader.replication.throttled.replicas": "*", "follower.replication.throttled.replicas": "0:1, 1:2"}},
		{cfg: map[string]string{"preallocate": "TRUE", "remote.storage.enable": "false", "cleanup.policy": ""}},
		{cfg: map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "10"}},

		{map[string]string{"retention.ms": "1000", "no.such.config": "1"}, ErrUnknownConfig, "no.such.config",
			"Unknown topic config name: no.such.config"},
		{map[string]string{"log.retention.ms": "1"}, ErrUnknownConfig, "log.retention.ms",
			"Unknown topic config name: log.retention.ms"},
		{map[string]string{"retention.ms": "x"}, ErrInvalidConfig, "retention.ms",
			"Invalid value x for configuration retention.ms: Not a number of type LONG"},
		{map[string]string{"retention.ms": "-2"}, ErrInvalidConfig, "retention.ms",
			"Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{map[string]string{"max.message.bytes": "3000000000"}, ErrInvalidConfig, "max.message.bytes",
			"Invalid value 3000000000 for configuration max.message.bytes: Not a number of type INT"},
		{map[string]string{"cleanup.policy": "compact,remove"}, ErrInvalidConfig, "cleanup.policy",
			"Invalid value remove for configuration cleanup.policy: String must be one of: compact, delete"},
		{map[string]string{"message.timestamp.type": "createtime"}, ErrInvalidConfig, "message.timestamp.type",
			"Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{map[string]string{"compression.type": "brotli"}, ErrInvalidConfig, "compression.type",
			"Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{map[string]string{"min.cleanable.dirty.ratio": "1.5"}, ErrInvalidConfig, "min.cleanable.dirty.ratio",
			"Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{map[string]string{"min.cleanable.dirty.ratio": "-0.1"}, ErrInvalidConfig, "min.cleanable.dirty.ratio",
			"Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{map[string]string{"segment.bytes": "14"}, ErrInvalidConfig, "segment.bytes",
			"Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"},
		{map[string]string{"segment.index.bytes": "3"}, ErrInvalidConfig, "segment.index.bytes",
			"Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{map[string]string{"segment.ms": "0"}, ErrInvalidConfig, "segment.ms",
			"Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{map[string]string{"min.insync.replicas": "0"}, ErrInvalidConfig, "min.insync.replicas",
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{map[string]string{"flush.messages": "0"}, ErrInvalidConfig, "flush.messages",
			"Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{map[string]string{"local.retention.bytes": "-3"}, ErrInvalidConfig, "local.retention.bytes",
			"Invalid value -3 for configuration local.retention.bytes: Value must be at least -2"},
		{map[string]string{"compression.gzip.level": "0"}, ErrInvalidConfig, "compression.gzip.level",
			"Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{map[string]string{"compression.lz4.level": "18"}, ErrInvalidConfig, "compression.lz4.level",
			"Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{map[string]string{"compression.zstd.level": "23"}, ErrInvalidConfig, "compression.zstd.level",
			"Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"},
		{map[string]string{"preallocate": "yes"}, ErrInvalidConfig, "preallocate",
			"Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{map[string]string{"leader.replication.throttled.replicas": "0:1,x"}, ErrInvalidConfig, "leader.replication.throttled.replicas",
			"Invalid value [0:1, x] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{map[string]string{"min.compaction.lag.ms": "11", "max.compaction.lag.ms": "10"}, ErrInvalidConfig, "min.compaction.lag.ms",
			"conflict topic config setting min.compaction.lag.ms (11) > max.compaction.lag.ms (10)"},
		{map[string]string{"remote.storage.enable": "true"}, ErrInvalidConfig, "remote.storage.enable",
			"Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
		// Names are checked before values; the first failure in name order wins.
		{map[string]string{"a.bad.name": "1", "retention.ms": "x"}, ErrUnknownConfig, "a.bad.name",
			"Unknown topic config name: a.bad.name"},
		{map[string]string{"segment.ms": "0", "retention.ms": "x"}, ErrInvalidConfig, "retention.ms",
			"Invalid value x for configuration retention.ms: Not a number of type LONG"},
	}
	for _, c := range cases {
		err := ValidateTopicConfigs(c.cfg)
		checkConfigError(t, c.cfg, err, c.kind, c.name, c.msg)
	}
}

func TestValidateBrokerConfigs(t *testing.T) {
	cases := []struct {
		cfg     map[string]string
		dynamic bool
		kind    error
		name    string
		msg     string
	}{
		{map[string]string{"log.dirs": "/a,/b", "node.id": "1", "num.partitions": "3", "log.retention.hours": "1"}, false, nil, "", ""},
		{map[string]string{"log.retention.ms": "-5", "log.cleaner.min.cleanable.ratio": "0.9", "compression.type": "lz4"}, true, nil, "", ""},
		{map[string]string{"log.dirs": "/a"}, true, ErrReadOnlyConfig, "log.dirs",
			"Cannot update these configs dynamically: [log.dirs]"},
		{map[string]string{"log.retention.hours": "1"}, true, ErrReadOnlyConfig, "log.retention.hours",
			"Cannot update these configs dynamically: [log.retention.hours]"},
		{map[string]string{"process.roles": "broker"}, false, ErrUnknownConfig, "process.roles",
			"Unknown broker config name: process.roles"},
		{map[string]string{"num.partitions": "0"}, false, ErrInvalidConfig, "num.partitions",
			"Invalid value 0 for configuration num.partitions: Value must be at least 1"},
		{map[string]string{"log.segment.bytes": "1000"}, true, ErrInvalidConfig, "log.segment.bytes",
			"Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"},
		{map[string]string{"auto.create.topics.enable": "maybe"}, false, ErrInvalidConfig, "auto.create.topics.enable",
			"Invalid value maybe for configuration auto.create.topics.enable: Expected value to be either true or false"},
		{map[string]string{"log.cleanup.policy": "delete,gc"}, true, ErrInvalidConfig, "log.cleanup.policy",
			"Invalid value gc for configuration log.cleanup.policy: String must be one of: compact, delete"},
	}
	for _, c := range cases {
		err := ValidateBrokerConfigs(c.cfg, c.dynamic)
		checkConfigError(t, c.cfg, err, c.kind, c.name, c.msg)
	}
}

func checkConfigError(t *testing.T, cfg map[string]string, err, kind error, name, msg string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Errorf("%v: unexpected error %v", cfg, err)
		}
		return
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, kind) || ce.Name != name || err.Error() != msg {
		t.Errorf("%v: got %v (%#v), want %v on %s: %q", cfg, err, ce, kind, name, msg)
	}
	for _, other := range []error{ErrUnknownConfig, ErrInvalidConfig, ErrReadOnlyConfig} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("%v: error also matches %v", cfg, other)
		}
	}
}

func TestDefValidateReturnsConfigError(t *testing.T) {
	d, _ := TopicConfig("retention.ms")
	err := d.Validate("abc")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Name != "retention.ms" || ce.Value != "abc" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %#v", err)
	}
	if d.Validate(" 42 ") != nil {
		t.Error("padded number rejected")
	}
}
