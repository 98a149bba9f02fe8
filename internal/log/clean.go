package log

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
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
// Transaction markers (control batches) go as in Kafka: once no batch of
// its transaction is left in the log, a marker gets a delete horizon as a
// tombstone does, and a clean after that horizon removes it; and, for
// Sluice's recovery, only if it lies before the oldest producer snapshot:
// a snapshot lists the transactions open at its offset, and recovery
// replays from it, so a marker after it is what closes them.
// Each Clean reads the log from its first segment, so it sees every batch
// of a transaction before the marker. A transactional data batch that
// loses every record loses its producer fields and transactional bit too
// (and so is folded like any producer-less batch), unless it is its
// producer's last data batch, which stays empty for the producer's state,
// as Kafka keeps it; its transaction's marker then stays. Removing an
// abort marker also removes its entry from the aborted list, in memory
// and, by checking each entry's marker on Open, from what snapshots
// written before bring back: a read_committed consumer told of an aborted
// transaction skips its producer's batches until that marker.
//
// Every batch keeps its base offset, lastOffsetDelta, its first timestamp
// (but for the delete horizon above) and, but for the transactional
// batches above, its producer fields, so kept records keep their offsets,
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
// Pacing (CleanOptions): while the broker is serving requests, its cleaner
// works at most CleanerDutyCycle of the time, in cleanWorkSlice slices
// (an idle broker's cleaner runs unpaced), and, paced or
// not, yields its core (sched_yield) every cleanYieldInterval, between
// batches and within large ones, so that requests never wait for a core
// behind it for long. Nothing the appenders take is held while it reads
// or writes: only the swap below takes rollMu and, briefly, mu.
//
// Crash safety, one segment at a time (X is its 20-digit base):
//
//  1. X.log.cleaned, X.index.cleaned, X.timeindex.cleaned are written and
//     fsynced.
//  2. The two index files, then the log, are renamed to the .swap suffix
//     and the directory fsynced: X.log.swap existing is the commit point.
//  3. The two .swap indexes, then X.log.swap, are renamed over X's files
//     and the directory fsynced.
//
// Open removes every .cleaned file (an unfinished clean), completes step 3
// for every X.log.swap whose X.log exists, removes an X.log.swap whose X.log
// does not (the segment was deleted by retention meanwhile) and removes
// index .swap files without their log. Either way the log holds exactly the
// old or exactly the new segment: no newest value lost, no offset twice.
//
// Readers holding the old segment keep reading its open file (its name now
// belongs to the new one); it is closed when the last of them releases it
// (segment.refs).

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

const (
	// cleanWorkSlice is how long a paced cleaner works before it sleeps
	// (CleanOptions.DutyCycle): short, so that what waits for the core
	// meanwhile waits little, and not much shorter than the sleeps the
	// runtime's timers can make (about a millisecond), since those set
	// the cleaner's rate. A batch is never split, so a slice may run
	// over by one batch's work.
	cleanWorkSlice = time.Millisecond
	// cleanYieldInterval: a cleaner working (paced or not) gives up its
	// core to threads waiting for it this often (yieldThread), so that
	// a request does not wait out the kernel's time slice (milliseconds)
	// behind it.
	cleanYieldInterval = 50 * time.Microsecond
	// cleanPaceBytes: within a batch, the cleaner paces after this many
	// bytes of records (tens of microseconds of work), rather than after
	// each record, whose clock reading would cost more than the record.
	cleanPaceBytes = 16 << 10
)

// CleanerDutyCycle is the duty cycle the broker's cleaner runs at
// (CleanOptions.DutyCycle): at most half a core, so that with every core
// busy a produce request waits for a core behind the cleaner at most half
// the time, and never longer than a slice, while compaction still runs
// at about half its unpaced rate.
const CleanerDutyCycle = 0.5

// pacer keeps one Clean call to its duty cycle and yields its core. Its
// clock, sleep and yield are time.Now, a timer sleep ending early when
// stop closes, and yieldThread, except in tests.
type pacer struct {
	duty      float64
	busy      func() bool   // nil: always paced (CleanOptions.Busy)
	start     time.Time     // of the current work slice
	owed      time.Duration // sleep owed for the work done (negative: slept ahead)
	lastYield time.Time
	bytes     int    // of records processed since the last pace
	buf       []byte // the read window, reused by every pass

	now   func() time.Time
	sleep func(time.Duration)
	yield func()
}

