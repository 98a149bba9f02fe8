package meta

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Group configs (KIP-848 dynamic group configs, Kafka's GroupConfig): set
// per group with IncrementalAlterConfigs on a GROUP resource, persisted in
// meta.json, described with DescribeConfigs. A config that is not set takes
// its value from the broker config that supplies its default
// (BrokerSynonym: consumer.session.timeout.ms from
// group.consumer.session.timeout.ms, ...). Values are validated against the
// broker's min/max configs, as Kafka's GroupConfig.validate does.
//
// consumer.session.timeout.ms and consumer.heartbeat.interval.ms are
// honoured by the coordinator for KIP-848 consumer groups, the share.*
// configs by the share-group coordinator (internal/share, KIP-932).

// SourceGroupConfig is Kafka's GROUP_CONFIG config source (a group's own
// dynamic config).
const SourceGroupConfig ConfigSource = 8

var groupBrokerSpecs = []spec{
	{ConfigDef{Name: "group.consumer.min.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, ReadOnly: true,
		Doc: "The minimum allowed session timeout for registered consumers."}, atLeast(1)},
	{ConfigDef{Name: "group.consumer.max.session.timeout.ms", Type: TypeInt, Default: "60000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum allowed session timeout for registered consumers."}, atLeast(1)},
	{ConfigDef{Name: "group.consumer.min.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, ReadOnly: true,
		Doc: "The minimum heartbeat interval for registered consumers."}, atLeast(1)},
	{ConfigDef{Name: "group.consumer.max.heartbeat.interval.ms", Type: TypeInt, Default: "15000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum heartbeat interval for registered consumers."}, atLeast(1)},
	{ConfigDef{Name: "group.share.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, ReadOnly: true,
		Doc: "The timeout to detect client failures when using the share group protocol."}, atLeast(1)},
	{ConfigDef{Name: "group.share.min.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, ReadOnly: true,
		Doc: "The minimum allowed session timeout for share group members."}, atLeast(1)},
	{ConfigDef{Name: "group.share.max.session.timeout.ms", Type: TypeInt, Default: "60000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum allowed session timeout for share group members."}, atLeast(1)},
	{ConfigDef{Name: "group.share.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, ReadOnly: true,
		Doc: "The heartbeat interval given to the members of a share group."}, atLeast(1)},
	{ConfigDef{Name: "group.share.min.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, ReadOnly: true,
		Doc: "The minimum heartbeat interval for share group members."}, atLeast(1)},
	{ConfigDef{Name: "group.share.max.heartbeat.interval.ms", Type: TypeInt, Default: "15000", HasDefault: true, ReadOnly: true,
		Doc: "The maximum heartbeat interval for share group members."}, atLeast(1)},
	{ConfigDef{Name: "group.share.record.lock.duration.ms", Type: TypeInt, Default: "30000", HasDefault: true, ReadOnly: true,
		Doc: "The record acquisition lock duration in milliseconds for share groups."}, atLeast(1000)},
	{ConfigDef{Name: "group.share.delivery.count.limit", Type: TypeInt, Default: "5", HasDefault: true, ReadOnly: true,
		Doc: "The maximum number of delivery attempts for a record delivered to a share group."}, between(2, 10)},
	{ConfigDef{Name: "group.share.partition.max.record.locks", Type: TypeInt, Default: "2000", HasDefault: true, ReadOnly: true,
		Doc: "Share-group record lock limit per share-partition."}, between(100, 10000)},
	{ConfigDef{Name: "group.share.max.size", Type: TypeInt, Default: "200", HasDefault: true, ReadOnly: true,
		Doc: "The maximum number of members that a single share group can accommodate."}, between(10, 1000)},
	{ConfigDef{Name: "share.coordinator.state.topic.num.partitions", Type: TypeInt, Default: "50", HasDefault: true, ReadOnly: true,
		Doc: "The number of partitions for the share-group state topic (should not change after deployment)."}, atLeast(1)},
	{ConfigDef{Name: "group.share.min.record.lock.duration.ms", Type: TypeInt, Default: "15000", HasDefault: true, ReadOnly: true,
		Doc: "The record acquisition lock minimum duration in milliseconds for share groups."}, atLeast(1000)},
	{ConfigDef{Name: "group.share.max.record.lock.duration.ms", Type: TypeInt, Default: "60000", HasDefault: true, ReadOnly: true,
		Doc: "The record acquisition lock maximum duration in milliseconds for share groups."}, atLeast(1000)},
}

// isoDuration is Java's Duration.parse format (PnDTnHnMn.nS, a decimal
// point or comma before the fraction), without a negative sign: Kafka
// refuses negative durations.
var isoDuration = regexp.MustCompile(`^\+?[Pp](?:\+?\d+[Dd])?(?:[Tt](?:\+?\d+[Hh])?(?:\+?\d+[Mm])?(?:\+?\d+(?:[.,]\d{0,9})?[Ss])?)?$`)

// shareAutoOffsetReset is Kafka's ShareGroupAutoOffsetResetStrategy.Validator
// (case-sensitive): earliest, latest or by_duration:<ISO-8601 duration, not
// negative>.
func shareAutoOffsetReset(name, raw string, v parsed) *ConfigError {
	s := v.s
	if s == "earliest" || s == "latest" {
		return nil
	}
	if d, ok := strings.CutPrefix(s, "by_duration:"); ok && isoDuration.MatchString(d) {
		rest := strings.TrimLeft(d, "+")[1:] // after the P
		if rest != "" && !strings.HasSuffix(strings.ToUpper(rest), "T") {
			return nil
		}
	}
	return invalidValue(name, raw, "Invalid value `"+s+"` for configuration "+name+". The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS.>'.")
}

var groupSpecs = []spec{
	{ConfigDef{Name: "consumer.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, BrokerSynonym: "group.consumer.session.timeout.ms",
		Doc: "The timeout to detect client failures when using the consumer group protocol."}, atLeast(1)},
	{ConfigDef{Name: "consumer.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, BrokerSynonym: "group.consumer.heartbeat.interval.ms",
		Doc: "The heartbeat interval given to the members of a consumer group."}, atLeast(1)},
	{ConfigDef{Name: "share.session.timeout.ms", Type: TypeInt, Default: "45000", HasDefault: true, BrokerSynonym: "group.share.session.timeout.ms",
		Doc: "The timeout to detect client failures when using the share group protocol."}, atLeast(1)},
	{ConfigDef{Name: "share.heartbeat.interval.ms", Type: TypeInt, Default: "5000", HasDefault: true, BrokerSynonym: "group.share.heartbeat.interval.ms",
		Doc: "The heartbeat interval given to the members of a share group."}, atLeast(1)},
	{ConfigDef{Name: "share.record.lock.duration.ms", Type: TypeInt, Default: "30000", HasDefault: true, BrokerSynonym: "group.share.record.lock.duration.ms",
		Doc: "The record acquisition lock duration in milliseconds for share groups."}, atLeast(1000)},
	{ConfigDef{Name: "share.auto.offset.reset", Type: TypeString, Default: "latest", HasDefault: true,
		Doc: "The strategy to initialize the share-partition start offset: earliest, latest or by_duration:<duration> (ISO-8601)."}, shareAutoOffsetReset},
	{ConfigDef{Name: "share.isolation.level", Type: TypeString, Default: "read_uncommitted", HasDefault: true,
		Doc: "Controls how to read records written transactionally: read_committed or read_uncommitted."},
		oneOf("read_committed", "read_uncommitted")},
}

var (
	groupDefs       = buildDefs(groupSpecs)
	groupDefsSorted = sortedDefs(groupDefs)
)

// GroupConfig returns the definition of a group config.
func GroupConfig(name string) (ConfigDef, bool) {
	d, ok := groupDefs[name]
	return d, ok
}

// groupValue is the effective value of a group config: the group's own
// value, else its broker synonym (dynamic > static > default), else
// Kafka's default.
func groupValue(def ConfigDef, overrides map[string]string, b Broker) (string, ConfigSource) {
	if raw, ok := overrides[def.Name]; ok && def.Validate(raw) == nil {
		return canonical(def.Type, raw), SourceGroupConfig
	}
	if def.BrokerSynonym != "" {
		if v, ok := BrokerValue(def.BrokerSynonym, b); ok {
			return v, SourceDefault
		}
	}
	return def.Default, SourceDefault
}

// GroupValue is the effective value of one group config ("" for an unknown
// name).
func GroupValue(name string, overrides map[string]string, b Broker) string {
	def, ok := groupDefs[name]
	if !ok {
		return ""
	}
	v, _ := groupValue(def, overrides, b)
	return v
}

// ResolveGroup returns every group config as DescribeConfigs reports it for
// a group, sorted by name, as Kafka's ConfigHelper does: GROUP_CONFIG for
// the group's own values, DEFAULT_CONFIG (with the broker-derived value)
// otherwise; the only synonym is the group's own value.
func ResolveGroup(overrides map[string]string, b Broker) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(groupDefsSorted))
	for _, def := range groupDefsSorted {
		v, src := groupValue(def, overrides, b)
		var syns []ConfigSynonym
		if src == SourceGroupConfig {
			syns = []ConfigSynonym{{Name: def.Name, Value: v, Source: src}}
		}
		e := entry(def, v, true, syns)
		e.Source = src
		out = append(out, e)
	}
	return out
}

