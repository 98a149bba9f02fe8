package client

import (
	"github.com/dchest/siphash"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitioner chooses a record's partition.
type Partitioner int

const (
	// SipHash hashes the key with SipHash-2-4 (zero keys) modulo the
	// partition count, and spreads records without a key round-robin:
	// Fluvio's default.
	SipHash Partitioner = iota
	// Murmur2 is Kafka's Java default: murmur2 of the key, sticky batches
	// for records without a key. Use it when Java producers write the
	// same keys, so both place a key in the same partition.
	Murmur2
	// RoundRobin ignores keys.
	RoundRobin
)

func (p Partitioner) kgo() kgo.Partitioner {
	switch p {
	case Murmur2:
		return kgo.StickyKeyPartitioner(nil)
	case RoundRobin:
		return kgo.RoundRobinPartitioner()
	default:
		return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			next := 0 // one topic's partitioner is used by one record at a time
			return func(r *kgo.Record, n int) int {
				if r.Key == nil {
					next++
					return next % n
				}
				return int(siphashKey(r.Key) % uint64(n))
			}
		})
	}
}

func siphashKey(key []byte) uint64 { return siphash.Hash(0, 0, key) }
