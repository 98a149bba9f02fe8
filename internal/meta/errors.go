package meta

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers map them to Kafka error codes with errors.Is.
var (
	// ErrUnknownConfig: a config name that is not a known topic (or broker)
	// config. Kafka answers INVALID_CONFIG.
	ErrUnknownConfig = errors.New("unknown config")
	// ErrInvalidConfig: a value of the wrong type, out of range or not one of
	// the allowed values. Kafka answers INVALID_CONFIG.
	ErrInvalidConfig = errors.New("invalid config value")
	// ErrReadOnlyConfig: a broker config that cannot be altered dynamically.
	// Kafka answers INVALID_CONFIG ("Cannot update these configs dynamically").
	ErrReadOnlyConfig = errors.New("read-only config")
	// ErrInvalidTopicName: INVALID_TOPIC_EXCEPTION.
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrTopicExists: TOPIC_ALREADY_EXISTS.
	ErrTopicExists = errors.New("topic already exists")
	// ErrDuplicateTopicID: CreateTopic was given an explicit ID already used
	// by another topic.
	ErrDuplicateTopicID = errors.New("duplicate topic ID")
	// ErrUnknownTopic: UNKNOWN_TOPIC_OR_PARTITION.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrInvalidPartitions: INVALID_PARTITIONS.
	ErrInvalidPartitions = errors.New("invalid partitions")
	// ErrCorruptMetadata: the metadata file exists but cannot be trusted
	// (bad checksum, bad JSON, unknown version, broken invariants). The store
	// never resets such a file; an operator must restore or remove it.
	ErrCorruptMetadata = errors.New("corrupt metadata")
)

// ConfigError reports one rejected config entry. Err is ErrUnknownConfig,
// ErrInvalidConfig or ErrReadOnlyConfig; Error() is Kafka's message for the
// rejection (e.g. "Invalid value x for configuration retention.ms: Not a
// number of type LONG"), suitable for a response's error message.
type ConfigError struct {
	Name  string
	Value string
	Err   error
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Err.Error() + ": " + e.Name
}

func (e *ConfigError) Unwrap() error { return e.Err }

// invalidValue builds Kafka's ConfigException message for a bad value.
func invalidValue(name, value, reason string) *ConfigError {
	return &ConfigError{
		Name:  name,
		Value: value,
		Err:   ErrInvalidConfig,
		Msg:   "Invalid value " + value + " for configuration " + name + ": " + reason,
	}
}

// kafkaError is an error whose text is Kafka's message for the condition and
// which wraps one of the sentinels above.
type kafkaError struct {
	msg string
	err error
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.err }

func newKafkaError(sentinel error, msg string) error {
	return &kafkaError{msg: msg, err: sentinel}
}
