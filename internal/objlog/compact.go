package objlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// Compaction of an object-stored log (cleanup.policy=compact; DESIGN.md,
// "Compaction of object-stored logs"), with single-node mode's cleaner
// rules (log.Compactor: the latest record per key kept at its offset,
// tombstones kept for delete.retention.ms, aborted transactions' records
// dropped, emptied batches kept empty or folded so offsets run on).
//
// The cleanable section: the committed index entries but the last (a
// flush may be extending the log from it), those wholly below the last
// stable offset (an open transaction may still abort) and, with
// min.compaction.lag.ms, those before the first entry holding a record
// younger than the lag. The leader keeps a clean point, the end of the
// section last compacted; the entries from it on are dirty. A pass is due
// when dirty bytes / section bytes reach min.cleanable.dirty.ratio, when
// the first dirty entry is older than max.compaction.lag.ms, or when a
// kept tombstone's delete horizon has passed. The clean point lives in
// the leader's memory only: a new leader starts from the log start, so
// its first pass maps and rewrites everything once.
//
// A pass maps the keys of the dirty entries (the clean ones hold each key
// once at most: a clean record goes only if a dirty one shadows it), then
// rewrites every entry of the section whose content changes into a new
// object, each new entry keeping its old one's first and last offset (so
// the index stays contiguous and its keys unchanged), and swaps them in
// with cluster.Member.RewriteIndex under the leadership's fence, at most
// Client.MaxReplaceEntries entries (and compactSwapBytes) per swap. The
// old objects are garbage for the collector (gc.go) once no entry names
// them, after log.segment.delete.delay.ms. A swap that fails ends the
// leadership here, as a failed Merge does.

// compactSwapBytes bounds the rewritten bytes one swap writes (one object).
const compactSwapBytes = 64 << 20

// CompactStats is what one Compact did.
type CompactStats struct {
	// Ran: a pass was due and ran (else the rest is zero).
	Ran         bool
	Entries     int   // index entries rewritten
	Swaps       int   // etcd transactions (objects written)
	Keys        int   // distinct keys in the dirty section
	BytesRead   int64 // bytes of the section's entries read
	BytesBefore int64 // size of the rewritten entries before
	BytesAfter  int64 // and after
	// CleanedTo is the end of the section compacted: the new clean point.
	CleanedTo int64
}

// compactState is the leader's memory of past passes, under deleteMu.
type compactState struct {
	// cleanPoint: the offsets below it were compacted as a whole.
	cleanPoint int64
	// nextHorizon: the earliest delete horizon (unix ms) of a tombstone
	// the last pass kept, 0 if none.
	nextHorizon int64
}

// cleanableSection is the index's cleanable section at now (see above).
func cleanableSection(index []cluster.IndexEntry, lso int64, cfg *log.Config, nowMs int64) []cluster.IndexEntry {
	if len(index) < 2 {
		return nil
	}
	sec := index[:len(index)-1]
	for i, e := range sec {
		if e.LastOffset >= lso || cfg.MinCompactionLagMs > 0 && e.MaxTimestamp >= 0 && nowMs-e.MaxTimestamp < cfg.MinCompactionLagMs {
			return sec[:i]
		}
	}
	return sec
}

// compactDue reports whether a pass over sec is due at nowMs, and the
// dirty entries' first index in sec.
func compactDue(sec []cluster.IndexEntry, st compactState, cfg *log.Config, nowMs int64) (firstDirty int, due bool) {
	firstDirty = len(sec)
	var clean, dirty int64
	for i, e := range sec {
		if e.LastOffset < st.cleanPoint {
			clean += e.Length
			continue
		}
		if firstDirty == len(sec) {
			firstDirty = i
		}
		dirty += e.Length
	}
	if dirty == 0 {
		return firstDirty, len(sec) > 0 && st.nextHorizon != 0 && st.nextHorizon <= nowMs
	}
	if float64(dirty)/float64(clean+dirty) >= cfg.MinCleanableDirtyRatio {
		return firstDirty, true
	}
	if e := sec[firstDirty]; cfg.MaxCompactionLagMs < 1<<62 && e.MaxTimestamp >= 0 && nowMs-e.MaxTimestamp > cfg.MaxCompactionLagMs {
		return firstDirty, true
	}
	return firstDirty, st.nextHorizon != 0 && st.nextHorizon <= nowMs
}

