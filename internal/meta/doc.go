// Package meta holds the broker's cluster metadata: Kafka's topic and broker
// config definitions (names, types, defaults, documentation, validation),
// the KIP-848 group config definitions (groupconfigs.go),
// the resolution of effective configs with Kafka's precedence and synonym
// reporting, topic-name validation, and the durable Store that persists
// topics, the cluster ID, dynamic broker configs and group configs, and the
// SCRAM Credentials store. Both write through a vfs.FS (file.go), atomically
// and durably (vfs.WriteFileAtomic) before a change becomes visible;
// powerloss_test.go checks that on crashfs.
//
// Config behaviour follows Apache Kafka 4.0: DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs and CreateTopics handlers can answer from
// ResolveTopic, ResolveBroker, ValidateTopicConfigs and ValidateBrokerConfigs
// exactly as a Kafka broker would (see resolve.go for the one documented
// difference in synonym reporting).
package meta
