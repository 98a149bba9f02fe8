package objlog

import (
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	// DefaultFlushInterval is cluster.flush.interval.ms (25).
	DefaultFlushInterval = 25 * time.Millisecond
	// DefaultFlushMaxBytes is cluster.flush.max.bytes (4 MiB).
	DefaultFlushMaxBytes = 4 << 20
	// DefaultObjectPrefix is where flushes and merges write objects in
	// the store, and what the garbage collector lists for orphans.
	DefaultObjectPrefix = "data/"
	// DefaultRetryTimeout bounds a flush's retries: Kafka's producer
	// request.timeout.ms default (30 s), the time a client waits for a
	// produce answer.
	DefaultRetryTimeout = 30 * time.Second
	// DefaultRetryBackoff is the first pause between a flush's attempts;
	// it doubles up to maxRetryBackoff.
	DefaultRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff     = time.Second
)

// Config tunes a Flusher. Zero fields take the defaults.
type Config struct {
	// FlushInterval is cluster.flush.interval.ms: a flush starts this long
	// after the first append it will carry (default 25 ms).
	FlushInterval time.Duration
	// FlushMaxBytes is cluster.flush.max.bytes: a flush starts at once
	// when this many bytes of batches are waiting, and carries at most
	// this many (at least one batch) (default 4 MiB).
	FlushMaxBytes int
	// MaxPartitionsPerFlush bounds the partitions one flush carries; a
	// flush starts at once when that many have batches waiting. Default
	// and upper bound: the etcd client's MaxPartitionsPerCommit.
	MaxPartitionsPerFlush int
	// MaxPendingBytes bounds the bytes of appended batches not yet
	// acknowledged or failed (waiting and in flight); Append refuses
	// more with ErrBusy (default 8 × FlushMaxBytes).
	MaxPendingBytes int64
	// RetryTimeout bounds the retries of one flush's object write and
	// commit (default 30 s); the broker sets it to its produce timeout.
	RetryTimeout time.Duration
	// RetryBackoff is the first pause between attempts (default 50 ms),
	// doubling to 1 s.
	RetryBackoff time.Duration
	// ObjectPrefix is prepended to the names of flushed objects (default
	// "data/").
	ObjectPrefix string
	// Clock gives the time (LogAppendTime stamps, flush scheduling,
	// backoff); default the wall clock.
	Clock Clock
	// Logger gets the package's log lines (default slog.Default()).
	Logger *slog.Logger
}

// Clock is the time source of a Flusher: Now and a timer channel.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *Config) setDefaults(maxParts int) {
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushMaxBytes <= 0 {
		c.FlushMaxBytes = DefaultFlushMaxBytes
	}
	if c.MaxPartitionsPerFlush <= 0 || c.MaxPartitionsPerFlush > maxParts {
		c.MaxPartitionsPerFlush = maxParts
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 8 * int64(c.FlushMaxBytes)
	}
	if c.RetryTimeout <= 0 {
		c.RetryTimeout = DefaultRetryTimeout
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.ObjectPrefix == "" {
		c.ObjectPrefix = DefaultObjectPrefix
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
