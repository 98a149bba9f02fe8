package objlog

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/objstore"
)

// Read returns the stored batches from the one holding offset on, as
// uploaded (the header fields the broker owns already rewritten), up to
// maxBytes but at least one whole batch (as Kafka's fetch, KIP-74).
// Nothing at or above the high watermark is returned: offset == hw gives
// no bytes, offsets outside [log start, hw] are ErrOffsetOutOfRange. The
// result may share memory with the read cache: do not modify it.
func (p *Partition) Read(ctx context.Context, offset int64, maxBytes int) ([]byte, error) {
	hw, logStart, index, err := p.snapshot()
	if err != nil {
		return nil, err
	}
	if offset < logStart || offset > hw {
		return nil, fmt.Errorf("%w: %s: offset %d, log is [%d, %d]", ErrOffsetOutOfRange, p.tp, offset, logStart, hw)
	}
	return p.readBelow(ctx, index, offset, hw, maxBytes)
}

// readBelow reads the batches of index from the one holding offset up to
// the first starting at or past end, as Read.
func (p *Partition) readBelow(ctx context.Context, index []cluster.IndexEntry, offset, end int64, maxBytes int) ([]byte, error) {
	if offset >= end {
		return nil, nil
	}
	var out []byte
	for i := entryAt(index, offset); i < len(index) && index[i].BaseOffset < end; i++ {
		e := index[i]
		batches, err := p.readEntry(ctx, e)
		if err != nil {
			return nil, err
		}
		from, to := 0, 0
		last := i+1 == len(index) || index[i+1].BaseOffset >= end
		for pos := 0; pos < len(batches); {
			h, _ := log.ParseBatchHeader(batches[pos:]) // checked by readEntry
			size := h.Size()
			if h.BaseOffset >= end {
				last = true
				break
			}
			switch {
			case h.LastOffset() < offset:
				from = pos + size
			case len(out)+(pos+size-from) > maxBytes && (len(out) > 0 || pos > from):
				if out == nil {
					return batches[from:pos], nil // one piece: no copy
				}
				return append(out, batches[from:pos]...), nil
			}
			pos += size
			to = pos
		}
		piece := batches[from:to]
		if out == nil && (last || len(piece) >= maxBytes) {
			return piece, nil
		}
		out = append(out, piece...)
		if last || len(out) >= maxBytes {
			break
		}
	}
	return out, nil
}

// entryAt is the index of the entry holding offset (the last starting at
// or below it).
func entryAt(index []cluster.IndexEntry, offset int64) int {
	i := sort.Search(len(index), func(i int) bool { return index[i].BaseOffset > offset })
	return max(i-1, 0)
}

