// Package registry is Sluice's built-in schema registry, compatible with
// Confluent's Schema Registry REST API (v7/v8) and its _schemas topic.
//
// The state (subjects, versions, global ids, soft deletes, compatibility
// levels, modes) is built only by applying _schemas records (records.go,
// state.go): on start the broker replays the topic through Replay; a write
// decides under the registry's write lock, appends its record through the
// Store (the broker's compacted _schemas topic), and applies it only once
// the Store has it in the log, so an acknowledged write survives a crash
// and a failed one leaves no trace. Reads take a read lock and never wait
// for the log.
//
// Error codes 50002 and 50003: an append to the Store that does not
// complete within Config.StoreTimeout (Confluent's kafkastore.timeout.ms,
// default 500 ms) is answered 50002 (operation timeout), as Confluent's
// KafkaStore answers a produce or read-back slower than that. The write is
// then neither acknowledged nor half-applied: its append continues in the
// background and is applied only if it lands, and later writes wait for it
// (up to StoreTimeout, else 50002 too) before deciding (registry.go,
// write and lockWrites). 50003 (error forwarding to the primary) is never
// returned: Confluent answers it when a secondary instance cannot forward
// a write to the elected primary, and this registry is a single instance
// inside the broker, the only writer of its _schemas topic, so it forwards
// nothing.
//
// Compatibility: Avro by github.com/twmb/avro's schema resolution check,
// Protobuf (protobuf.go) and JSON Schema (jsonschema.go) by rules written
// here after Confluent's checkers; levels in compat.go. The HTTP API and
// its error codes are in http.go and errors.go, authorization in acl.go.
package registry