// Compact compacts the partition's cleanable section at now if a pass is
// due (see above); a topic whose cleanup.policy lacks compact never is.
// Concurrent appends go on; DeleteRecords and Merge wait for it.
func (p *Partition) Compact(ctx context.Context, now time.Time) (CompactStats, error) {
	cfg := p.cfg.Load()
	if !cfg.Compact {
		return CompactStats{}, nil
	}
	p.deleteMu.Lock()
	defer p.deleteMu.Unlock()
	hw, logStart, index, prod, err := p.committedView()
	if err != nil {
		return CompactStats{}, err
	}
	nowMs := now.UnixMilli()
	sec := cleanableSection(index, lastStable(prod, hw, logStart), cfg, nowMs)
	firstDirty, due := compactDue(sec, p.compact, cfg, nowMs)
	if !due {
		return CompactStats{}, nil
	}
	st := CompactStats{Ran: true, CleanedTo: sec[len(sec)-1].LastOffset + 1}
	c := log.NewCompactor(cfg, now, prod.Aborted(sec[0].BaseOffset, math.MaxInt64))
	for _, e := range sec[firstDirty:] {
		b, err := p.readEntry(ctx, e)
		if err != nil {
			return st, err
		}
		st.BytesRead += int64(len(b))
		if err := c.Map(b, e.BaseOffset); err != nil {
			return st, fmt.Errorf("%w: %s: mapping keys of offsets %d-%d: %w", ErrStorage, p.tp, e.BaseOffset, e.LastOffset, err)
		}
	}
	st.Keys = c.Keys()
	maxEntries := p.f.client.MaxReplaceEntries()
	if maxEntries < 1 {
		return st, fmt.Errorf("%w: %s: etcd's --max-txn-ops leaves no room to rewrite an index entry", ErrStorage, p.tp)
	}
	var old []cluster.IndexEntry
	var data [][]byte
	var size int64
	for _, e := range sec {
		b, err := p.readEntry(ctx, e)
		if err != nil {
			return st, err
		}
		st.BytesRead += int64(len(b))
		out, changed, err := c.Rewrite(b, e.BaseOffset)
		if err != nil {
			return st, fmt.Errorf("%w: %s: compacting offsets %d-%d: %w", ErrStorage, p.tp, e.BaseOffset, e.LastOffset, err)
		}
		if !changed {
			continue
		}
		old, data, size = append(old, e), append(data, out), size+int64(len(out))
		if len(old) == maxEntries || size >= compactSwapBytes {
			if err := p.swapCompacted(ctx, old, data, &st); err != nil {
				return st, err
			}
			old, data, size = nil, nil, 0
		}
	}
	if len(old) > 0 {
		if err := p.swapCompacted(ctx, old, data, &st); err != nil {
			return st, err
		}
	}
	p.compact = compactState{cleanPoint: st.CleanedTo, nextHorizon: c.NextHorizon()}
	return st, nil
}

// swapCompacted writes the rewritten entries data (one per entry of old)
// to one new object and swaps them in (cluster.Member.RewriteIndex).
func (p *Partition) swapCompacted(ctx context.Context, old []cluster.IndexEntry, data [][]byte, st *CompactStats) error {
	w := objstore.NewWriter()
	name := p.f.objectName()
	repl := make([]cluster.IndexEntry, len(old))
	var bytes int64
	for i, e := range old {
		maxTs, count := entryStats(data[i])
		oe, err := w.Add(objstore.Entry{TopicID: p.tp.TopicID, Partition: p.tp.Partition, BaseOffset: e.BaseOffset, LastOffset: e.LastOffset,
			MaxTimestamp: maxTs, LeaderEpoch: e.LeaderEpoch, RecordCount: int32(min(count, 1<<31-1))}, data[i])
		if err != nil {
			return fmt.Errorf("%w: %s: building a compacted object: %w", ErrStorage, p.tp, err)
		}
		repl[i] = cluster.IndexEntry{BaseOffset: e.BaseOffset, LastOffset: e.LastOffset, Object: name, Position: oe.Position, Length: oe.Length,
			MaxTimestamp: maxTs, LeaderEpoch: e.LeaderEpoch, RecordCount: count, CRC: oe.CRC}
		st.BytesBefore += e.Length
		bytes += int64(len(data[i]))
	}
	obj := w.Finish()
	if err := p.f.store.Put(ctx, name, obj); err != nil {
		// An object written without its record is an orphan for the
		// collector.
		return fmt.Errorf("%w: %s: writing compacted object %s: %w", ErrStorage, p.tp, name, err)
	}
	err := p.f.member.RewriteIndex(ctx, p.tp, p.epoch, old, repl, cluster.ObjectMeta{Name: name, Size: int64(len(obj)), Created: p.f.cfg.Clock.Now()})
	if err != nil {
		// As in Merge: not applied, or an unknown outcome; this
		// leadership ends so that the next loads the index from etcd.
		err = mapClusterErr(err)
		if !errors.Is(err, ErrNotLeader) {
			err = fmt.Errorf("%w: %s: swapping %d compacted entries: %w", ErrNotLeader, p.tp, len(old), err)
		}
		p.lose(err)
		return err
	}
	p.replaceEntries(repl)
	st.Entries += len(old)
	st.Swaps++
	st.BytesAfter += bytes
	return nil
}

// entryStats is the largest batch max timestamp (-1 if no batch holds a
// record) and the record count of the stored batches b.
func entryStats(b []byte) (maxTs, count int64) {
	maxTs = -1
	for pos := 0; pos < len(b); {
		h, err := log.ParseBatchHeader(b[pos:])
		if err != nil {
			break // checked by log.Compactor
		}
		if h.NumRecords > 0 {
			maxTs = max(maxTs, h.MaxTimestamp)
			count += int64(h.NumRecords)
		}
		pos += h.Size()
	}
	return maxTs, count
}

// replaceEntries puts each entry of repl in place of the in-memory entry
// with the same offsets (left alone if it is no longer there).
func (p *Partition) replaceEntries(repl []cluster.IndexEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A new slice: readers keep their snapshots of the old one.
	next := append([]cluster.IndexEntry(nil), p.index...)
	j := 0
	for i := range next {
		for j < len(repl) && repl[j].BaseOffset < next[i].BaseOffset {
			j++
		}
		if j < len(repl) && repl[j].BaseOffset == next[i].BaseOffset && repl[j].LastOffset == next[i].LastOffset {
			next[i] = repl[j]
		}
	}
	p.index = next
}
