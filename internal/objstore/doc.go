// Package objstore is cluster mode's object-store layer (issue #20): the
// data of a cluster lives in an S3-compatible store, its metadata in etcd
// (internal/cluster). The package has no knowledge of etcd or Kafka; it
// stores and reads bytes.
//
//   - Store (store.go) is the interface: Put, ranged Get, Delete and List
//     by prefix, each under the caller's context. S3 (s3.go) implements it
//     on the AWS SDK v2, configured by a URL
//     s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path_style=true with
//     credentials from the SDK's usual chain (AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files, roles). It
//     retries retriable errors itself (exponential backoff with full
//     jitter, a per-attempt timeout, never past the caller's deadline;
//     the SDK's own retryer is off) and checks that a read returned exactly
//     the bytes asked for.
//   - Errors are classified by sentinel, wrapped with %w: ErrNotFound,
//     ErrRetriable (5xx, throttling, timeouts, connection failures, a
//     truncated body), ErrPermanent (authentication, a missing or invalid
//     bucket, other 4xx), plus ErrOutOfRange (a range past an object's end,
//     also ErrPermanent) and ErrCorrupt (format checks).
//   - Metrics (metrics.go): Prometheus counters and histograms of requests
//     (each attempt) by operation and result, bytes, latency, failed
//     operations by class, and the cache's hits and size, registered on a
//     caller's Registerer under sluice_objstore_*.
//   - The object format (format.go, documented there): batches of many
//     partitions back to back, a footer index of entries (topic id,
//     partition, offsets, max timestamp, leader epoch, record count,
//     position, length, CRC32C) and a trailer with the footer's length and
//     CRC32C. Writer builds an object; ReadFooter and ReadEntry read one
//     through ranged GETs; Verify checks a whole object.
//   - Cache (cache.go): a read-through cache of (object, offset, length)
//     ranges, a memory LRU and a disk LRU, each bounded in bytes, with one
//     source read per range however many callers miss at once.
//   - faultproxy: an HTTP reverse proxy that injects errors, delays,
//     resets and truncated responses in front of an S3 endpoint, for tests
//     and fault runs.
//
// Tests run against an in-process fake (gofakes3) and through the fault
// proxy; with SLUICE_S3_URL set (scripts/s3-server.sh starts versitygw and
// prints it) they also run against that server.
package objstore