// checkedReader is a RangeReader that checks a range before keeping it
// (objstore.Cache).
type checkedReader interface {
	GetChecked(ctx context.Context, key string, off, length int64, check func([]byte) error) ([]byte, error)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readEntry reads one index entry's bytes through the cache, checked
// against the entry's CRC32C and its batch framing before the cache keeps
// them. A range failing the check is read again from the object store
// once; failing again, it is ErrStorage wrapping objstore.ErrCorrupt.
func (p *Partition) readEntry(ctx context.Context, e cluster.IndexEntry) ([]byte, error) {
	check := func(b []byte) error { return checkRange(e, b) }
	for attempt := 0; ; attempt++ {
		var b []byte
		var err error
		if cr, ok := p.f.reader.(checkedReader); ok {
			b, err = cr.GetChecked(ctx, e.Object, e.Position, e.Length, check)
		} else if b, err = p.f.reader.Get(ctx, e.Object, e.Position, e.Length); err == nil {
			err = check(b)
		}
		switch {
		case err == nil:
			return b, nil
		case errors.Is(err, objstore.ErrCorrupt) && attempt == 0:
			p.f.log.Warn("object range fails its check, reading it again", "partition", p.tp.String(), "object", e.Object, "position", e.Position, "length", e.Length, "err", err)
			continue
		case errors.Is(err, objstore.ErrCorrupt):
			p.f.log.Error("corrupt object range", "partition", p.tp.String(), "object", e.Object, "position", e.Position, "length", e.Length, "offsets", fmt.Sprintf("%d-%d", e.BaseOffset, e.LastOffset), "err", err)
			return nil, fmt.Errorf("%w: %s: reading offsets %d-%d: %w", ErrStorage, p.tp, e.BaseOffset, e.LastOffset, err)
		case errors.Is(err, objstore.ErrRetriable):
			return nil, fmt.Errorf("%w: %s: reading offsets %d-%d: %w", ErrTimeout, p.tp, e.BaseOffset, e.LastOffset, err)
		default:
			return nil, fmt.Errorf("%w: %s: reading offsets %d-%d: %w", ErrStorage, p.tp, e.BaseOffset, e.LastOffset, err)
		}
	}
}

// checkRange checks an index entry's bytes: their CRC32C (the object
// footer's entry CRC, kept in the index entry), then that they are the
// whole batches the entry says, in order. Failures wrap objstore.ErrCorrupt.
func checkRange(e cluster.IndexEntry, b []byte) error {
	if int64(len(b)) != e.Length {
		return fmt.Errorf("%w: object %s range at %d: %d bytes, index says %d", objstore.ErrCorrupt, e.Object, e.Position, len(b), e.Length)
	}
	if crc := crc32.Checksum(b, castagnoli); crc != e.CRC {
		return fmt.Errorf("%w: object %s range at %d+%d: CRC32C %08x, index says %08x", objstore.ErrCorrupt, e.Object, e.Position, e.Length, crc, e.CRC)
	}
	next := e.BaseOffset
	for pos := 0; pos < len(b); {
		h, err := log.CheckStoredBatch(b[pos:])
		if err == nil && h.BaseOffset != next {
			err = fmt.Errorf("batch at base offset %d, expected %d", h.BaseOffset, next)
		}
		if err != nil {
			return fmt.Errorf("%w: object %s at %d: %w", objstore.ErrCorrupt, e.Object, e.Position+int64(pos), err)
		}
		next = h.LastOffset() + 1
		pos += h.Size()
	}
	if next != e.LastOffset+1 {
		return fmt.Errorf("%w: object %s range at %d ends at offset %d, index says %d", objstore.ErrCorrupt, e.Object, e.Position, next-1, e.LastOffset)
	}
	return nil
}

// OffsetForTimestamp is ListOffsets by timestamp: the offset and timestamp
// of the first record at or after the log start offset whose timestamp is
// >= ts, or (-1, -1) if there is none. The index entries' max timestamps
// pick the one range to read.
func (p *Partition) OffsetForTimestamp(ctx context.Context, ts int64) (offset, timestamp int64, err error) {
	_, logStart, index, err := p.snapshot()
	if err != nil {
		return -1, -1, err
	}
	for _, e := range index {
		if e.MaxTimestamp < ts || e.LastOffset < logStart {
			continue
		}
		off, t, err := p.firstInEntry(ctx, e, logStart, ts)
		if err != nil || off >= 0 {
			return off, t, err
		}
	}
	return -1, -1, nil
}

// MaxTimestamp is ListOffsets' MAX_TIMESTAMP (KIP-734): the offset and
// timestamp of the record with the largest timestamp, the first one if
// several share it, or (-1, -1) if the log is empty.
func (p *Partition) MaxTimestamp(ctx context.Context) (offset, timestamp int64, err error) {
	_, logStart, index, err := p.snapshot()
	if err != nil {
		return -1, -1, err
	}
	best := -1
	for i, e := range index {
		if e.LastOffset >= logStart && (best < 0 || e.MaxTimestamp > index[best].MaxTimestamp) {
			best = i
		}
	}
	if best < 0 {
		return -1, -1, nil
	}
	e := index[best]
	off, t, err := p.firstInEntry(ctx, e, logStart, e.MaxTimestamp)
	if err == nil && off < 0 {
		err = fmt.Errorf("%w: %s: no record with the index's max timestamp %d in object %s", ErrStorage, p.tp, e.MaxTimestamp, e.Object)
	}
	return off, t, err
}

// firstInEntry is the first record of the entry at or after from with a
// timestamp >= ts, or -1.
func (p *Partition) firstInEntry(ctx context.Context, e cluster.IndexEntry, from, ts int64) (int64, int64, error) {
	b, err := p.readEntry(ctx, e)
	if err != nil {
		return -1, -1, err
	}
	for pos := 0; pos < len(b); {
		h, _ := log.ParseBatchHeader(b[pos:])
		size := h.Size()
		if h.LastOffset() >= from && h.MaxTimestamp >= ts {
			off, t, err := log.FirstRecordAtLeast(b[pos:pos+size], from, ts)
			if err != nil {
				return -1, -1, fmt.Errorf("%w: %s: object %s: %w", ErrStorage, p.tp, e.Object, err)
			}
			if off >= 0 {
				return off, t, nil
			}
		}
		pos += size
	}
	return -1, -1, nil
}

// DeleteRecords moves the log start offset to offset (Kafka's
// DeleteRecords; -1 means the high watermark) and deletes the index
// entries wholly below it in etcd (cluster.Member.DeleteIndexBelow), under
// this leadership's fence. It returns the new log start offset (the low
// watermark). Offsets past the hw are ErrOffsetOutOfRange; one at or
// below the log start changes nothing. The objects no entry references
// any more are left to the object garbage collector.
func (p *Partition) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	p.deleteMu.Lock()
	defer p.deleteMu.Unlock()
	hw, logStart, _, err := p.snapshot()
	if err != nil {
		return 0, err
	}
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, fmt.Errorf("%w: %s: DeleteRecords to %d, log is [%d, %d]", ErrOffsetOutOfRange, p.tp, offset, logStart, hw)
	}
	if offset <= logStart {
		return logStart, nil
	}
	if _, err := p.f.member.DeleteIndexBelow(ctx, p.tp, p.epoch, offset); err != nil {
		err = mapClusterErr(err)
		if errors.Is(err, ErrNotLeader) {
			p.lose(err)
		}
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if offset > p.logStart {
		p.logStart = offset
		i := 0
		for i < len(p.index) && p.index[i].LastOffset < offset {
			i++
		}
		// A new slice: readers keep their snapshots of the old one.
		p.index = append([]cluster.IndexEntry(nil), p.index[i:]...)
	}
	return p.logStart, nil
}

