package log

import (
	"errors"
	"fmt"
	"io/fs"
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
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log closed")
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
