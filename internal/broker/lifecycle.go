package broker

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
)

// Log lifecycle: retention, compaction and the free-space floor.
//
// Two goroutines, started by Serve (b.goOwned), stopped by Close (b.done)
// and waited for through b.wg:
//
//   - the retention loop applies every log's retention (see
//     internal/log/retention.go) every log.retention.check.interval.ms
//     (Sluice's default 5000, Kafka's 300000), then nudges the cleaner;
//   - the cleaner compacts, one log at a time, the log whose dirty ratio is
//     highest among those due (internal/log/clean.go), until none is; then
//     it waits log.cleaner.backoff.ms (Kafka's 15000) or the next nudge, so
//     with the defaults work is found within 5 s. Its reads are throttled to
//     log.cleaner.io.max.bytes.per.second, and, while requests are being
//     served (one within the last second; an idle broker cleans unpaced),
//     it works at most half the time (log.CleanerDutyCycle); it yields its
//     core between batches, so that it neither holds a core that requests wait for nor delays
//     them by more than a millisecond-long slice (produce p99 while
//     cleaning: BenchmarkProduceP99WhileCleaning). One clean maps at most
//     as many keys as log.cleaner.dedupe.buffer.size holds at 24 bytes a
//     key, filled to log.cleaner.io.buffer.load.factor, as Kafka does.
//
// Times come from the injected clock (Config.Now); only the loops' pacing
// uses real timers, and tests call runRetention and runCleaner directly.
//
// The free-space floor, log.dir.min.free.bytes (Sluice's own config; when
// unset, 5% of the data directory's file system, at most 1 GiB:
// log.DefaultMinFree), is a log.SpaceGuard shared by every log: an append
// that would take the free space below it fails with KAFKA_STORAGE_ERROR,
// without making the log's error sticky.

const minFreeBytesConfig = "log.dir.min.free.bytes"

type lifecycle struct {
	space *log.SpaceGuard
	// files caps the partitions' open segment files (log.open.files.max;
	// nil: no cap). See internal/log/filecap.go.
	files *log.FileCap
	wake  chan struct{} // nudges the cleaner; capacity 1
	// lastRequest is when (monoNow, in ns; 0: never) a request was last
	// dispatched, at busyGranularity: the cleaner paces itself only while
	// requests came within busyWindow.
	lastRequest atomic.Int64
}

const (
	busyWindow      = time.Second
	busyGranularity = time.Millisecond
)

// sawRequest notes a request, dispatched at now (a monoNow reading the
// request path has taken anyway), for busy; it writes the shared word at
// most once per busyGranularity.
func (lc *lifecycle) sawRequest(now time.Duration) {
	if int64(now)-lc.lastRequest.Load() >= int64(busyGranularity) {
		lc.lastRequest.Store(max(int64(now), 1))
	}
}

// busy reports whether a request came within busyWindow.
func (lc *lifecycle) busy() bool {
	last := lc.lastRequest.Load()
	return last != 0 && int64(monoNow())-last < int64(busyWindow)
}

// initLifecycle sets up the free-space guard and the memory budgets
// (log.decompression.budget.bytes, process-wide; queued.max.request.bytes,
// admission.go); called by New before the logs are opened.
func (b *Broker) initLifecycle() {
	minFree := log.DefaultMinFree(b.cfg.DataDir) // unset: 5% of the file system, at most 1 GiB
	if v := b.brokerValue(minFreeBytesConfig); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.logger.Error("broker config without an integer value", "config", minFreeBytesConfig, "err", err)
		}
		minFree = n
	}
	b.lc.space = log.NewSpaceGuard(b.cfg.DataDir, minFree)
	b.lc.files = log.NewFileCap(int(min(b.brokerInt("log.open.files.max"), math.MaxInt32)))
	log.SetDecompressBudget(b.brokerInt("log.decompression.budget.bytes"))
	b.frames = newFrameBudget(b.brokerInt(queuedMaxRequestBytesConfig))
	b.lc.wake = make(chan struct{}, 1)
}

func (b *Broker) retentionLoop() {
	interval := max(b.brokerMs("log.retention.check.interval.ms"), time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.runRetention(b.cfg.Now())
			select {
			case b.lc.wake <- struct{}{}:
			default:
			}
		}
	}
}

// runRetention applies retention to every log at now.
func (b *Broker) runRetention(now time.Time) {
	if b.cl != nil {
		b.cl.clusterRetention(now) // clusterlife.go
	}
	for _, p := range b.allPartitions() {
		res, err := p.log.ApplyRetention(now)
		if err != nil && !errors.Is(err, log.ErrClosed) {
			b.logger.Warn("applying retention failed", "topic", p.topic, "partition", p.index, "err", err)
		}
		if res.Deleted > 0 {
			b.metrics.RetentionDeleted(res.Deleted, res.DeletedBytes) // metrics.go; nil-safe
			b.logger.Info("retention deleted segments", "topic", p.topic, "partition", p.index,
				"segments", res.Deleted, "bytes", res.DeletedBytes, "log_start_offset", res.LogStartOffset)
		}
	}
}

