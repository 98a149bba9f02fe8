package meta

import (
	"slices"
	"strconv"
)

// ConfigEntry is one config as DescribeConfigs reports it.
type ConfigEntry struct {
	Name      string
	Value     string
	IsNull    bool // Kafka reports a null value (no default, nothing set, or sensitive)
	Source    ConfigSource
	ReadOnly  bool
	Sensitive bool
	Type      ConfigType
	Doc       string
	Synonyms  []ConfigSynonym
}

// ConfigSynonym is one source that could supply a config's value, as
// DescribeConfigs reports it with IncludeSynonyms.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source ConfigSource
}

// Broker is the broker-level config input to resolution. Static holds the
// server's configs (config file, flags) under Kafka's names; Dynamic holds the
// cluster-wide default dynamic configs persisted by the Store (Kafka's
// DYNAMIC_DEFAULT_BROKER_CONFIG). Unknown names, dynamic values of read-only
// configs and values that fail validation are ignored, as Kafka drops them
// when it loads them.
type Broker struct {
	Static  map[string]string
	Dynamic map[string]string
}

// brokerSources are the broker-level sources in Kafka's precedence order.
var brokerSources = []ConfigSource{SourceDynamicDefaultBroker, SourceStaticBroker, SourceDefault}

// brokerSourceValue is the raw value of broker config name in one source.
func brokerSourceValue(name string, src ConfigSource, b Broker) (string, bool) {
	def, known := brokerDefs[name]
	if !known {
		return "", false
	}
	var raw string
	var ok bool
	switch src {
	case SourceDynamicDefaultBroker:
		if !def.ReadOnly {
			raw, ok = b.Dynamic[name]
		}
	case SourceStaticBroker:
		raw, ok = staticValue(name, b.Static)
	case SourceDefault:
		raw, ok = def.Default, def.HasDefault
	}
	if !ok || def.Validate(raw) != nil {
		return "", false
	}
	return raw, true
}

// staticValue looks name up in the static configs, with Kafka's
// KafkaConfig.populateSynonyms: node.id and broker.id stand in for each
// other when only one is set.
func staticValue(name string, static map[string]string) (string, bool) {
	if v, ok := static[name]; ok {
		return v, true
	}
	switch name {
	case "broker.id":
		v, ok := static["node.id"]
		return v, ok
	case "node.id":
		v, ok := static["broker.id"]
		return v, ok
	}
	return "", false
}

// brokerOwnValue is broker config name's own value: dynamic > static >
// default, without any fallback chain.
func brokerOwnValue(name string, b Broker) (string, bool) {
	for _, src := range brokerSources {
		if v, ok := brokerSourceValue(name, src, b); ok {
			return v, true
		}
	}
	return "", false
}

// chainValue walks the fallback chain headed by head and returns the first
// value found, converted to milliseconds where the link's unit differs, as
// KafkaConfig computes logRetentionTimeMillis, logRollTimeMillis, etc.
func chainValue(head string, b Broker) (string, bool) {
	for _, l := range brokerChain(head) {
		raw, ok := brokerOwnValue(l.name, b)
		if !ok {
			continue
		}
		if l.factor == 1 && head != "log.retention.ms" {
			return raw, true
		}
		v, _ := parseValue(brokerDefs[l.name].Type, raw)
		n := v.i * l.factor
		if head == "log.retention.ms" && n < 0 {
			n = -1 // Kafka: any negative retention means "no limit"
		}
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// BrokerValue is the effective value of a broker config, canonically
// rendered: dynamic > static > Kafka default, and for the heads of Kafka's
// fallback chains (log.retention.ms, log.roll.ms, log.roll.jitter.ms,
// log.flush.interval.ms) the chain's value in milliseconds, e.g.
// log.retention.ms is "604800000" when only log.retention.hours=168 applies.
// ok is false for an unknown config or a null value.
func BrokerValue(name string, b Broker) (value string, ok bool) {
	def, known := brokerDefs[name]
	if !known {
		return "", false
	}
	raw, ok := chainValue(name, b)
	if !ok {
		return "", false
	}
	return canonical(def.Type, raw), true
}

// topicValue is the effective value of a topic config.
func topicValue(def ConfigDef, overrides map[string]string, b Broker) (string, bool) {
	if raw, ok := overrides[def.Name]; ok && def.Validate(raw) == nil {
		return canonical(def.Type, raw), true
	}
	if def.BrokerSynonym != "" {
		if raw, ok := chainValue(def.BrokerSynonym, b); ok {
			return canonical(def.Type, raw), true
		}
	}
	return def.Default, def.HasDefault
}

// TopicValue is the effective value of one topic config (canonically
// rendered): the topic override, else the broker synonym chain (dynamic >
// static > default), else Kafka's default. It is "" for an unknown name.
func TopicValue(name string, topicOverrides map[string]string, b Broker) string {
	def, ok := topicDefs[name]
	if !ok {
		return ""
	}
	v, _ := topicValue(def, topicOverrides, b)
	return v
}

// ResolveTopic returns every topic config as DescribeConfigs reports it for
// a topic, sorted by name. Synonyms are in Kafka's order: the topic override
// (DYNAMIC_TOPIC_CONFIG), then the broker synonyms from the dynamic default
// broker configs, the static broker configs and the defaults, each source
// listing its configs in fallback-chain order (log.retention.ms,
// log.retention.minutes, log.retention.hours). Source is that of the first
// synonym, DEFAULT_CONFIG when there is none.
//
// Difference from Kafka: Kafka drops the leading synonyms of a chain whose
// head (log.retention.ms, log.roll.ms, log.roll.jitter.ms,
// log.flush.interval.ms) is unset, a side effect of its listener-override
// handling, so it reports retention.ms with no synonyms and source
// DEFAULT_CONFIG even when log.retention.hours is set in server.properties.
// ResolveTopic keeps the whole chain and so reports the true source.
func ResolveTopic(topicOverrides map[string]string, b Broker) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(topicDefsSorted))
	for _, def := range topicDefsSorted {
		var syns []ConfigSynonym
		if raw, ok := topicOverrides[def.Name]; ok && def.Validate(raw) == nil {
			syns = append(syns, ConfigSynonym{def.Name, canonical(def.Type, raw), SourceDynamicTopic})
		}
		if def.BrokerSynonym != "" {
			syns = append(syns, brokerSynonyms(brokerChainNames(def.BrokerSynonym), b)...)
		}
		v, ok := topicValue(def, topicOverrides, b)
		out = append(out, entry(def, v, ok, syns))
	}
	return out
}

