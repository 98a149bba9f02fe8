// Package compat holds compatibility and crash tests that run the real
// sluice binary on 127.0.0.1 (a free port, a temp data directory) and
// drive it with clients we did not write: franz-go, kcat, kafka-python and
// confluent-kafka (librdkafka), and for the schema registry franz-go's
// pkg/sr, confluent-kafka's schema_registry module and the npm clients
// @confluentinc/schemaregistry and @kafkajs/confluent-schema-registry
// (testdata/npm, installed by `npm ci`). It also runs the examples under
// examples/ against the binary. It has no non-test code.
package compat
