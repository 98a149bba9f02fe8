// Package compat holds compatibility and crash tests that run the real
// sluice binary on 127.0.0.1 (a free port, a temp data directory) and
// drive it with clients we did not write: franz-go, kcat, kafka-python and
// confluent-kafka (librdkafka). It has no non-test code.
package compat