// groupBound is one of GroupConfig.validateValues' range checks: the group
// config must be >= (min) or <= (max) the broker config.
type groupBound struct {
	name, broker string
	min          bool
}

var groupBounds = []groupBound{
	{"consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms", true},
	{"consumer.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms", false},
	{"consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms", true},
	{"consumer.session.timeout.ms", "group.consumer.max.session.timeout.ms", false},
	{"share.heartbeat.interval.ms", "group.share.min.heartbeat.interval.ms", true},
	{"share.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms", false},
	{"share.session.timeout.ms", "group.share.min.session.timeout.ms", true},
	{"share.session.timeout.ms", "group.share.max.session.timeout.ms", false},
	{"share.record.lock.duration.ms", "group.share.min.record.lock.duration.ms", true},
	{"share.record.lock.duration.ms", "group.share.max.record.lock.duration.ms", false},
}

// ValidateGroupConfigs checks a group's complete set of configs as Kafka's
// GroupConfig.validate does: every name must be a group config
// (ErrUnknownConfig, "Unknown group config name: x"), every value valid
// (ErrInvalidConfig), then the effective values within the broker's
// min/max configs and each session timeout above its heartbeat interval.
func ValidateGroupConfigs(cfg map[string]string, b Broker) error {
	names := sortedKeys(cfg)
	for _, n := range names {
		if _, ok := groupDefs[n]; !ok {
			return &ConfigError{Name: n, Value: cfg[n], Err: ErrUnknownConfig, Msg: "Unknown group config name: " + n}
		}
	}
	for _, n := range names {
		if err := groupDefs[n].Validate(cfg[n]); err != nil {
			return err
		}
	}
	val := func(name string) int64 {
		n, _ := strconv.ParseInt(GroupValue(name, cfg, b), 10, 64)
		return n
	}
	for _, g := range groupBounds {
		v := val(g.name)
		bv, _ := BrokerValue(g.broker, b)
		lim, _ := strconv.ParseInt(bv, 10, 64)
		if g.min && v < lim {
			return &ConfigError{Name: g.name, Value: cfg[g.name], Err: ErrInvalidConfig, Msg: g.name + " must be greater than or equal to " + g.broker}
		}
		if !g.min && v > lim {
			return &ConfigError{Name: g.name, Value: cfg[g.name], Err: ErrInvalidConfig, Msg: g.name + " must be less than or equal to " + g.broker}
		}
	}
	for _, p := range [][2]string{{"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"}, {"share.session.timeout.ms", "share.heartbeat.interval.ms"}} {
		if val(p[0]) <= val(p[1]) {
			return &ConfigError{Name: p[0], Value: cfg[p[0]], Err: ErrInvalidConfig, Msg: p[0] + " must be greater than " + p[1]}
		}
	}
	return nil
}

// GroupConfigNames lists every group config name, sorted.
func GroupConfigNames() []string {
	out := make([]string, 0, len(groupDefsSorted))
	for _, d := range groupDefsSorted {
		out = append(out, d.Name)
	}
	return slices.Clip(out)
}
