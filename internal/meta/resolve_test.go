package meta

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func findEntry(t *testing.T, entries []ConfigEntry, name string) ConfigEntry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return ConfigEntry{}
}

type syn = ConfigSynonym

const (
	dynDef = SourceDynamicDefaultBroker
	static = SourceStaticBroker
	dflt   = SourceDefault
	topic  = SourceDynamicTopic
)

func TestResolveTopicPrecedence(t *testing.T) {
	cases := []struct {
		desc      string
		overrides map[string]string
		b         Broker
		name      string
		value     string
		source    ConfigSource
		synonyms  []syn
	}{
		{"kafka default via hours chain", nil, Broker{}, "retention.ms", "604800000", dflt,
			[]syn{{"log.retention.hours", "168", dflt}}},
		{"static hours", nil, Broker{Static: map[string]string{"log.retention.hours": "1"}}, "retention.ms", "3600000", static,
			[]syn{{"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"static minutes beat hours", nil, Broker{Static: map[string]string{"log.retention.hours": "1", "log.retention.minutes": "30"}},
			"retention.ms", "1800000", static,
			[]syn{{"log.retention.minutes", "30", static}, {"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"static ms beat minutes", nil, Broker{Static: map[string]string{"log.retention.ms": "5000", "log.retention.minutes": "30"}},
			"retention.ms", "5000", static,
			[]syn{{"log.retention.ms", "5000", static}, {"log.retention.minutes", "30", static}, {"log.retention.hours", "168", dflt}}},
		{"dynamic beats static", nil, Broker{Static: map[string]string{"log.retention.hours": "1"}, Dynamic: map[string]string{"log.retention.ms": "1000"}},
			"retention.ms", "1000", dynDef,
			[]syn{{"log.retention.ms", "1000", dynDef}, {"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"topic override beats all", map[string]string{"retention.ms": " 500 "},
			Broker{Static: map[string]string{"log.retention.hours": "1"}, Dynamic: map[string]string{"log.retention.ms": "1000"}},
			"retention.ms", "500", topic,
			[]syn{{"retention.ms", "500", topic}, {"log.retention.ms", "1000", dynDef}, {"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"negative hours mean unlimited", nil, Broker{Static: map[string]string{"log.retention.hours": "-1"}}, "retention.ms", "-1", static,
			[]syn{{"log.retention.hours", "-1", static}, {"log.retention.hours", "168", dflt}}},
		{"negative ms clamps to -1", nil, Broker{Dynamic: map[string]string{"log.retention.ms": "-7"}}, "retention.ms", "-1", dynDef,
			[]syn{{"log.retention.ms", "-7", dynDef}, {"log.retention.hours", "168", dflt}}},
		{"dynamic read-only config ignored", nil, Broker{Dynamic: map[string]string{"log.retention.hours": "1"}}, "retention.ms", "604800000", dflt,
			[]syn{{"log.retention.hours", "168", dflt}}},
		{"invalid static value ignored", nil, Broker{Static: map[string]string{"log.retention.hours": "soon"}}, "retention.ms", "604800000", dflt,
			[]syn{{"log.retention.hours", "168", dflt}}},
		{"invalid override ignored", map[string]string{"retention.ms": "soon"}, Broker{}, "retention.ms", "604800000", dflt,
			[]syn{{"log.retention.hours", "168", dflt}}},
		{"roll hours", nil, Broker{Static: map[string]string{"log.roll.hours": "2"}}, "segment.ms", "7200000", static,
			[]syn{{"log.roll.hours", "2", static}, {"log.roll.hours", "168", dflt}}},
		{"roll ms beats hours", nil, Broker{Static: map[string]string{"log.roll.hours": "2"}, Dynamic: map[string]string{"log.roll.ms": "60000"}},
			"segment.ms", "60000", dynDef,
			[]syn{{"log.roll.ms", "60000", dynDef}, {"log.roll.hours", "2", static}, {"log.roll.hours", "168", dflt}}},
		{"jitter hours", nil, Broker{Static: map[string]string{"log.roll.jitter.hours": "1"}}, "segment.jitter.ms", "3600000", static,
			[]syn{{"log.roll.jitter.hours", "1", static}, {"log.roll.jitter.hours", "0", dflt}}},
		{"flush.ms falls back to scheduler interval", nil, Broker{Static: map[string]string{"log.flush.scheduler.interval.ms": "3000"}},
			"flush.ms", "3000", static,
			[]syn{{"log.flush.scheduler.interval.ms", "3000", static}, {"log.flush.scheduler.interval.ms", maxLong, dflt}}},
		{"flush.ms from log.flush.interval.ms", nil, Broker{Static: map[string]string{"log.flush.interval.ms": "10", "log.flush.scheduler.interval.ms": "3000"}},
			"flush.ms", "10", static,
			[]syn{{"log.flush.interval.ms", "10", static}, {"log.flush.scheduler.interval.ms", "3000", static}, {"log.flush.scheduler.interval.ms", maxLong, dflt}}},
		{"differently named synonym", nil, Broker{Static: map[string]string{"message.max.bytes": "2000000"}}, "max.message.bytes", "2000000", static,
			[]syn{{"message.max.bytes", "2000000", static}, {"message.max.bytes", "1048588", dflt}}},
		{"double canonical, synonym raw", nil, Broker{Dynamic: map[string]string{"log.cleaner.min.cleanable.ratio": ".25"}},
			"min.cleanable.dirty.ratio", "0.25", dynDef,
			[]syn{{"log.cleaner.min.cleanable.ratio", ".25", dynDef}, {"log.cleaner.min.cleanable.ratio", "0.5", dflt}}},
		{"list canonical", map[string]string{"cleanup.policy": "compact , delete"}, Broker{}, "cleanup.policy", "compact,delete", topic,
			[]syn{{"cleanup.policy", "compact,delete", topic}, {"log.cleanup.policy", "delete", dflt}}},
		{"boolean canonical", map[string]string{"preallocate": "TRUE"}, Broker{}, "preallocate", "true", topic,
			[]syn{{"preallocate", "true", topic}, {"log.preallocate", "false", dflt}}},
		{"no broker synonym", nil, Broker{}, "remote.storage.enable", "false", dflt, nil},
		{"no broker synonym, override", map[string]string{"leader.replication.throttled.replicas": "*"}, Broker{},
			"leader.replication.throttled.replicas", "*", topic, []syn{{"leader.replication.throttled.replicas", "*", topic}}},
		{"4.0 timestamp default", nil, Broker{}, "message.timestamp.after.max.ms", "3600000", dflt,
			[]syn{{"log.message.timestamp.after.max.ms", "3600000", dflt}}},
	}
	for _, c := range cases {
		entries := ResolveTopic(c.overrides, c.b)
		e := findEntry(t, entries, c.name)
		if e.Value != c.value || e.IsNull || e.Source != c.source || !reflect.DeepEqual(e.Synonyms, c.synonyms) {
			t.Errorf("%s: got %q %v %v, want %q %v %v", c.desc, e.Value, e.Source, e.Synonyms, c.value, c.source, c.synonyms)
		}
		if got := TopicValue(c.name, c.overrides, c.b); got != c.value {
			t.Errorf("%s: TopicValue = %q, want %q", c.desc, got, c.value)
		}
	}
}

func TestResolveTopicCoversEveryConfig(t *testing.T) {
	b := Broker{Static: map[string]string{"log.retention.hours": "2"}}
	overrides := map[string]string{"segment.bytes": "2097152", "unknown.thing": "x"}
	entries := ResolveTopic(overrides, b)
	defs := TopicConfigs()
	if len(entries) != len(defs) {
		t.Fatalf("%d entries for %d configs", len(entries), len(defs))
	}
	for i, e := range entries {
		d := defs[i]
		if e.Name != d.Name || e.Type != d.Type || e.Doc != d.Doc || e.ReadOnly || e.Sensitive || e.IsNull {
			t.Errorf("entry %d = %+v, def %s", i, e, d.Name)
		}
		if got := TopicValue(e.Name, overrides, b); got != e.Value {
			t.Errorf("%s: TopicValue %q != entry value %q", e.Name, got, e.Value)
		}
	}
	if !slices.IsSortedFunc(entries, func(a, b ConfigEntry) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("entries not sorted")
	}
	if TopicValue("unknown.thing", overrides, b) != "" {
		t.Error("TopicValue of unknown config")
	}
}

func TestResolveBroker(t *testing.T) {
	b := Broker{
		Static:  map[string]string{"log.retention.hours": "1", "node.id": "5", "num.partitions": "3", "log.dirs": "/a, /b"},
		Dynamic: map[string]string{"log.retention.ms": "1000", "num.partitions": "9", "compression.type": "zstd", "bogus": "1"},
	}
	entries := ResolveBroker(b)
	if len(entries) != len(BrokerConfigs()) {
		t.Fatalf("%d entries", len(entries))
	}
	cases := []struct {
		name     string
		value    string
		null     bool
		source   ConfigSource
		readOnly bool
		synonyms []syn
	}{
		{"log.retention.ms", "1000", false, dynDef, false,
			[]syn{{"log.retention.ms", "1000", dynDef}, {"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"log.retention.hours", "1", false, static, true,
			[]syn{{"log.retention.hours", "1", static}, {"log.retention.hours", "168", dflt}}},
		{"log.retention.minutes", "", true, dflt, true, nil},
		{"log.roll.ms", "", true, dflt, false, nil},
		{"log.roll.hours", "168", false, dflt, true, []syn{{"log.roll.hours", "168", dflt}}},
		{"num.partitions", "3", false, static, true, []syn{{"num.partitions", "3", static}, {"num.partitions", "1", dflt}}},
		{"compression.type", "zstd", false, dynDef, false, []syn{{"compression.type", "zstd", dynDef}, {"compression.type", "producer", dflt}}},
		{"broker.id", "5", false, static, true, []syn{{"broker.id", "5", static}, {"broker.id", "-1", dflt}}},
		{"node.id", "5", false, static, true, []syn{{"node.id", "5", static}, {"node.id", "-1", dflt}}},
		{"log.dirs", "/a,/b", false, static, true, []syn{{"log.dirs", "/a, /b", static}}},
		{"advertised.listeners", "", true, dflt, true, nil},
		{"log.flush.scheduler.interval.ms", maxLong, false, dflt, true, []syn{{"log.flush.scheduler.interval.ms", maxLong, dflt}}},
	}
	for _, c := range cases {
		e := findEntry(t, entries, c.name)
		if e.Value != c.value || e.IsNull != c.null || e.Source != c.source || e.ReadOnly != c.readOnly || !reflect.DeepEqual(e.Synonyms, c.synonyms) {
			t.Errorf("%s: got %q null=%v %v ro=%v %v; want %q null=%v %v ro=%v %v", c.name, e.Value, e.IsNull, e.Source, e.ReadOnly, e.Synonyms,
				c.value, c.null, c.source, c.readOnly, c.synonyms)
		}
	}
}

func TestResolveBrokerDefaults(t *testing.T) {
	b := Broker{
		Static:  map[string]string{"log.retention.hours": "1", "compression.type": "lz4"},
		Dynamic: map[string]string{"log.retention.ms": "1000", "num.partitions": "9", "bogus": "1", "compression.type": "gzip"},
	}
	got := ResolveBrokerDefaults(b)
	want := []ConfigEntry{
		{Name: "compression.type", Value: "gzip", Source: dynDef, Type: TypeString, Synonyms: []syn{{"compression.type", "gzip", dynDef}}},
		{Name: "log.retention.ms", Value: "1000", Source: dynDef, Type: TypeLong, Synonyms: []syn{{"log.retention.ms", "1000", dynDef}}},
	}
	for i := range got {
		got[i].Doc = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestBrokerValue(t *testing.T) {
	cases := []struct {
		name  string
		b     Broker
		value string
		ok    bool
	}{
		{"log.retention.ms", Broker{}, "604800000", true},
		{"log.retention.ms", Broker{Static: map[string]string{"log.retention.minutes": "2"}}, "120000", true},
		{"log.retention.ms", Broker{Static: map[string]string{"log.retention.hours": "-1"}}, "-1", true},
		{"log.retention.hours", Broker{Static: map[string]string{"log.retention.minutes": "2"}}, "168", true},
		{"log.roll.ms", Broker{Static: map[string]string{"log.roll.hours": "1"}}, "3600000", true},
		{"log.flush.interval.ms", Broker{}, maxLong, true},
		{"num.partitions", Broker{Static: map[string]string{"num.partitions": " 3"}, Dynamic: map[string]string{"num.partitions": "4"}}, "3", true},
		{"auto.create.topics.enable", Broker{Static: map[string]string{"auto.create.topics.enable": "FALSE"}}, "false", true},
		{"message.max.bytes", Broker{Static: map[string]string{"message.max.bytes": "100"}, Dynamic: map[string]string{"message.max.bytes": "200"}}, "200", true},
		{"log.dirs", Broker{}, "", false},
		{"no.such", Broker{}, "", false},
	}
	for _, c := range cases {
		v, ok := BrokerValue(c.name, c.b)
		if v != c.value || ok != c.ok {
			t.Errorf("BrokerValue(%s, %v) = %q, %v; want %q, %v", c.name, c.b, v, ok, c.value, c.ok)
		}
	}
}
