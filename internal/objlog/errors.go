package objlog

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors. Every error of Append, a Completion, Read and the offset lookups
// wraps one of these (or is a batch validation error of internal/log,
// which the broker maps as in single-node mode); ErrorCode gives the
// Kafka error code.
var (
	// ErrNotLeader: this broker does not (or no longer) lead the
	// partition: another broker acquired it (the commit's fence failed),
	// the broker's etcd lease ended, or the partition was resigned.
	// NOT_LEADER_OR_FOLLOWER: clients refresh metadata and retry. An
	// append that fails with it after an attempt of unknown outcome (see
	// ErrTimeout) may have become durable all the same.
	ErrNotLeader = errors.New("objlog: not the partition's leader")
	// ErrTimeout: a flush did not become durable within Config.RetryTimeout
	// (the object store or etcd erred or was slow throughout). Nothing
	// was acknowledged; if the last commit attempt's outcome was unknown
	// the records may have become durable after all (as a Kafka produce
	// that timed out). REQUEST_TIMED_OUT, retriable.
	ErrTimeout = errors.New("objlog: flush not durable in time")
	// ErrBusy: the partition cannot take appends for now: the flush buffer
	// is full (Config.MaxPendingBytes), or an earlier flush failed with an
	// unknown outcome and the partition waits until etcd says where its
	// high watermark is. REQUEST_TIMED_OUT, retriable.
	ErrBusy = errors.New("objlog: partition busy")
	// ErrStorage: the object store or etcd refused a flush or read in a way
	// retrying the same request does not fix (permission, bad
	// configuration, a corrupt object, an etcd transaction over its
	// limits). KAFKA_STORAGE_ERROR (retriable in Kafka).
	ErrStorage = errors.New("objlog: storage error")
	// ErrOffsetOutOfRange: a read or DeleteRecords offset outside
	// [log start, high watermark]. OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("objlog: offset out of range")
	// ErrClosed: the Flusher was closed. NOT_LEADER_OR_FOLLOWER, as a
	// Kafka broker answers for a partition it stopped serving.
	ErrClosed = errors.New("objlog: closed")
)

// ErrorCode is the Kafka error code of one of this package's errors, or
// kerr.UnknownServerError's for any other error.
func ErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrBusy):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	}
	return kerr.UnknownServerError.Code
}
