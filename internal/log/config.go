package log

import (
	"log/slog"
	"math"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// TimestampType is a topic's message.timestamp.type.
type TimestampType int8

const (
	// CreateTime keeps the producer's timestamps.
	CreateTime TimestampType = 0
	// LogAppendTime stamps each batch with the broker's clock on append.
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Config holds the topic configs that govern one log. Field comments name
// the Kafka config and its default.
type Config struct {
	SegmentBytes       int64 // segment.bytes, 1073741824
	SegmentMs          int64 // segment.ms, 604800000
	SegmentIndexBytes  int32 // segment.index.bytes, 10485760: roll when the offset index is full
	IndexIntervalBytes int32 // index.interval.bytes, 4096
	MaxMessageBytes    int32 // max.message.bytes, 1048588
	// FlushMessages is flush.messages (default math.MaxInt64, never by
	// count): fsync once this many messages are unflushed. With 1 every
	// Append returns only after its data is fsynced; concurrent appenders
	// share fsyncs.
	FlushMessages int64
	// FlushMs is flush.ms (default math.MaxInt64), honoured by Tick.
	FlushMs       int64
	TimestampType TimestampType // message.timestamp.type, CreateTime
	// TimestampBeforeMaxMs is message.timestamp.before.max.ms and
	// TimestampAfterMaxMs message.timestamp.after.max.ms; math.MaxInt64
	// disables the check. The caller supplies Kafka's defaults.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// LeaderEpoch is written into the partitionLeaderEpoch of appended
	// batches.
	LeaderEpoch int32
	// ProducerIDExpirationMs is the broker's producer.id.expiration.ms
	// (86400000): Tick forgets a producer whose last batch is older and
	// that has no open transaction in this log.
	ProducerIDExpirationMs int64

	// Lifecycle: retention (retention.go) and compaction (clean.go).
	RetentionMs       int64 // retention.ms, 604800000; negative: no time limit
	RetentionBytes    int64 // retention.bytes, -1; negative: no size limit
	FileDeleteDelayMs int64 // file.delete.delay.ms, 60000
	// Delete and Compact are cleanup.policy (default delete): Delete
	// enables retention by time and size; Compact enables the cleaner and
	// makes Append refuse records without a key (INVALID_RECORD).
	Delete, Compact        bool
	DeleteRetentionMs      int64   // delete.retention.ms, 86400000: tombstones are kept this long
	MinCompactionLagMs     int64   // min.compaction.lag.ms, 0
	MaxCompactionLagMs     int64   // max.compaction.lag.ms, math.MaxInt64
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, 0.5
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 60 * 60 * 1000,
		SegmentIndexBytes:      10 << 20,
		IndexIntervalBytes:     4096,
		MaxMessageBytes:        1048588,
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
		TimestampType:          CreateTime,
		TimestampBeforeMaxMs:   math.MaxInt64,
		TimestampAfterMaxMs:    math.MaxInt64,
		ProducerIDExpirationMs: 24 * 60 * 60 * 1000,

		RetentionMs:            7 * 24 * 60 * 60 * 1000,
		RetentionBytes:         -1,
		FileDeleteDelayMs:      60000,
		Delete:                 true,
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
	}
}

// Options configure Open.
type Options struct {
	FS     vfs.FS           // nil means vfs.Default
	Dir    string           // the partition directory, created if missing
	Config Config           //
	Logger *slog.Logger     // nil means slog.Default()
	Now    func() time.Time // nil means time.Now
	// Space, if set, refuses appends while the disk is nearly full (see
	// SpaceGuard); it may be shared by every log of a broker.
	Space *SpaceGuard
	// Lazy leaves a cleanly closed log dormant until first used (see
	// lazy.go).
	Lazy bool
	// LazyCreate leaves a log whose directory does not exist dormant
	// until first used, when the directory is created (see lazy.go).
	LazyCreate bool
	// Prepare, if set, is called before the log reads Dir, at Open or,
	// for a dormant lazy log, at its first use; fresh says Dir did not
	// exist and was just created, empty. Its error fails the Open (or
	// the wake).
	Prepare func(fresh bool) error
	// Files, if set, caps the open segment files of the logs sharing it,
	// putting idle ones loaded on first use back to sleep (filecap.go).
	// It implies Lazy: only logs loaded on first use are counted, and
	// without it every log would be loaded at Open whatever the cap.
	Files *FileCap
	// OnFlush, if set, is called after each flush that fsynced something
	// (group commit's fsync of the dirty segments, Flush, Tick), with
	// how long its fsyncs took: Kafka's LogFlushRateAndTimeMs. It must
	// be cheap: it runs on the appender's path.
	OnFlush func(time.Duration)
}
