package share

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Records of __share_group_state, in Kafka's schemas (kmsg has no types
// for them, so they are encoded here with kbin), as in apache/kafka
// share-coordinator/src/main/resources/common/message/ShareSnapshotKey.json
// and ShareSnapshotValue.json (coordinator records: the key starts with
// its record type, 0 for ShareSnapshot and 1 for ShareUpdate, the value
// with its version):
//
//	ShareSnapshotKey   (type 0, not flexible): GroupId string, TopicId uuid, Partition int32
//	ShareSnapshotValue (v0, flexible): SnapshotEpoch uint16, StateEpoch int32,
//	    LeaderEpoch int32, StartOffset int64,
//	    StateBatches [FirstOffset int64, LastOffset int64, DeliveryState int8, DeliveryCount int16]
//
// DeliveryState is 0 available, 2 acknowledged, 4 archived. A nil value
// is a tombstone (offsets or group deleted). Sluice writes snapshots only
// (each one the whole durable state of its share-partition); replay also
// accepts ShareUpdate records (type 1, same key fields; value v0:
// SnapshotEpoch uint16, LeaderEpoch int32, StartOffset int64,
// StateBatches as above), applying them over the last snapshot, so a log
// written by Kafka's coordinator replays too.

// TopicName is the internal topic share-partition state is kept in.
const TopicName = "__share_group_state"

const (
	recordSnapshot int16 = 0
	recordUpdate   int16 = 1
)

// ErrBadRecord is a __share_group_state record that cannot be decoded.
var ErrBadRecord = errors.New("malformed " + TopicName + " record")

// StateBatch is one run of a persisted share-partition state.
type StateBatch struct {
	First, Last int64
	State       int8
	Count       int16
}

// Snapshot is a share-partition's durable state (ShareSnapshotValue).
type Snapshot struct {
	SnapshotEpoch uint16
	StateEpoch    int32
	LeaderEpoch   int32
	Start         int64
	Batches       []StateBatch
}

// EncodeKey is the ShareSnapshotKey of k.
func EncodeKey(k Key) []byte {
	b := kbin.AppendInt16(nil, recordSnapshot)
	b = kbin.AppendString(b, k.Group)
	b = kbin.AppendUuid(b, k.Topic)
	return kbin.AppendInt32(b, k.Partition)
}

// DecodeKey decodes a ShareSnapshotKey or ShareUpdateKey.
func DecodeKey(b []byte) (k Key, typ int16, err error) {
	r := kbin.Reader{Src: b}
	typ = r.Int16()
	if typ != recordSnapshot && typ != recordUpdate {
		return k, typ, fmt.Errorf("%w: key type %d", ErrBadRecord, typ)
	}
	k.Group = r.String()
	k.Topic = r.Uuid()
	k.Partition = r.Int32()
	if err := r.Complete(); err != nil {
		return k, typ, fmt.Errorf("%w: key: %w", ErrBadRecord, err)
	}
	return k, typ, nil
}

// EncodeValue is the ShareSnapshotValue v0 of s.
func EncodeValue(s Snapshot) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendUint16(b, s.SnapshotEpoch)
	b = kbin.AppendInt32(b, s.StateEpoch)
	b = kbin.AppendInt32(b, s.LeaderEpoch)
	b = kbin.AppendInt64(b, s.Start)
	b = kbin.AppendCompactArrayLen(b, len(s.Batches))
	for _, sb := range s.Batches {
		b = kbin.AppendInt64(b, sb.First)
		b = kbin.AppendInt64(b, sb.Last)
		b = kbin.AppendInt8(b, sb.State)
		b = kbin.AppendInt16(b, sb.Count)
		b = kbin.AppendUvarint(b, 0) // no tagged fields
	}
	return kbin.AppendUvarint(b, 0)
}

func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}

// DecodeValue decodes a ShareSnapshotValue (typ 0) or ShareUpdateValue
// (typ 1; StateEpoch is then left 0).
func DecodeValue(b []byte, typ int16) (Snapshot, error) {
	var s Snapshot
	r := kbin.Reader{Src: b}
	if v := r.Int16(); v != 0 {
		return s, fmt.Errorf("%w: value version %d", ErrBadRecord, v)
	}
	s.SnapshotEpoch = r.Uint16()
	if typ == recordSnapshot {
		s.StateEpoch = r.Int32()
	}
	s.LeaderEpoch = r.Int32()
	s.Start = r.Int64()
	n := r.CompactArrayLen()
	if n < 0 || int(n) > len(b)/19 {
		return s, fmt.Errorf("%w: %d state batches", ErrBadRecord, n)
	}
	for range n {
		sb := StateBatch{First: r.Int64(), Last: r.Int64(), State: r.Int8(), Count: r.Int16()}
		skipTags(&r)
		s.Batches = append(s.Batches, sb)
	}
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return s, fmt.Errorf("%w: value: %w", ErrBadRecord, err)
	}
	return s, nil
}

// snapshot is p's durable state: acquired records are persisted as
// available with their delivery count (Kafka persists no acquisitions).
func (p *partition) snapshot() Snapshot {
	s := Snapshot{StateEpoch: p.stateEpoch, Start: p.start}
	for i, r := range p.recs {
		off := p.start + int64(i)
		st := r.state
		if st == Acquired {
			st = Available
		}
		if n := len(s.Batches); n > 0 && s.Batches[n-1].Last == off-1 && s.Batches[n-1].State == st && s.Batches[n-1].Count == r.count {
			s.Batches[n-1].Last = off
			continue
		}
		s.Batches = append(s.Batches, StateBatch{off, off, st, r.count})
	}
	return s
}

// Persisted returns the record to append for k: its snapshot value, or a
// nil value (tombstone) when the share-partition is gone, and the sequence
// number it covers.
func (c *Coordinator) Persisted(k Key) (value []byte, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[k.Group]
	if g == nil || g.parts[k.TP] == nil {
		return nil, 0
	}
	p := g.parts[k.TP]
	if p.start < 0 {
		return nil, p.seq
	}
	return EncodeValue(p.snapshot()), p.seq
}

// maxReplayRecords bounds the in-flight window a replayed snapshot may
// describe (a damaged or hostile record must not allocate without bound).
const maxReplayRecords = 1 << 20

// Replay applies a record of __share_group_state read at start, in log
// order. Acquired records do not exist in the log: they come back
// available.
func (c *Coordinator) Replay(key, value []byte) error {
	k, typ, err := DecodeKey(key)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		if g := c.groups[k.Group]; g != nil {
			delete(g.parts, k.TP)
			if len(g.parts) == 0 && len(g.members) == 0 {
				delete(c.groups, k.Group)
			}
		}
		return nil
	}
	s, err := DecodeValue(value, typ)
	if err != nil {
		return err
	}
	g := c.getOrCreate(k.Group)
	p := g.parts[k.TP]
	if typ == recordSnapshot || p == nil {
		p = &partition{start: s.Start, stateEpoch: s.StateEpoch}
		g.parts[k.TP] = p
	} else if s.Start > p.start { // an update moving the start offset
		drop := min(s.Start-p.start, int64(len(p.recs)))
		p.recs = p.recs[drop:]
		p.start = s.Start
	}
	for _, sb := range s.Batches {
		if sb.First < p.start || sb.Last < sb.First || sb.Last-p.start >= maxReplayRecords {
			return fmt.Errorf("%w: state batch %d-%d outside start %d", ErrBadRecord, sb.First, sb.Last, p.start)
		}
		for int64(len(p.recs)) <= sb.Last-p.start {
			p.recs = append(p.recs, record{state: Available})
		}
		for off := sb.First; off <= sb.Last; off++ {
			p.recs[off-p.start] = record{state: sb.State, count: sb.Count}
		}
	}
	p.advance()
	return nil
}
