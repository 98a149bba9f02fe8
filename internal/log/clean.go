package log

import (
	"errors"
	"math"
	"slices"
	"sort"
	"time"
)

// Log compaction (cleanup.policy=compact), after Kafka's LogCleaner.
//
// What is cleaned: the inactive segments below the first uncleanable
// offset, which is the active segment's base or, with min.compaction.lag.ms,
// the base of the first segment holding a record younger than the lag.
// Offsets below the cleaner offset (persisted in offsets.checkpoint) were
// cleaned before; the rest is dirty. CleanStatus reports the dirty ratio,
// dirty / (clean + dirty) bytes, and whether a clean is due: when it
// reaches min.cleanable.dirty.ratio, or when the first dirty segment's
// first batch is older than max.compaction.lag.ms, or, with nothing dirty,
// when the earliest delete horizon of a tombstone or marker the last clean
// kept has passed (KIP-534; known until a restart only).
//
// How: one pass over the dirty segments maps each key (by a 128-bit hash,
// as Kafka's MD5-keyed offset map) to the offset of its newest record;
// the clean section needs no mapping, as it holds a key once at most. The
// map is bounded (CleanOptions.MaxKeys, Kafka's dedupe buffer): dirty
// segments are mapped whole while the map's keys plus the next segment's
// offsets fit, and the clean ends with the last one mapped (the first is
// mapped regardless). A second pass rewrites each cleanable segment up to
// there holding something to drop,
// keeping a record only if it has a key, is the newest for that key and
// is not a tombstone (null value) past its delete horizon (KIP-534): the
// first clean to see a tombstone sets the delete-horizon attribute bit
// (0x40) of its batch and stores clean time + delete.retention.ms as the
// batch's firstTimestamp, re-encoding the records' timestampDelta varints
// so that every record keeps its timestamp (clients read firstTimestamp +
// delta) and maxTimestamp stays the true maximum, so the time index,
// ListOffsets and retention by time are unaffected; a later clean after
// the horizon drops the tombstones. Records without a key are dropped, as
// Kafka does. Records of aborted transactions are dropped and never shadow
// another record; nothing at or after the last stable offset is cleaned.
//
// Every batch keeps its base offset, lastOffsetDelta, its first timestamp
// (but for the delete horizon above) and, but for the transactional
// batches (clean_txn.go), its producer fields, so kept records keep their offsets,
// sequence numbers and timestamps, and the bytes of each kept record are
// copied unchanged (but for a new horizon's deltas); a batch losing records is
// re-encoded with its original codec (gzip, snappy raw block, lz4 frame,
// zstd), its maxTimestamp recomputed. A batch losing every record stays
// as an empty batch (no records, no codec, maxTimestamp -1) when it
// carries a producer id, as Kafka keeps a producer's batches for its
// state; without one it is folded into the previous output batch, whose
// lastOffsetDelta grows to cover it, or, with no such batch, kept empty.
// So offsets still run on without gaps from batch to batch and segment to
// segment, which the log's readers and recovery rely on.
//
// The files, by concern: clean.go (what is cleaned and when; Clean's two
// passes), clean_keymap.go (the key map), clean_batch.go (the rules for
// one batch, whatever holds it), clean_rewrite.go (rewriting a segment),
// compact.go (Compactor: the same rules over batches held elsewhere,
// cluster mode's object-stored logs), clean_txn.go (transaction-marker and delete-horizon rules),
// clean_pace.go (pacing) and clean_swap.go (the swap protocol and its crash
// safety).

const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
	cleanWindow   = 1 << 20
)

// errCleanStopped: Clean was asked to stop.
var errCleanStopped = errors.New("cleaning stopped")

// CleanOptions tune one Clean call.
type CleanOptions struct {
	// Stop, when closed, makes Clean return early; what was swapped in
	// stays.
	Stop <-chan struct{}
	// Throttle, if set, is called with the bytes read after each batch;
	// it may sleep to bound the cleaner's I/O rate.
	Throttle func(bytes int)
	// DutyCycle, in (0, 1), paces the cleaner: it works at most this
	// fraction of the wall-clock time, cleanWorkSlice at a time, and
	// sleeps in between. 0 (or 1 and more): unpaced. Why: on a machine
	// whose cores are all busy, a cleaner that never sleeps holds a core
	// that produce and fetch requests then wait for, milliseconds at a
	// time (BenchmarkProduceP99WhileCleaning in internal/broker).
	DutyCycle float64
	// Busy, when set, limits the pacing to the times it reports true
	// (the broker: it served a request within the last second): an idle
	// broker has nobody to leave the core to, so its cleaner runs
	// unpaced (about twice as fast), still yielding.
	Busy func() bool
	// MaxKeys bounds the offset map, Kafka's dedupe buffer: one Clean
	// maps dirty segments, whole, only while their offsets (an upper
	// bound on their keys) fit within MaxKeys, and cleans up to the last
	// one mapped; the rest waits for the next Clean. The first dirty
	// segment is mapped and cleaned even if it does not fit (Kafka stops
	// with an error instead, which would leave the log uncleaned for
	// good). 0: unbounded.
	MaxKeys int

	pacer *pacer // set by Clean
}