// RetentionOffset is where retention would move the log start offset
// under the topic's retention.ms and retention.bytes (Config.RetentionMs,
// RetentionBytes; negative: no limit) at now (unix ms), judged by index
// entries as Kafka judges whole segments: an entry goes when its max
// timestamp is older than retention.ms, or while the entries after it
// still hold more than retention.bytes. The caller passes a result above
// the log start to DeleteRecords.
func (p *Partition) RetentionOffset(now int64) int64 {
	cfg := p.cfg.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.logStart
	var total int64
	for _, e := range p.index {
		total += e.Length
	}
	for _, e := range p.index {
		// An entry compaction emptied (no records, max timestamp -1)
		// holds nothing to keep: it goes with those before it.
		emptied := e.RecordCount == 0 && e.MaxTimestamp < 0
		byTime := cfg.RetentionMs >= 0 && (emptied || e.MaxTimestamp >= 0 && now-e.MaxTimestamp > cfg.RetentionMs)
		bySize := cfg.RetentionBytes >= 0 && total-e.Length >= cfg.RetentionBytes
		if !byTime && !bySize {
			break
		}
		total -= e.Length
		start = max(start, e.LastOffset+1)
	}
	return start
}

// EpochEndOffset answers Kafka's OffsetForLeaderEpoch for a requested
// leader epoch, from the epochs of the index entries (each entry's batches
// share one leader epoch; merging never mixes epochs) and this leadership's
// epoch, as Kafka's LeaderEpochFileCache.endOffsetFor does:
//
//   - the current epoch, or no entries of a later epoch and none of an
//     earlier one known: (epoch, hw);
//   - a requested epoch above the current one: (-1, -1), undefined;
//   - otherwise the largest epoch at or below the requested one that has
//     entries (the requested epoch itself when the log holds none that
//     old), ending where the first entry of a later epoch starts (the hw
//     when none has entries: the later epochs wrote nothing yet).
func (p *Partition) EpochEndOffset(requested int32) (epoch int32, endOffset int64, err error) {
	hw, logStart, index, err := p.snapshot()
	if err != nil {
		return -1, -1, err
	}
	switch {
	case requested < 0 || requested > p.epoch:
		return -1, -1, nil
	case requested == p.epoch:
		return p.epoch, hw, nil
	}
	floor, end := int32(-1), hw
	for _, e := range index {
		if e.LeaderEpoch > requested {
			end = e.BaseOffset
			break
		}
		floor = e.LeaderEpoch
	}
	if floor < 0 {
		floor = requested
	}
	// Kafka trims its epoch cache to the log start: an epoch older than
	// the log ends there at the earliest.
	return floor, max(end, logStart), nil
}