func newPacer(duty float64, busy func() bool, stop <-chan struct{}) *pacer {
	now := time.Now()
	return &pacer{duty: duty, busy: busy, start: now, lastYield: now, buf: make([]byte, cleanWindow),
		now: time.Now, yield: yieldThread,
		sleep: func(d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-stop:
			}
		}}
}

// record is called for each record processed: within a large batch it
// paces every cleanPaceBytes of records, so that a megabyte batch does
// not run a slice over (or go unyielded) by its whole work.
func (p *pacer) record(n int) {
	p.bytes += n
	if p.bytes >= cleanPaceBytes {
		p.pace()
	}
}

// pace is called between batches. It yields the core every
// cleanYieldInterval; in a paced Clean, once a work slice has run, it
// sleeps what the duty cycle owes for it. Timers oversleep (by about
// 0.1 ms here); what they overslept is credited to the next slice, up
// to a slice's worth, so the cleaner's rate stays near its duty cycle's
// share of its unpaced rate without a long oversleep buying a long burst
// of work.
func (p *pacer) pace() {
	p.bytes = 0
	now := p.now()
	if now.Sub(p.lastYield) >= cleanYieldInterval {
		p.yield()
		now = p.now()
		p.lastYield = now
	}
	if p.duty <= 0 || p.duty >= 1 {
		return
	}
	worked := now.Sub(p.start)
	if worked < cleanWorkSlice {
		return
	}
	if p.busy != nil && !p.busy() {
		// Nobody to leave the core to: no sleep owed for this slice.
		p.start, p.owed = now, 0
		return
	}
	p.owed += time.Duration(float64(worked) * (1 - p.duty) / p.duty)
	// A sleep much shorter than a slice is carried over instead: it
	// would cost a timer's granularity (about a millisecond) anyway.
	if p.owed > cleanWorkSlice/10 {
		p.sleep(p.owed)
		end := p.now()
		p.owed = max(p.owed-end.Sub(now), -cleanWorkSlice)
		now = end
	}
	p.start = now
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

// offsetMap maps key hashes to the offset of the key's newest record.
// Records of aborted transactions are neither mapped nor kept.
//
// The map is Kafka's SkimpyOffsetMap in spirit: an open-addressing table
// of 24-byte slots (a 128-bit hash of the key and the offset), probed
// linearly from the hash's low bits. The hashes are uniform already, so
// hashing them again, as a Go map does, and its per-slot overhead are
// wasted: mapping dominated compaction's time (BenchmarkCompact). It grows
// by doubling past maxLoad, so a small log does not pay for a big table.
type offsetMap struct {
	s1, s2  maphash.Seed
	slots   []offsetSlot // len a power of two
	n       int          // keys held
	aborted abortedSet
}

// offsetSlot is one key: off is the offset + 1, 0 for an empty slot.
type offsetSlot struct {
	h   [2]uint64
	off int64
}

const (
	offsetMapMinSlots = 1 << 10
	// offsetMapMaxLoad: the table doubles once this full; linear
	// probing slows down sharply beyond.
	offsetMapMaxLoad = 0.7
)

func newOffsetMap() *offsetMap {
	return &offsetMap{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), slots: make([]offsetSlot, offsetMapMinSlots)}
}

func (m *offsetMap) key(k []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(m.s1, k), maphash.Bytes(m.s2, k)}
}

// len returns the number of keys mapped.
func (m *offsetMap) len() int { return m.n }

// put maps h to off.
func (m *offsetMap) put(h [2]uint64, off int64) {
	if float64(m.n+1) > offsetMapMaxLoad*float64(len(m.slots)) {
		old := m.slots
		m.slots = make([]offsetSlot, 2*len(old))
		for _, sl := range old {
			if sl.off != 0 {
				*m.find(sl.h) = sl
			}
		}
	}
	sl := m.find(h)
	if sl.off == 0 {
		m.n++
		sl.h = h
	}
	sl.off = off + 1
}

// get returns the offset mapped to h.
func (m *offsetMap) get(h [2]uint64) (int64, bool) {
	sl := m.find(h)
	return sl.off - 1, sl.off != 0
}