// CleanStats reports what Clean did.
type CleanStats struct {
	Segments     int   // segments rewritten
	BytesRead    int64 // bytes of the segments read (both passes)
	BytesBefore  int64 // size of the rewritten segments before
	BytesAfter   int64 // and after
	Keys         int   // distinct keys in the cleaned range
	CleanerStart int64 // the cleaned range, [CleanerStart, CleanerEnd)
	CleanerEnd   int64
}

// CleanStatus is a compacted log's cleaning state.
type CleanStatus struct {
	CleanBytes, DirtyBytes int64
	DirtyRatio             float64
	// Due: the ratio reached min.cleanable.dirty.ratio, or dirty data is
	// older than max.compaction.lag.ms.
	Due bool
}

// cleanableLocked returns the segments that may be cleaned at now (see
// above). Called under mu.
func (l *Log) cleanableLocked(now time.Time, cfg *Config) []*segment {
	segs := l.segs[:len(l.segs)-1]
	// Nothing at or after the last stable offset: an open transaction
	// may still abort (txn.go).
	if lso := l.txns.stable(l.next); len(segs) > 0 && segs[len(segs)-1].next > lso {
		i := sort.Search(len(segs), func(i int) bool { return segs[i].next > lso })
		segs = segs[:i]
	}
	if cfg.MinCompactionLagMs > 0 {
		for i, s := range segs {
			if ts, _ := s.maxTimestamp(); ts != noTimestamp && now.UnixMilli()-ts < cfg.MinCompactionLagMs {
				return segs[:i:i]
			}
		}
	}
	return segs[:len(segs):len(segs)]
}

// CleanStatus reports whether the log needs cleaning at now. A log whose
// cleanup.policy lacks compact never does.
func (l *Log) CleanStatus(now time.Time) CleanStatus {
	if !l.enterLoaded() {
		return CleanStatus{} // not due until woken (lazy.go)
	}
	defer l.leaveLoaded()
	var st CleanStatus
	cfg := l.cfg.Load()
	if !cfg.Compact {
		return st
	}
	l.mu.RLock()
	if l.closed || l.err != nil {
		l.mu.RUnlock()
		return st
	}
	segs := l.cleanableLocked(now, cfg)
	l.lc.mu.Lock()
	cleaner := l.lc.cleanerOffset
	l.lc.mu.Unlock()
	var firstDirty *segment
	for _, s := range segs {
		if s.next <= cleaner {
			st.CleanBytes += s.size.Load()
			continue
		}
		if firstDirty == nil {
			firstDirty = s
		}
		st.DirtyBytes += s.size.Load()
	}
	l.mu.RUnlock()
	if st.DirtyBytes == 0 {
		// Nothing dirty, but tombstones or markers whose delete
		// horizon has passed wait for a clean to drop them (KIP-534).
		l.lc.mu.Lock()
		hzn := l.lc.nextHorizon
		l.lc.mu.Unlock()
		st.Due = hzn != 0 && hzn <= now.UnixMilli()
		return st
	}
	st.DirtyRatio = float64(st.DirtyBytes) / float64(st.CleanBytes+st.DirtyBytes)
	st.Due = st.DirtyRatio >= cfg.MinCleanableDirtyRatio
	if !st.Due && cfg.MaxCompactionLagMs < 1<<62 {
		buf := make([]byte, BatchHeaderLen)
		if _, err := firstDirty.log.ReadAt(buf, 0); err == nil {
			if h, err := ParseBatchHeader(buf); err == nil {
				first := h.FirstTimestamp
				if _, ok := h.DeleteHorizon(); ok {
					first = h.MaxTimestamp // firstTimestamp is the horizon
				}
				st.Due = now.UnixMilli()-first > cfg.MaxCompactionLagMs
			}
		}
	}
	return st
}

