package meta

import (
	"slices"
	"strings"
	"testing"
)

func TestEnumWireValues(t *testing.T) {
	types := map[ConfigType]int8{TypeUnknown: 0, TypeBoolean: 1, TypeString: 2, TypeInt: 3, TypeShort: 4,
		TypeLong: 5, TypeDouble: 6, TypeList: 7, TypeClass: 8, TypePassword: 9}
	for typ, want := range types {
		if int8(typ) != want {
			t.Errorf("%v = %d, want %d", typ, typ, want)
		}
	}
	sources := map[ConfigSource]int8{SourceUnknown: 0, SourceDynamicTopic: 1, SourceDynamicBroker: 2,
		SourceDynamicDefaultBroker: 3, SourceStaticBroker: 4, SourceDefault: 5}
	for src, want := range sources {
		if int8(src) != want {
			t.Errorf("%v = %d, want %d", src, src, want)
		}
	}
	if TypeLong.String() != "LONG" || SourceDynamicDefaultBroker.String() != "DYNAMIC_DEFAULT_BROKER_CONFIG" {
		t.Errorf("names: %v %v", TypeLong, SourceDynamicDefaultBroker)
	}
}

// TestTopicConfigTable pins every topic config's Kafka 4.0 name, type,
// default and broker synonym.
func TestTopicConfigTable(t *testing.T) {
	const maxL = "9223372036854775807"
	want := []struct {
		name, def string
		typ       ConfigType
		synonym   string
	}{
		{"cleanup.policy", "delete", TypeList, "log.cleanup.policy"},
		{"compression.gzip.level", "-1", TypeInt, "compression.gzip.level"},
		{"compression.lz4.level", "9", TypeInt, "compression.lz4.level"},
		{"compression.type", "producer", TypeString, "compression.type"},
		{"compression.zstd.level", "3", TypeInt, "compression.zstd.level"},
		{"delete.retention.ms", "86400000", TypeLong, "log.cleaner.delete.retention.ms"},
		{"file.delete.delay.ms", "60000", TypeLong, "log.segment.delete.delay.ms"},
		{"flush.messages", maxL, TypeLong, "log.flush.interval.messages"},
		{"flush.ms", maxL, TypeLong, "log.flush.interval.ms"},
		{"follower.replication.throttled.replicas", "", TypeList, ""},
		{"index.interval.bytes", "4096", TypeInt, "log.index.interval.bytes"},
		{"leader.replication.throttled.replicas", "", TypeList, ""},
		{"local.retention.bytes", "-2", TypeLong, "log.local.retention.bytes"},
		{"local.retention.ms", "-2", TypeLong, "log.local.retention.ms"},
		{"max.compaction.lag.ms", maxL, TypeLong, "log.cleaner.max.compaction.lag.ms"},
		{"max.message.bytes", "1048588", TypeInt, "message.max.bytes"},
		{"message.timestamp.after.max.ms", "3600000", TypeLong, "log.message.timestamp.after.max.ms"},
		{"message.timestamp.before.max.ms", maxL, TypeLong, "log.message.timestamp.before.max.ms"},
		{"message.timestamp.type", "CreateTime", TypeString, "log.message.timestamp.type"},
		{"min.cleanable.dirty.ratio", "0.5", TypeDouble, "log.cleaner.min.cleanable.ratio"},
		{"min.compaction.lag.ms", "0", TypeLong, "log.cleaner.min.compaction.lag.ms"},
		{"min.insync.replicas", "1", TypeInt, "min.insync.replicas"},
		{"preallocate", "false", TypeBoolean, "log.preallocate"},
		{"remote.log.copy.disable", "false", TypeBoolean, ""},
		{"remote.log.delete.on.disable", "false", TypeBoolean, ""},
		{"remote.storage.enable", "false", TypeBoolean, ""},
		{"retention.bytes", "-1", TypeLong, "log.retention.bytes"},
		{"retention.ms", "604800000", TypeLong, "log.retention.ms"},
		{"segment.bytes", "1073741824", TypeInt, "log.segment.bytes"},
		{"segment.index.bytes", "10485760", TypeInt, "log.index.size.max.bytes"},
		{"segment.jitter.ms", "0", TypeLong, "log.roll.jitter.ms"},
		{"segment.ms", "604800000", TypeLong, "log.roll.ms"},
		{"unclean.leader.election.enable", "false", TypeBoolean, "unclean.leader.election.enable"},
	}
	defs := TopicConfigs()
	if len(defs) != len(want) {
		t.Fatalf("got %d topic configs, want %d", len(defs), len(want))
	}
	for i, w := range want {
		d := defs[i]
		if d.Name != w.name || d.Default != w.def || !d.HasDefault || d.Type != w.typ || d.BrokerSynonym != w.synonym {
			t.Errorf("defs[%d] = {%s %q %v %s}, want {%s %q %v %s}", i, d.Name, d.Default, d.Type, d.BrokerSynonym, w.name, w.def, w.typ, w.synonym)
		}
		if d.Doc == "" || d.ReadOnly || d.Sensitive {
			t.Errorf("%s: doc %q readOnly %v sensitive %v", d.Name, d.Doc, d.ReadOnly, d.Sensitive)
		}
		if got, ok := TopicConfig(w.name); !ok || got.Name != w.name {
			t.Errorf("TopicConfig(%q) = %v, %v", w.name, got.Name, ok)
		}
	}
	if _, ok := TopicConfig("log.retention.ms"); ok {
		t.Error("TopicConfig knows a broker config")
	}
}

