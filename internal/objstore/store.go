package objstore

import (
	"context"
	"errors"
	"time"
)

// The error classes. Every error a Store returns wraps exactly one of
// ErrNotFound, ErrRetriable or ErrPermanent (test with errors.Is); the
// format reader adds ErrCorrupt, and a range past an object's end is
// ErrOutOfRange (which also wraps ErrPermanent).
var (
	// ErrNotFound: the object does not exist (S3's NoSuchKey, a 404 on a
	// key). A missing bucket is ErrPermanent, not ErrNotFound.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrRetriable: the operation may succeed if tried again later: 5xx,
	// throttling (429, SlowDown), timeouts (the attempt's or the caller's
	// context), connection refused/reset, a truncated body. The Store has
	// already retried within its attempt budget and the caller's context.
	ErrRetriable = errors.New("objstore: retriable error")
	// ErrPermanent: trying again will not help: authentication or
	// authorization failures, a missing or invalid bucket, a malformed
	// request, a bad configuration.
	ErrPermanent = errors.New("objstore: permanent error")
	// ErrOutOfRange: a ranged read asked for bytes past the object's end
	// (wrapped together with ErrPermanent).
	ErrOutOfRange = errors.New("objstore: range past the end of the object")
	// ErrCorrupt: an object's bytes fail the format's checks (magic,
	// version, lengths, CRC32C of the footer or of an entry's bytes).
	ErrCorrupt = errors.New("objstore: corrupt object")
)

// Store is an object store: immutable objects under string keys, relative to
// the store's configured prefix. Objects are written whole and read by range.
// All methods honour the context's deadline and cancellation, and are safe
// for concurrent use.
type Store interface {
	// Put writes the object key with data, replacing any object of that
	// name. When Put returns nil the object is durable in the store.
	Put(ctx context.Context, key string, data []byte) error
	// Get reads length bytes at offset off of the object key; length < 0
	// reads to the object's end. It returns exactly length bytes or an
	// error (a short object is ErrOutOfRange, never a short slice).
	Get(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Delete removes the object key. Deleting a missing object is not an
	// error (S3's semantics).
	Delete(ctx context.Context, key string) error
	// List calls fn for each object whose key starts with prefix, in
	// lexical key order, until fn returns an error (returned as is).
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// RangeReader is the read side of a Store, which the Cache also implements:
// the format's reader works through either.
type RangeReader interface {
	Get(ctx context.Context, key string, off, length int64) ([]byte, error)
}

// ObjectInfo describes one listed object.
type ObjectInfo struct {
	Key          string // relative to the store's prefix
	Size         int64
	LastModified time.Time
}
