package objlog

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/objstore"
)

// Merging small objects. Every flush writes one index entry per partition
// (DESIGN.md, "Object-stored partition log"), so a partition fed slowly,
// or by many brokers' short flushes, ends up with many small entries in
// many objects: more etcd keys, more GETs for a reader catching up, and
// more object records for the collector. Merge rewrites a run of such
// entries into one entry of a new object, the batches byte for byte as
// stored (nothing is decoded or recompressed), and swaps the index in one
// etcd transaction under the leadership's fence
// (cluster.Member.ReplaceIndex). The old objects become garbage once no
// entry of any partition names them, for the collector (gc.go) to delete
// after log.segment.delete.delay.ms, long enough for a fetch that read the
// old index to finish.
//
// Choosing a run: from the log start, consecutive entries of one leader
// epoch, each smaller than half the target, the last entry (the one a
// flush may be extending the hw from) never included. A run is merged
// once it holds at least half the target bytes or the most entries one
// transaction may replace, so each byte is rewritten a bounded number of
// times (an already merged entry is merged again only into a run at least
// as full).

// MergeStats is what one Merge did.
type MergeStats struct {
	Entries int   // index entries replaced (0: nothing to merge)
	Bytes   int64 // bytes rewritten
}

// Merge merges the first run of small index entries (see above) into one
// object of at most target bytes, replacing at most maxEntries entries
// (capped by what one etcd transaction may replace). It returns a zero
// MergeStats when no run is ready. Concurrent appends go on; DeleteRecords
// waits for it.
func (p *Partition) Merge(ctx context.Context, target int64, maxEntries int) (MergeStats, error) {
	p.deleteMu.Lock()
	defer p.deleteMu.Unlock()
	_, _, index, err := p.snapshot()
	if err != nil {
		return MergeStats{}, err
	}
	maxEntries = min(maxEntries, p.f.client.MaxReplaceEntries())
	run := mergeRun(index, target, maxEntries)
	if run == nil {
		return MergeStats{}, nil
	}
	var data []byte
	maxTs, count := int64(-1), int64(0)
	for _, e := range run {
		b, err := p.readEntry(ctx, e)
		if err != nil {
			return MergeStats{}, err
		}
		data = append(data, b...)
		maxTs = max(maxTs, e.MaxTimestamp)
		count += e.RecordCount
	}
	first, last := run[0], run[len(run)-1]
	w := objstore.NewWriter()
	oe, err := w.Add(objstore.Entry{TopicID: p.tp.TopicID, Partition: p.tp.Partition, BaseOffset: first.BaseOffset, LastOffset: last.LastOffset,
		MaxTimestamp: maxTs, LeaderEpoch: first.LeaderEpoch, RecordCount: int32(min(count, 1<<31-1))}, data)
	if err != nil {
		return MergeStats{}, fmt.Errorf("%w: %s: building a merged object: %w", ErrStorage, p.tp, err)
	}
	name := p.f.objectName()
	obj := w.Finish()
	if err := p.f.store.Put(ctx, name, obj); err != nil {
		// An object written without its record is an orphan for the
		// collector.
		return MergeStats{}, fmt.Errorf("%w: %s: writing merged object %s: %w", ErrStorage, p.tp, name, err)
	}
	repl := cluster.IndexEntry{BaseOffset: first.BaseOffset, LastOffset: last.LastOffset, Object: name, Position: oe.Position, Length: oe.Length,
		MaxTimestamp: maxTs, LeaderEpoch: first.LeaderEpoch, RecordCount: count, CRC: oe.CRC}
	err = p.f.member.ReplaceIndex(ctx, p.tp, p.epoch, run, repl, cluster.ObjectMeta{Name: name, Size: int64(len(obj)), Created: p.f.cfg.Clock.Now()})
	if err != nil {
		// Not applied (fenced, or the entries changed), or an unknown
		// outcome: an attempt may apply later, even after this returns.
		// The in-memory index may then name objects the collector will
		// delete, so this leadership ends here and the partition is
		// acquired again, its index loaded from etcd (a deposed leader
		// just stops). A swap applied after that load is covered by
		// DeleteIndexBelow's compare (no lost entries) but would leave
		// reads of the run failing until the next acquisition; see
		// DESIGN.md, "Merging".
		err = mapClusterErr(err)
		if !errors.Is(err, ErrNotLeader) {
			err = fmt.Errorf("%w: %s: merging entries [%d, %d]: %w", ErrNotLeader, p.tp, first.BaseOffset, last.LastOffset, err)
		}
		p.lose(err)
		return MergeStats{}, err
	}
	p.spliceRange(first.BaseOffset, last.LastOffset, []cluster.IndexEntry{repl})
	return MergeStats{Entries: len(run), Bytes: int64(len(data))}, nil
}

// spliceRange replaces the in-memory entries covering exactly [base,
// last] with repl (same offsets); nothing if they no longer do.
func (p *Partition) spliceRange(base, last int64, repl []cluster.IndexEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.index), func(i int) bool { return p.index[i].BaseOffset >= base })
	j := sort.Search(len(p.index), func(j int) bool { return p.index[j].LastOffset >= last })
	if i >= len(p.index) || j >= len(p.index) || p.index[i].BaseOffset != base || p.index[j].LastOffset != last {
		return
	}
	// A new slice: readers keep their snapshots of the old one.
	next := make([]cluster.IndexEntry, 0, len(p.index)-(j-i+1)+len(repl))
	next = append(append(append(next, p.index[:i]...), repl...), p.index[j+1:]...)
	p.index = next
}

// mergeRun is the first run of index ready to merge, or nil.
func mergeRun(index []cluster.IndexEntry, target int64, maxEntries int) []cluster.IndexEntry {
	if target <= 0 || maxEntries < 2 || len(index) < 3 {
		return nil
	}
	small := target / 2
	for i := 0; i < len(index)-1; {
		if index[i].Length >= small {
			i++
			continue
		}
		total, j := int64(0), i
		for j < len(index)-1 && j-i < maxEntries && index[j].Length < small &&
			index[j].LeaderEpoch == index[i].LeaderEpoch && total+index[j].Length <= target {
			total += index[j].Length
			j++
		}
		if j-i >= 2 && (total >= small || j-i == maxEntries) {
			return index[i:j]
		}
		i = j // the loop above takes index[i] at least: j > i
	}
	return nil
}