// find returns h's slot, or the empty slot where it would go.
func (m *offsetMap) find(h [2]uint64) *offsetSlot {
	mask := uint64(len(m.slots) - 1)
	for i := h[0] & mask; ; i = (i + 1) & mask {
		if sl := &m.slots[i]; sl.off == 0 || sl.h == h {
			return sl
		}
	}
}

// Clean compacts the log's cleanable segments at now (see above),
// whatever the dirty ratio; the broker asks CleanStatus first. One Clean
// runs at a time per log.
func (l *Log) Clean(now time.Time, opts CleanOptions) (CleanStats, error) {
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
		n, err := l.forEachBatch(s, opts, func(h *BatchHeader, b []byte, _ int64) error {
			if m.aborted.has(h) {
				return nil
			}
			return forEachRecord(h, b, cfg, func(off int64, r *rawRecord, span []byte) {
				opts.pacer.record(len(span))
				if r.key != nil {
					m.put(m.key(r.key), off)
				}
			})
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

// forEachBatch walks a segment's batches, CRC-checked, and returns the
// bytes read. b is valid only during fn.
func (l *Log) forEachBatch(s *segment, opts CleanOptions, fn func(h *BatchHeader, b []byte, pos int64) error) (int64, error) {
	limit := s.size.Load()
	r := windowReader{f: s.log, limit: limit, buf: opts.pacer.buf}
	pos, next := int64(0), s.base
	for pos < limit {
		if opts.Stop != nil {
			select {
			case <-opts.Stop:
				return pos, errCleanStopped
			default:
			}
		}
		h, err := r.header(pos)
		if err == nil && h.BaseOffset != next {
			err = corruptf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next)
		}
		var b []byte
		if err == nil {
			b, err = r.at(pos, h.Size())
		}
		if err == nil {
			err = checkCRC(b)
		}
		if err != nil {
			return pos, l.readErr(s, pos, err)
		}
		if err := fn(&h, b, pos); err != nil {
			return pos, err
		}
		if opts.Throttle != nil {
			opts.Throttle(len(b))
		}
		opts.pacer.pace()
		pos += int64(len(b))
		next = h.LastOffset() + 1
	}
	return pos, nil
}

// forEachRecord decodes a stored batch and calls fn with each record's
// offset, fields and encoding (length prefix included). Control batches
// have no records to compact and are skipped.
func forEachRecord(h *BatchHeader, b []byte, cfg *Config, fn func(off int64, r *rawRecord, span []byte)) error {
	if h.Control() || h.NumRecords == 0 {
		return nil
	}
	limit := decompressLimit(max(int64(cfg.MaxMessageBytes), int64(len(b))))
	data, err := decompress(b[BatchHeaderLen:], h.Compression(), true, limit)
	if err != nil {
		return err
	}
	if h.Compression() != CodecNone {
		defer putDecompressBuf(data)
	}
	var r rawRecord
	i := 0
	for k := int32(0); k < h.NumRecords; k++ {
		length, w := binary.Varint(data[i:])
		if w <= 0 || length < 0 || length > int64(len(data)-i-w) {
			return corruptf("stored batch at offset %d: record %d: bad length", h.BaseOffset, k)
		}
		start := i
		i += w + int(length)
		if err := parseRecord(data[start+w:i], &r); err != nil {
			return corruptf("stored batch at offset %d: record %d: %v", h.BaseOffset, k, err)
		}
		fn(h.BaseOffset+int64(r.offsetDelta), &r, data[start:i])
	}
	return nil
}

// segmentWriter writes a cleaned segment, holding back the last batch so
// that a following batch that lost every record can be folded into it.
type segmentWriter struct {
	base     int64
	interval int32
	w        *bufio.Writer
	pos      int64
	ix       indexer
	pend     []byte
	pendH    BatchHeader
	err      error
}

func (sw *segmentWriter) flush() {
	if len(sw.pend) == 0 || sw.err != nil {
		return
	}
	sw.ix.add(sw.base, &sw.pendH, sw.pos, sw.interval)
	_, sw.err = sw.w.Write(sw.pend)
	sw.pos += int64(len(sw.pend))
	sw.pend = sw.pend[:0]
}

// emit queues batch b with header h (b is copied).
func (sw *segmentWriter) emit(h BatchHeader, b []byte) {
	sw.flush()
	sw.pend = append(sw.pend[:0], b...)
	sw.pendH = h
}

// absorb folds the emptied batch h into the held-back batch if both lack
// a producer id, reporting whether it did.
func (sw *segmentWriter) absorb(h *BatchHeader) bool {
	if len(sw.pend) == 0 || sw.pendH.ProducerID >= 0 || sw.pendH.Control() || sw.pendH.Transactional() {
		return false
	}
	sw.pendH.LastOffsetDelta = int32(h.LastOffset() - sw.pendH.BaseOffset)
	binary.BigEndian.PutUint32(sw.pend[offLastOffsetDelta:], uint32(sw.pendH.LastOffsetDelta))
	putCRC(sw.pend)
	return true
}

// emitEmpty queues batch b (header h) without its records: folded into
// the held-back batch when neither has a producer id, else as an empty
// batch (no records, no codec, maxTimestamp -1). dropProducer also
// takes away its producer fields and its transactional and control
// bits, so that nothing of a transaction whose marker may go is left
// for recovery to reopen it with. out is scratch space, returned.
func (sw *segmentWriter) emitEmpty(out []byte, h *BatchHeader, b []byte, dropProducer bool) []byte {
	nh := *h
	if dropProducer {
		nh.ProducerID, nh.ProducerEpoch, nh.BaseSequence = -1, -1, -1
		nh.Attributes &^= attrTransactional | attrControl
	}
	if nh.ProducerID < 0 && sw.absorb(&nh) {
		return out
	}
	nh.Attributes &^= attrCodecMask
	nh.Length = BatchHeaderLen - batchLengthOverhead
	nh.NumRecords = 0
	nh.MaxTimestamp = -1
	out = append(out[:0], b[:BatchHeaderLen]...)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(nh.Length))
	be.PutUint32(out[offRecordCount:], 0)
	be.PutUint64(out[offProducerID:], uint64(nh.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(nh.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(nh.BaseSequence))
	putAttributes(out, nh.Attributes)
	putMaxTimestamp(out, nh.MaxTimestamp)
	putCRC(out)
	sw.emit(nh, out)
	return out
}

// txnClean follows the transactions through one Clean, which reads the
// log from its first segment, to tell when a transaction's marker may go
// (see the top of this file).
type txnClean struct {
	// lastBatch: producer id -> base offset of its last data batch,
	// kept (empty if need be) for the producer's state, as Kafka does.
	lastBatch map[int64]int64
	// retained: producer id -> a data batch of its current transaction
	// stays in the cleaned log.
	retained map[int64]bool
	// snapFloor: the oldest producer snapshot's offset. A snapshot
	// records the transactions open at its offset and recovery replays
	// from it, so a marker at or after it stays: without it the
	// transaction would be open again after a restart.
	snapFloor int64
	// removed: the abort markers the segment being cleaned loses.
	removed []AbortedTxn
	// retention is delete.retention.ms; nextHorizon the earliest delete
	// horizon of what the cleaned log keeps, 0 if none (horizonAt).
	retention, nextHorizon int64
}

// keepEmpty reports whether an emptied transactional data batch h stays
// as an empty batch with its producer fields (it is its producer's last)
// rather than losing them, and notes that its transaction keeps a batch.
func (tx *txnClean) keepEmpty(h *BatchHeader) bool {
	if last, ok := tx.lastBatch[h.ProducerID]; ok && last == h.BaseOffset {
		tx.retained[h.ProducerID] = true
		return true
	}
	return false
}

// What a clean does with a marker.
const (
	markerStays   = iota
	markerHorizon // it gets its delete horizon (KIP-534)
	markerGoes
)

// marker decides for the control batch h (a commit or abort marker) at
// nowMs. It may go once no data batch of its transaction stays and it is
// before every producer snapshot, as a tombstone does: the first clean
// to see it so gives it a delete horizon, delete.retention.ms on, and a
// clean after the horizon removes it.
func (tx *txnClean) marker(h *BatchHeader, nowMs int64) int {
	kept := tx.retained[h.ProducerID]
	delete(tx.retained, h.ProducerID)
	if kept || h.ProducerID < 0 || h.BaseOffset >= tx.snapFloor {
		return markerStays
	}
	hzn, ok := h.DeleteHorizon()
	switch {
	case !ok:
		tx.horizonAt(nowMs + tx.retention)
		return markerHorizon
	case hzn <= nowMs:
		return markerGoes
	}
	tx.horizonAt(hzn)
	return markerStays
}

// horizonAt notes that the cleaned log keeps something (a tombstone or
// marker) due to go at hzn.
func (tx *txnClean) horizonAt(hzn int64) {
	if tx.nextHorizon == 0 || hzn < tx.nextHorizon {
		tx.nextHorizon = hzn
	}
}

// setHorizon gives the batch b (header h) the delete horizon hzn: the
// attribute bit and hzn as its firstTimestamp. Its records must count
// their timestamps from hzn already (rebaseRecords). The caller puts
// the CRC.
func setHorizon(b []byte, h *BatchHeader, hzn int64) {
	h.Attributes |= attrDeleteHorizon
	h.FirstTimestamp = hzn
	putAttributes(b, h.Attributes)
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(hzn))
}

// rebaseRecords appends to dst the n uncompressed records of area with
// their timestampDelta changed from counting from base to counting from
// newBase, so that each keeps its timestamp; the other fields' bytes are
// copied unchanged, the length prefix rewritten.
func rebaseRecords(dst, area []byte, n int32, base, newBase int64) ([]byte, error) {
	for k := int32(0); k < n; k++ {
		length, w := binary.Varint(area)
		if w <= 0 || length < 1 || length > int64(len(area)-w) {
			return dst, corruptf("rebasing record %d: bad length", k)
		}
		body := area[w : w+int(length)]
		area = area[w+int(length):]
		delta, dw := binary.Varint(body[1:])
		if dw <= 0 {
			return dst, corruptf("rebasing record %d: bad timestampDelta", k)
		}
		rest := body[1+dw:]
		var head [1 + binary.MaxVarintLen64]byte
		head[0] = body[0]
		hn := 1 + binary.PutVarint(head[1:], base+delta-newBase)
		dst = binary.AppendVarint(dst, int64(hn+len(rest)))
		dst = append(dst, head[:hn]...)
		dst = append(dst, rest...)
	}
	return dst, nil
}

// cleanSegment rewrites s without what m and the tombstone rule drop and
// swaps the result in. It returns the sizes before and after (after is -1
// if nothing needed dropping) and the bytes read.
func (l *Log) cleanSegment(s *segment, m *offsetMap, tx *txnClean, now time.Time, cfg *Config, opts CleanOptions) (before, after, read int64, err error) {
	before, after = s.size.Load(), -1
	path := s.path
	f, err := l.fs.OpenFile(path+logExt+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return before, after, 0, storageErr(err)
	}
	keepFile := false
	defer func() {
		if !keepFile {
			f.Close()
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				if rerr := l.fs.Remove(path + ext + cleanedSuffix); rerr != nil && !vfs.IsNotExist(rerr) {
					l.logger.Warn("removing cleaned file", "file", filepath.Base(path+ext+cleanedSuffix), "error", rerr)
				}
			}
		}
	}()
	sw := &segmentWriter{base: s.base, interval: cfg.IndexIntervalBytes, w: bufio.NewWriterSize(fileWriter{f}, 1<<20), ix: newIndexer()}
	changed := false
	var area, rebased, out []byte
	var tombstones bool
	nowMs := now.UnixMilli()
	// The delete horizon this clean gives the tombstones and markers it
	// sees first (KIP-534).
	horizon := nowMs + cfg.DeleteRetentionMs
	tx.removed = tx.removed[:0]
	read, err = l.forEachBatch(s, opts, func(h *BatchHeader, b []byte, _ int64) error {
		if h.Control() {
			switch tx.marker(h, nowMs) {
			case markerStays:
				sw.emit(*h, b)
			case markerHorizon:
				changed = true
				nh := *h
				area, err = rebaseRecords(area[:0], b[BatchHeaderLen:], h.NumRecords, h.FirstTimestamp, horizon)
				if err != nil {
					return err
				}
				out = append(append(out[:0], b[:BatchHeaderLen]...), area...)
				nh.Length = int32(len(out) - batchLengthOverhead)
				binary.BigEndian.PutUint32(out[offLength:], uint32(nh.Length))
				setHorizon(out, &nh, horizon)
				putCRC(out)
				sw.emit(nh, out)
			case markerGoes:
				changed = true
				if MarkerType(b) == MarkerAbort {
					tx.removed = append(tx.removed, AbortedTxn{ProducerID: h.ProducerID, LastOffset: h.BaseOffset})
				}
				out = sw.emitEmpty(out, h, b, true)
			}
			return nil
		}
		if h.NumRecords == 0 {
			if h.Transactional() && !tx.keepEmpty(h) {
				changed = true
				out = sw.emitEmpty(out, h, b, true)
				return nil
			}
			sw.emit(*h, b)
			return nil
		}
		area = area[:0]
		kept := int32(0)
		maxTs := int64(noTimestamp)
		aborted := m.aborted.has(h)
		hzn, hasHorizon := h.DeleteHorizon()
		tombstones = false
		err := forEachRecord(h, b, cfg, func(off int64, r *rawRecord, span []byte) {
			opts.pacer.record(len(span))
			if r.key == nil || aborted {
				return
			}
			if latest, ok := m.get(m.key(r.key)); ok && latest > off {
				return
			}
			ts := recordTimestamp(h, r)
			if r.value == nil {
				// A tombstone goes once the horizon its batch
				// got from the first clean to see it has
				// passed (KIP-534).
				if hasHorizon && hzn <= nowMs {
					return
				}
				tombstones = true
			}
			area = append(area, span...)
			kept++
			maxTs = max(maxTs, ts)
		})
		if err != nil {
			return err
		}
		if kept > 0 && h.Transactional() {
			tx.retained[h.ProducerID] = true
		}
		newHorizon := tombstones && !hasHorizon
		switch {
		case newHorizon:
			tx.horizonAt(horizon)
		case tombstones:
			tx.horizonAt(hzn)
		}
		switch {
		case kept == h.NumRecords && !newHorizon:
			sw.emit(*h, b)
		case kept > 0:
			changed = true
			nh := *h
			out = append(out[:0], b[:BatchHeaderLen]...)
			if newHorizon {
				if rebased, err = rebaseRecords(rebased[:0], area, kept, h.FirstTimestamp, horizon); err != nil {
					return err
				}
				area, rebased = rebased, area
				setHorizon(out, &nh, horizon)
			}
			if out, err = compressArea(out, h.Compression(), area); err != nil {
				return err
			}
			nh.Length = int32(len(out) - batchLengthOverhead)
			nh.NumRecords = kept
			if !h.LogAppendTime() {
				nh.MaxTimestamp = maxTs
			}
			be := binary.BigEndian
			be.PutUint32(out[offLength:], uint32(nh.Length))
			be.PutUint32(out[offRecordCount:], uint32(nh.NumRecords))
			putMaxTimestamp(out, nh.MaxTimestamp)
			putCRC(out)
			sw.emit(nh, out)
		default:
			changed = true
			out = sw.emitEmpty(out, h, b, h.Transactional() && !tx.keepEmpty(h))
		}
		return nil
	})
	if err != nil {
		return before, after, read, err
	}
	if !changed {
		return before, after, read, nil
	}
	sw.flush()
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return before, after, read, storageErr(sw.err)
	}
	sw.ix.maybeAppendTime(s.base)
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if err := appendToFile(l.fs, path+indexExt+cleanedSuffix, flag, sw.ix.idx, 0, true); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := appendToFile(l.fs, path+timeIndexExt+cleanedSuffix, flag, sw.ix.tidx, 0, true); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := f.Sync(); err != nil {
		return before, after, read, storageErr(err)
	}
	if err := l.cleanHook("cleaned"); err != nil {
		return before, after, read, err
	}
	// Step 2: commit.
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if err := l.fs.Rename(path+ext+cleanedSuffix, path+ext+swapSuffix); err != nil {
			return before, after, read, storageErr(err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return before, after, read, storageErr(err)
	}
	keepFile = true
	if len(tx.removed) > 0 {
		// Their abort markers are about to go, and the batches before
		// them went in earlier cleans: a read_committed consumer told
		// of the transaction would skip the producer's batches until a
		// marker that never comes. Dropped before the swap, so that no
		// fetch reads the new segment and then the old list; a fetch of
		// the old segment meanwhile finds no data of them to skip.
		l.mu.Lock()
		l.txns.aborted = slices.DeleteFunc(l.txns.aborted, func(a AbortedTxn) bool {
			return slices.ContainsFunc(tx.removed, func(r AbortedTxn) bool {
				return r.ProducerID == a.ProducerID && r.LastOffset == a.LastOffset
			})
		})
		l.mu.Unlock()
	}
	if err := l.swapIn(s, f, sw, now); err != nil {
		return before, after, read, err
	}
	return before, sw.pos, read, nil
}

// swapIn is step 3: it replaces s by the committed cleaned copy (file f,
// built by sw), unless s left the log meanwhile.
func (l *Log) swapIn(s *segment, f vfs.File, sw *segmentWriter, now time.Time) error {
	path := s.path
	removeSwaps := func() {
		f.Close()
		for _, ext := range []string{logExt, indexExt, timeIndexExt} {
			if err := l.fs.Remove(path + ext + swapSuffix); err != nil && !vfs.IsNotExist(err) {
				l.logger.Warn("removing swap file", "file", filepath.Base(path+ext+swapSuffix), "error", err)
			}
		}
	}
	if err := l.cleanHook("swap"); err != nil {
		return err
	}
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	l.mu.RLock()
	closed, i := l.closed, slices.Index(l.segs, s)
	l.mu.RUnlock()
	if closed || i < 0 {
		removeSwaps()
		if closed {
			return ErrClosed
		}
		return nil
	}
	s.persistMu.Lock()
	s.retired = true
	s.persistMu.Unlock()
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if ext == logExt {
			if err := l.cleanHook("index"); err != nil {
				return err
			}
		}
		if err := l.fs.Rename(path+ext+swapSuffix, path+ext); err != nil {
			f.Close()
			return l.fail(fmt.Errorf("swapping in cleaned %s: %w", filepath.Base(path+ext), err))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(err)
	}
	ns := newSegment(l.fs, l.dir, s.base, f)
	ns.size.Store(sw.pos)
	ns.next, ns.created = s.next, s.created
	ns.ix = sw.ix
	ns.idxOnDisk, ns.tidxOnDisk = len(sw.ix.idx), len(sw.ix.tidx)
	l.mu.Lock()
	l.segs[i] = ns
	l.mu.Unlock()
	return l.retire(s, now, false)
}

// cleanHook lets tests stop a clean at a stage, as a crash would.
func (l *Log) cleanHook(stage string) error {
	if h := l.lc.testHook; h != nil {
		return h(stage)
	}
	return nil
}

// completeSwaps finishes or undoes the swaps a crash interrupted (see
// above). names is the directory's content.
func (l *Log) completeSwaps(names map[string]bool) error {
	done := map[int64]bool{}
	for name := range names {
		stem, ok := strings.CutSuffix(name, swapSuffix)
		if !ok {
			continue
		}
		base, ok := parseFileName(stem, logExt)
		if !ok {
			continue
		}
		done[base] = true
		if !names[stem] {
			l.logger.Warn("removing cleaned copy of a deleted segment", "file", name)
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				l.removeFile(fileName(base, ext)+swapSuffix, "")
			}
			continue
		}
		l.logger.Info("completing interrupted swap of a cleaned segment", "segment", stem)
		for _, ext := range []string{indexExt, timeIndexExt, logExt} {
			from := filepath.Join(l.dir, fileName(base, ext)+swapSuffix)
			if ext != logExt && !names[filepath.Base(from)] {
				// Already moved, or missing: recovery rebuilds
				// an index that does not match.
				continue
			}
			if err := l.fs.Rename(from, filepath.Join(l.dir, fileName(base, ext))); err != nil {
				return storageErr(err)
			}
		}
		l.dirDirty = true
	}
	for name := range names {
		stem, ok := strings.CutSuffix(name, swapSuffix)
		if !ok {
			continue
		}
		b, isIdx := parseFileName(stem, indexExt)
		if !isIdx {
			b, isIdx = parseFileName(stem, timeIndexExt)
		}
		if isIdx && !done[b] {
			l.removeFile(name, "index swap file without its segment")
		}
	}
	return nil
}

// fileWriter adapts a vfs.File to io.Writer.
type fileWriter struct{ f vfs.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }
