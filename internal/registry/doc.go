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
// Compatibility: Avro by github.com/twmb/avro's schema resolution check,
// Protobuf (protobuf.go) and JSON Schema (jsonschema.go) by rules written
// here after Confluent's checkers; levels in compat.go. The HTTP API and
// its error codes are in http.go and errors.go, authorization in acl.go.
package registry
