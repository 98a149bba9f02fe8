package meta

import (
	"slices"
	"strings"
)

// ConfigType is Kafka's DescribeConfigs (v3+) config type enum.
type ConfigType int8

// Kafka's config types, with Kafka's wire values.
const (
	TypeUnknown  ConfigType = 0
	TypeBoolean  ConfigType = 1
	TypeString   ConfigType = 2
	TypeInt      ConfigType = 3
	TypeShort    ConfigType = 4
	TypeLong     ConfigType = 5
	TypeDouble   ConfigType = 6
	TypeList     ConfigType = 7
	TypeClass    ConfigType = 8
	TypePassword ConfigType = 9
)

var typeNames = [...]string{"UNKNOWN", "BOOLEAN", "STRING", "INT", "SHORT", "LONG", "DOUBLE", "LIST", "CLASS", "PASSWORD"}

// String is Kafka's name of the type (as used in its error messages).
func (t ConfigType) String() string {
	if t < 0 || int(t) >= len(typeNames) {
		return "UNKNOWN"
	}
	return typeNames[t]
}

// ConfigSource is Kafka's DescribeConfigs config source enum.
type ConfigSource int8

// Kafka's config sources, with Kafka's wire values.
const (
	SourceUnknown              ConfigSource = 0
	SourceDynamicTopic         ConfigSource = 1
	SourceDynamicBroker        ConfigSource = 2
	SourceDynamicDefaultBroker ConfigSource = 3
	SourceStaticBroker         ConfigSource = 4
	SourceDefault              ConfigSource = 5
)

var sourceNames = [...]string{"UNKNOWN", "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG", "DEFAULT_CONFIG"}

// String is Kafka's name of the source.
func (s ConfigSource) String() string {
	if s == SourceGroupConfig {
		return "GROUP_CONFIG"
	}
	if s < 0 || int(s) >= len(sourceNames) {
		return "UNKNOWN"
	}
	return sourceNames[s]
}

// ConfigDef describes one Kafka config.
type ConfigDef struct {
	Name       string
	Type       ConfigType
	Default    string // Kafka's default as Kafka renders it; "" with HasDefault false for null
	HasDefault bool
	Doc        string
	Sensitive  bool
	// ReadOnly marks broker configs that cannot be altered dynamically.
	ReadOnly bool
	// PerBroker marks dynamic broker configs Kafka allows only per broker
	// (resource name = node id), never at the cluster-default level.
	PerBroker bool
	// BrokerSynonym is, for topic configs, the broker config that supplies the
	// default (the head of its fallback chain, see brokerChain).
	BrokerSynonym string
	// Validate checks type, range and allowed values. It returns nil or a
	// *ConfigError wrapping ErrInvalidConfig with Kafka's message.
	Validate func(v string) error
}

// rule is a value check applied after a successful type parse. It returns
// nil or the *ConfigError to report.
type rule func(name, raw string, v parsed) *ConfigError

// spec is a table row: a ConfigDef plus its value rule.
type spec struct {
	ConfigDef
	rule rule
}

// buildDefs indexes a table by name and wires each row's Validate.
func buildDefs(rows []spec) map[string]ConfigDef {
	m := make(map[string]ConfigDef, len(rows))
	for _, r := range rows {
		d := r.ConfigDef
		name, typ, check := d.Name, d.Type, r.rule
		d.Validate = func(raw string) error {
			if _, err := parseChecked(name, typ, check, raw); err != nil {
				return err
			}
			return nil
		}
		if _, dup := m[name]; dup {
			panic("meta: duplicate config definition " + name)
		}
		m[name] = d
	}
	return m
}

// parseChecked parses raw as typ and applies check.
func parseChecked(name string, typ ConfigType, check rule, raw string) (parsed, *ConfigError) {
	v, reason := parseValue(typ, raw)
	if reason != "" {
		return parsed{}, invalidValue(name, raw, reason)
	}
	if check != nil {
		if err := check(name, raw, v); err != nil {
			return parsed{}, err
		}
	}
	return v, nil
}

func sortedDefs(m map[string]ConfigDef) []ConfigDef {
	out := make([]ConfigDef, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b ConfigDef) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// TopicConfig returns the definition of a topic config.
func TopicConfig(name string) (ConfigDef, bool) {
	d, ok := topicDefs[name]
	return d, ok
}

// TopicConfigs returns every topic config definition, sorted by name.
func TopicConfigs() []ConfigDef { return slices.Clone(topicDefsSorted) }

// BrokerConfig returns the definition of a broker config.
func BrokerConfig(name string) (ConfigDef, bool) {
	d, ok := brokerDefs[name]
	return d, ok
}

// BrokerConfigs returns every broker config definition, sorted by name.
func BrokerConfigs() []ConfigDef { return slices.Clone(brokerDefsSorted) }

var (
	topicDefs        = buildDefs(topicSpecs)
	topicDefsSorted  = sortedDefs(topicDefs)
	brokerDefs       = buildDefs(slices.Concat(brokerSpecs, inertBrokerSpecs, groupBrokerSpecs))
	brokerDefsSorted = sortedDefs(brokerDefs)
)