func TestDefaultsPassOwnValidation(t *testing.T) {
	for _, d := range append(TopicConfigs(), BrokerConfigs()...) {
		if d.HasDefault {
			if err := d.Validate(d.Default); err != nil {
				t.Errorf("%s: default %q rejected: %v", d.Name, d.Default, err)
			}
		} else if d.Default != "" {
			t.Errorf("%s: null default with text %q", d.Name, d.Default)
		}
		if d.Doc == "" {
			t.Errorf("%s: no doc", d.Name)
		}
	}
}

func TestBrokerConfigTable(t *testing.T) {
	defs := BrokerConfigs()
	if !slices.IsSortedFunc(defs, func(a, b ConfigDef) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("BrokerConfigs not sorted")
	}
	required := []string{"node.id", "broker.id", "log.dirs", "log.dir", "num.partitions", "default.replication.factor",
		"auto.create.topics.enable", "delete.topic.enable", "message.max.bytes", "log.segment.bytes", "log.roll.ms",
		"log.roll.hours", "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
		"log.flush.interval.messages", "log.flush.interval.ms", "log.index.interval.bytes", "log.index.size.max.bytes",
		"log.message.timestamp.type", "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms",
		"log.cleanup.policy", "log.cleaner.delete.retention.ms", "log.cleaner.min.compaction.lag.ms",
		"log.cleaner.max.compaction.lag.ms", "log.cleaner.min.cleanable.ratio", "log.segment.delete.delay.ms",
		"log.preallocate", "min.insync.replicas", "compression.type", "socket.request.max.bytes", "listeners",
		"advertised.listeners", "offsets.topic.num.partitions", "transaction.max.timeout.ms",
		"log.retention.check.interval.ms", "log.cleaner.backoff.ms", "group.initial.rebalance.delay.ms"}
	for _, n := range required {
		if _, ok := BrokerConfig(n); !ok {
			t.Errorf("broker config %s missing", n)
		}
	}
	// Every broker config in a topic config's fallback chain is defined.
	for _, td := range TopicConfigs() {
		if td.BrokerSynonym == "" {
			continue
		}
		for _, l := range brokerChain(td.BrokerSynonym) {
			if _, ok := BrokerConfig(l.name); !ok {
				t.Errorf("%s: chain member %s undefined", td.Name, l.name)
			}
		}
		if bd, _ := BrokerConfig(td.BrokerSynonym); bd.ReadOnly {
			t.Errorf("%s: synonym %s is read-only; Kafka makes it dynamic", td.Name, td.BrokerSynonym)
		}
	}
	pins := []struct {
		name, def string
		has, ro   bool
		typ       ConfigType
	}{
		{"log.retention.ms", "", false, false, TypeLong},
		{"log.retention.minutes", "", false, true, TypeInt},
		{"log.retention.hours", "168", true, true, TypeInt},
		{"log.roll.ms", "", false, false, TypeLong},
		{"log.roll.hours", "168", true, true, TypeInt},
		{"log.dirs", "", false, true, TypeList},
		{"log.dir", "/tmp/kafka-logs", true, true, TypeList},
		{"log.message.timestamp.after.max.ms", "3600000", true, false, TypeLong},
		{"log.segment.bytes", "1073741824", true, false, TypeInt},
		{"num.partitions", "1", true, true, TypeInt},
		{"node.id", "-1", true, true, TypeInt},
		{"log.cleaner.backoff.ms", "15000", true, false, TypeLong},
		{"transaction.max.timeout.ms", "900000", true, true, TypeInt},
		{"group.initial.rebalance.delay.ms", "3000", true, true, TypeInt},
		{"offsets.topic.num.partitions", "50", true, true, TypeInt},
		{"socket.request.max.bytes", "104857600", true, true, TypeInt},
	}
	for _, p := range pins {
		d, _ := BrokerConfig(p.name)
		if d.Default != p.def || d.HasDefault != p.has || d.ReadOnly != p.ro || d.Type != p.typ {
			t.Errorf("%s = {%q %v ro=%v %v}, want {%q %v ro=%v %v}", p.name, d.Default, d.HasDefault, d.ReadOnly, d.Type, p.def, p.has, p.ro, p.typ)
		}
	}
}

func TestDefsAreCopies(t *testing.T) {
	defs := TopicConfigs()
	defs[0].Name = "mutated"
	if TopicConfigs()[0].Name == "mutated" {
		t.Error("TopicConfigs exposes internal slice")
	}
}
