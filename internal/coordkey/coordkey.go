// Package coordkey maps a coordinator key (a group id, a transactional id)
// to the partition of its internal topic (__consumer_offsets,
// __transaction_state) that holds its records, as Kafka does:
// Utils.abs(key.hashCode()) % partitions, with Java's String.hashCode.
package coordkey

import "unicode/utf16"

// javaStringHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... over
// UTF-16 code units, in 32-bit two's-complement arithmetic.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// Partition is the partition of key among partitions:
// Utils.abs(key.hashCode()) % partitions, where Kafka's Utils.abs maps
// Integer.MIN_VALUE to 0.
func Partition(key string, partitions int32) int32 {
	h := javaStringHashCode(key)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}