// ResolveBroker returns every broker config as DescribeConfigs reports it for
// this broker's id, sorted by name. Values are each config's own value
// (log.retention.ms is null unless set, as in Kafka); synonyms list
// Kafka's brokerConfigSynonyms from the config itself onwards.
func ResolveBroker(b Broker) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(brokerDefsSorted))
	for _, def := range brokerDefsSorted {
		syns := ownSynonyms(def.Name, brokerSynonyms(brokerSynonymNames(def.Name), b))
		raw, ok := brokerOwnValue(def.Name, b)
		out = append(out, entry(def, canonical(def.Type, raw), ok, syns))
	}
	return out
}

// ResolveBrokerDefaults returns the cluster-wide default dynamic broker
// configs as DescribeConfigs reports them for the default broker resource
// (empty resource name): only the configs set dynamically, sorted by name,
// with only DYNAMIC_DEFAULT_BROKER_CONFIG synonyms.
func ResolveBrokerDefaults(b Broker) []ConfigEntry {
	var out []ConfigEntry
	for _, def := range brokerDefsSorted {
		raw, ok := brokerSourceValue(def.Name, SourceDynamicDefaultBroker, b)
		if !ok {
			continue
		}
		var syns []ConfigSynonym
		for _, s := range ownSynonyms(def.Name, brokerSynonyms(brokerSynonymNames(def.Name), b)) {
			if s.Source == SourceDynamicDefaultBroker {
				syns = append(syns, s)
			}
		}
		out = append(out, entry(def, raw, true, syns))
	}
	return out
}

func brokerChainNames(head string) []string {
	chain := brokerChain(head)
	names := make([]string, len(chain))
	for i, l := range chain {
		names[i] = l.name
	}
	return names
}

// brokerSynonyms lists, source by source in precedence order, the configs
// among names that have a value there (Kafka's ConfigHelper.configSynonyms).
func brokerSynonyms(names []string, b Broker) []ConfigSynonym {
	var syns []ConfigSynonym
	for _, src := range brokerSources {
		for _, n := range names {
			if v, ok := brokerSourceValue(n, src, b); ok {
				syns = append(syns, ConfigSynonym{n, v, src})
			}
		}
	}
	return syns
}

// ownSynonyms drops the synonyms before the first one named name, as Kafka
// does when describing a broker config.
func ownSynonyms(name string, syns []ConfigSynonym) []ConfigSynonym {
	i := slices.IndexFunc(syns, func(s ConfigSynonym) bool { return s.Name == name })
	if i < 0 {
		return nil
	}
	return syns[i:]
}

func entry(def ConfigDef, value string, ok bool, syns []ConfigSynonym) ConfigEntry {
	e := ConfigEntry{
		Name:      def.Name,
		Value:     value,
		IsNull:    !ok,
		Source:    SourceDefault,
		ReadOnly:  def.ReadOnly,
		Sensitive: def.Sensitive,
		Type:      def.Type,
		Doc:       def.Doc,
		Synonyms:  syns,
	}
	if !ok {
		e.Value = ""
	}
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	if def.Sensitive {
		e.Value, e.IsNull = "", true
		for i := range e.Synonyms {
			e.Synonyms[i].Value = ""
		}
	}
	return e
}
