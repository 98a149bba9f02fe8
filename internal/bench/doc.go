// Package bench is 'sluice bench': it starts a broker (or uses one that
// runs), produces and consumes through it with franz-go, and reports
// throughput, ack and end-to-end latency percentiles, and the broker's CPU
// per GB and memory read from /proc.
//
// The files follow a run: options.go (flags), run.go (the command and its
// targets), idle.go (idle connections and extra partitions held through a
// run), produce.go, consume.go and latency.go (the phases), histogram.go
// (percentiles), proc.go (broker CPU and memory), child.go (brokers bench
// starts), results.go and output.go (the report as JSON and text).
//
// The comparison against franz-go's kfake (--compare-kfake) needs a binary
// built with the kfake build tag (kfake.go), so the shipped binary does not
// link a fake broker.
package bench