func (b *Broker) cleanerLoop() {
	for {
		for b.runCleaner(b.cfg.Now()) {
			select {
			case <-b.done:
				return
			default:
			}
		}
		backoff := max(b.brokerMs("log.cleaner.backoff.ms"), time.Millisecond)
		t := time.NewTimer(backoff)
		select {
		case <-b.done:
			t.Stop()
			return
		case <-b.lc.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// runCleaner cleans the due log with the highest dirty ratio and reports
// whether it cleaned one.
func (b *Broker) runCleaner(now time.Time) bool {
	var best *partition
	bestRatio := -1.0
	for _, p := range b.allPartitions() {
		if st := p.log.CleanStatus(now); st.Due && st.DirtyRatio > bestRatio {
			best, bestRatio = p, st.DirtyRatio
		}
	}
	if best == nil {
		return false
	}
	opts := log.CleanOptions{Stop: b.done, Throttle: b.cleanerThrottle(), DutyCycle: log.CleanerDutyCycle,
		Busy: b.lc.busy, MaxKeys: b.cleanerMaxKeys()}
	st, err := best.log.Clean(now, opts)
	if err != nil {
		if !errors.Is(err, log.ErrClosed) {
			b.logger.Warn("cleaning log failed", "topic", best.topic, "partition", best.index, "err", err)
		}
		return false
	}
	b.metrics.Cleaned(st.Segments, st.BytesRead, st.BytesBefore, st.BytesAfter) // metrics.go; nil-safe
	if st.Segments == 0 {
		// Due, yet nothing to rewrite (say a delete horizon passed but
		// what holds it cannot go yet): back off rather than spin.
		return false
	}
	b.logger.Info("cleaned log", "topic", best.topic, "partition", best.index, "dirty_ratio", bestRatio,
		"segments", st.Segments, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter)
	return true
}

// dedupeEntryBytes is what Kafka's offset map spends per key: a 16-byte
// MD5 hash and an 8-byte offset. Sluice's map (an open-addressing table of
// 24-byte slots kept at most 70% full, doubling as it grows) spends up to
// about twice that per key, three times while it doubles; the entry count,
// not the bytes, is what log.cleaner.dedupe.buffer.size keeps Kafka's
// meaning for.
const dedupeEntryBytes = 24

// cleanerMaxKeys returns how many keys one clean may map, as Kafka sizes
// its offset map: log.cleaner.dedupe.buffer.size / 24 entries, filled up
// to log.cleaner.io.buffer.load.factor.
func (b *Broker) cleanerMaxKeys() int {
	size := b.brokerInt("log.cleaner.dedupe.buffer.size")
	load, err := strconv.ParseFloat(b.brokerValue("log.cleaner.io.buffer.load.factor"), 64)
	if err != nil || load <= 0 || load > 1 {
		load = 0.9
	}
	return max(int(float64(size/dedupeEntryBytes)*load), 1)
}

// cleanerThrottle returns a throttle holding the cleaner's reads to
// log.cleaner.io.max.bytes.per.second, or nil when unlimited.
func (b *Broker) cleanerThrottle() func(int) {
	rate, err := strconv.ParseFloat(b.brokerValue("log.cleaner.io.max.bytes.per.second"), 64)
	if err != nil || rate <= 0 || rate >= math.MaxInt64 {
		return nil
	}
	start := time.Now()
	var done float64
	return func(n int) {
		done += float64(n)
		ahead := time.Duration(done/rate*float64(time.Second)) - time.Since(start)
		if ahead > 10*time.Millisecond {
			select {
			case <-time.After(ahead):
			case <-b.done:
			}
		}
	}
}

// lifecycleConfig maps a topic's retention and compaction configs into
// c; get returns a topic config's effective value.
func lifecycleConfig(c *log.Config, overrides map[string]string, bc meta.Broker) {
	get := func(name string) string { return meta.TopicValue(name, overrides, bc) }
	i64 := func(name string, def int64) int64 {
		v, err := strconv.ParseInt(get(name), 10, 64)
		if err != nil {
			return def
		}
		return v
	}
	c.RetentionMs = i64("retention.ms", c.RetentionMs)
	c.RetentionBytes = i64("retention.bytes", c.RetentionBytes)
	c.FileDeleteDelayMs = i64("file.delete.delay.ms", c.FileDeleteDelayMs)
	c.DeleteRetentionMs = i64("delete.retention.ms", c.DeleteRetentionMs)
	c.MinCompactionLagMs = i64("min.compaction.lag.ms", c.MinCompactionLagMs)
	c.MaxCompactionLagMs = i64("max.compaction.lag.ms", c.MaxCompactionLagMs)
	if v, err := strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64); err == nil {
		c.MinCleanableDirtyRatio = v
	}
	c.Delete, c.Compact = false, false
	for _, p := range strings.Split(get("cleanup.policy"), ",") {
		switch strings.TrimSpace(p) {
		case "delete":
			c.Delete = true
		case "compact":
			c.Compact = true
		}
	}
	if !c.Delete && !c.Compact {
		c.Delete = true // Kafka's default policy
	}
}
