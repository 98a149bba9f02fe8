package log

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Sentinel errors. Returned errors wrap them (test with errors.Is) and add
// detail. Kafka error codes they map to are noted for the broker.
var (
	// ErrCorrupt: a batch failed a CRC or structural check (CORRUPT_MESSAGE).
	// Damage found in stored data is also ErrDiskCorruption (verify.go).
	// Use IsCorruption to test for it.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrUnsupportedMagic: the batch is not a v2 batch. Always wrapped
	// together with ErrCorrupt.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
	// ErrInvalidRecord: the batch is well formed but not acceptable
	// (INVALID_RECORD).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrMessageTooLarge: the batch exceeds max.message.bytes
	// (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("record batch larger than max.message.bytes")
	// ErrInvalidTimestamp: a record's CreateTime is out of the allowed
	// range (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("record timestamp out of range")
	// ErrOffsetOutOfRange: OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: INVALID_PRODUCER_EPOCH.
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrStorage wraps every I/O error (KAFKA_STORAGE_ERROR). Once an
	// append failed with it, every later append fails with it too.
	ErrStorage = errors.New("storage error")
	// ErrUnsupportedCompression: batches a legacy (magic 0/1) fetch
	// cannot be sent, zstd (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompression = errors.New("compression not supported by the message format")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log closed")
	// ErrDecompressBusy: the process-wide decompression budget is
	// exhausted (budget.go); REQUEST_TIMED_OUT, retriable.
	ErrDecompressBusy = errors.New("decompression memory budget exhausted; retry")
)

// IsCorruption reports whether err reports corrupt data, either in a
// produced batch or found on disk.
func IsCorruption(err error) bool { return errors.Is(err, ErrCorrupt) }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRecord}, args...)...)
}

// storageErr wraps an I/O error as ErrStorage. A closed file becomes
// ErrClosed, since that only happens when the log was closed under a read;
// errors that already carry ErrStorage, ErrClosed or ErrCorrupt pass
// through.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, ErrStorage) || errors.Is(err, ErrClosed) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// MaxRecordErrors bounds the records a RecordErrors lists: a batch of tiny
// records could otherwise make one refusal list millions. Kafka has no
// such bound; a batch with more bad records than this is still refused
// whole, only the list stops here (Total counts them all).
const MaxRecordErrors = 1 << 16

// RecordErrors is the error for a batch refused because of some of its
// records, Kafka's RecordValidationException: every record is checked, and
// each bad one is listed with its index in the batch, so that a client can
// fail just those (ProduceResponse record_errors, v8+). It wraps
// ErrInvalidTimestamp when any record's timestamp is out of range, else
// ErrInvalidRecord, and its message is Kafka's.
type RecordErrors struct {
	// Partition is the partition as Kafka prints it, "topic-0".
	Partition string
	// Total is the number of bad records, listed or not.
	Total  int
	lo, hi int64 // the allowed timestamp range
	errs   []recordErr
}

// RecordError is one bad record of a batch.
type RecordError struct {
	Index   int32 // in the batch, from 0
	Message string
}

type recordErr struct {
	index  int32
	kind   uint8
	ts     int64
	offset int64
	// key and value sizes, for errLogAppendTime's message
	keyLen, valueLen int
}

// Kinds of record error.
const (
	errNoKey         = iota // a keyless record on a compacted topic
	errTimestamp            // a CreateTime out of range (INVALID_TIMESTAMP)
	errLogAppendTime        // a producer's LogAppendTime batch (INVALID_TIMESTAMP)
)

func (e *RecordErrors) add(r recordErr) {
	e.Total++
	if len(e.errs) < MaxRecordErrors {
		e.errs = append(e.errs, r)
	}
}

func (e *RecordErrors) anyTimestamp() bool {
	for _, r := range e.errs {
		if r.kind != errNoKey {
			return true
		}
	}
	return false
}

// Records lists the bad records (at most MaxRecordErrors), in batch order,
// with Kafka's message for each.
func (e *RecordErrors) Records() []RecordError {
	out := make([]RecordError, len(e.errs))
	for i, r := range e.errs {
		out[i] = RecordError{Index: r.index, Message: e.message(r)}
	}
	return out
}

func (e *RecordErrors) message(r recordErr) string {
	switch r.kind {
	case errTimestamp:
		return fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
			r.ts, r.offset, e.lo, e.hi)
	case errLogAppendTime:
		// The record as Kafka's DefaultRecord prints itself.
		return fmt.Sprintf("Invalid timestamp type in message DefaultRecord(offset=%d, timestamp=%d, key=%d bytes, value=%d bytes). "+
			"Producer should not set timestamp type to LogAppendTime.", r.offset, r.ts, r.keyLen, r.valueLen)
	}
	return "Compacted topic cannot accept message without key in topic partition " + e.Partition
}

// Error is Kafka's LogValidator message.
func (e *RecordErrors) Error() string {
	if e.anyTimestamp() {
		return "One or more records have been rejected due to invalid timestamp"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [", e.Total)
	for i, r := range e.errs[:min(len(e.errs), 3)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "RecordError(batchIndex=%d, message='%s')", r.index, e.message(r))
	}
	b.WriteString("]")
	return b.String()
}

// Unwrap makes errors.Is see ErrInvalidTimestamp or ErrInvalidRecord.
func (e *RecordErrors) Unwrap() error {
	if e.anyTimestamp() {
		return ErrInvalidTimestamp
	}
	return ErrInvalidRecord
}