// Clean compacts the log's cleanable segments at now (see above),
// whatever the dirty ratio; the broker asks CleanStatus first. One Clean
// runs at a time per log.
func (l *Log) Clean(now time.Time, opts CleanOptions) (CleanStats, error) {
	if err := l.enterForWrite(); err != nil {
		return CleanStats{}, err
	}
	defer l.leave()
	var st CleanStats
	cfg := l.cfg.Load()
	if !cfg.Compact {
		return st, nil
	}
	l.lc.cleanMu.Lock()
	defer l.lc.cleanMu.Unlock()
	l.mu.RLock()
	if l.closed || l.err != nil {
		err := l.err
		if l.closed {
			err = ErrClosed
		}
		l.mu.RUnlock()
		return st, err
	}
	segs := slices.Clone(l.cleanableLocked(now, cfg))
	for _, s := range segs {
		s.pin() // retention or DeleteRecords may remove them meanwhile
	}
	l.mu.RUnlock()
	defer func(pinned []*segment) {
		for _, s := range pinned {
			s.release()
		}
	}(segs)
	if len(segs) == 0 {
		// Whatever held a horizon left the log with its segments
		// (retention, DeleteRecords): nothing is due until a clean
		// sees something again.
		l.lc.mu.Lock()
		l.lc.nextHorizon = 0
		l.lc.mu.Unlock()
		return st, nil
	}
	st.CleanerStart, st.CleanerEnd = segs[0].base, segs[len(segs)-1].next
	opts.pacer = newPacer(opts.DutyCycle, opts.Busy, opts.Stop)

	m := newOffsetMap()
	tx := &txnClean{lastBatch: map[int64]int64{}, retained: map[int64]bool{}, snapFloor: math.MaxInt64, retention: cfg.DeleteRetentionMs}
	l.mu.RLock()
	m.aborted = newAbortedSet(l.txns.aborted)
	for pid, e := range l.prod {
		if e.n > 0 {
			tx.lastBatch[pid] = e.batches[e.n-1].firstOffset
		}
	}
	if len(l.snaps) > 0 {
		tx.snapFloor = l.snaps[0]
	}
	l.mu.RUnlock()
	l.lc.mu.Lock()
	cleanerOffset := l.lc.cleanerOffset
	l.lc.mu.Unlock()
	mapped := 0
	for i, s := range segs {
		// The clean section holds one record per key at most (it was
		// cleaned as a whole), so only the dirty section needs mapping:
		// a clean record goes if the map has a newer one.
		if s.next <= cleanerOffset {
			continue
		}
		if opts.MaxKeys > 0 && mapped > 0 && int64(m.len())+s.next-s.base > int64(opts.MaxKeys) {
			segs = segs[:i]
			st.CleanerEnd = segs[i-1].next
			break
		}
		mapped++
		mc := newBatchCleaner(m, tx, cfg, now, opts.pacer)
		n, err := l.forEachBatch(s, opts, func(h *BatchHeader, b []byte, _ int64) error {
			return mc.mapBatch(h, b)
		})
		st.BytesRead += n
		if err != nil {
			return st, err
		}
	}
	st.Keys = m.len()
	if opts.MaxKeys > 0 && st.Keys > opts.MaxKeys {
		l.logger.Warn("a segment holds more keys than the dedupe buffer (log.cleaner.dedupe.buffer.size) fits; cleaned anyway",
			"keys", st.Keys, "maxKeys", opts.MaxKeys)
	}

	for _, s := range segs {
		before, after, read, err := l.cleanSegment(s, m, tx, now, cfg, opts)
		st.BytesRead += read
		if err != nil {
			return st, err
		}
		if after >= 0 {
			st.Segments++
			st.BytesBefore += before
			st.BytesAfter += after
		}
	}

	l.lc.mu.Lock()
	l.lc.nextHorizon = tx.nextHorizon
	l.lc.cleanerOffset = max(l.lc.cleanerOffset, st.CleanerEnd)
	cleaner := l.lc.cleanerOffset
	l.lc.mu.Unlock()
	if err := l.writeCheckpoint(l.lso.Load(), cleaner); err != nil {
		return st, err
	}
	level := l.logger.Info
	if st.Segments == 0 {
		level = l.logger.Debug
	}
	level("cleaned log", "segments", st.Segments, "keys", st.Keys, "bytesBefore", st.BytesBefore,
		"bytesAfter", st.BytesAfter, "cleanedTo", cleaner)
	return st, nil
}
