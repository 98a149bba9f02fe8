package share

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record states, numbered as Kafka's RecordState (and the DeliveryState of
// its persisted state batches: 0 available, 2 acknowledged, 4 archived).
const (
	Available    int8 = 0
	Acquired     int8 = 1
	Acknowledged int8 = 2
	Archived     int8 = 4
)

// Acknowledge types (ShareFetch/ShareAcknowledge AcknowledgeTypes).
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4 // KIP-1222, v2 with IsRenewAck
)

type record struct {
	state  int8
	count  int16 // delivery count
	member string
	expiry time.Time
}

// partition is one share-partition: start is the share-partition start
// offset (-1 until initialized), recs the in-flight records from start
// on (the end offset is start+len(recs)).
type partition struct {
	start      int64
	recs       []record
	stateEpoch int32
	seq        uint64 // bumped on every durable change
	acquired   int    // records in state Acquired
}

// advance moves the start offset over acknowledged and archived records.
func (p *partition) advance() {
	i := 0
	for i < len(p.recs) && (p.recs[i].state == Acknowledged || p.recs[i].state == Archived) {
		i++
	}
	if i > 0 {
		p.start += int64(i)
		p.recs = append(p.recs[:0:0], p.recs[i:]...)
	}
}

// release ends r's acquisition: available again, or archived once its
// delivery count reached the limit.
func (p *partition) release(r *record, limit int16) {
	p.acquired--
	r.member, r.expiry = "", time.Time{}
	if r.count >= limit {
		r.state = Archived
	} else {
		r.state = Available
	}
}

func (p *partition) releaseMember(id string, limit int16) int {
	n := 0
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && r.member == id {
			p.release(r, limit)
			n++
		}
	}
	return n
}

func (p *partition) expire(now time.Time, limit int16) (n int, next time.Time) {
	if p.acquired == 0 {
		return 0, time.Time{}
	}
	for i := range p.recs {
		r := &p.recs[i]
		if r.state != Acquired {
			continue
		}
		if !now.Before(r.expiry) {
			p.release(r, limit)
			n++
		} else if next.IsZero() || r.expiry.Before(next) {
			next = r.expiry
		}
	}
	return n, next
}

// Range is an acquired run of offsets with one delivery count.
type Range struct {
	First, Last   int64
	DeliveryCount int16
}

// View is what the broker knows of the partition's log at a fetch: its log
// start offset, the offset fetching stops at (high watermark, or last
// stable offset at read_committed), and the offset a new share-partition
// starts at (share.auto.offset.reset).
type View struct {
	LogStart, End, Init int64
}

// acquire takes up to max records for member: available ones first, then
// new ones up to the end of the view, keeping at most maxLocks records in
// flight. It returns the acquired ranges in offset order.
func (p *partition) acquire(member string, max int, v View, now time.Time, lock time.Duration, maxLocks int) (out []Range, durable bool) {
	if p.start < 0 {
		p.start = v.Init
		durable = true
	}
	if p.start < v.LogStart { // records deleted under the share-partition
		drop := min(v.LogStart-p.start, int64(len(p.recs)))
		for _, r := range p.recs[:drop] {
			if r.state == Acquired {
				p.acquired--
			}
		}
		p.recs = append(p.recs[:0:0], p.recs[drop:]...)
		p.start = v.LogStart
		durable = true
	}
	add := func(off int64, count int16) {
		if n := len(out); n > 0 && out[n-1].Last == off-1 && out[n-1].DeliveryCount == count {
			out[n-1].Last = off
			return
		}
		out = append(out, Range{off, off, count})
	}
	n := 0
	for i := range p.recs {
		if n >= max {
			break
		}
		r := &p.recs[i]
		off := p.start + int64(i)
		if r.state != Available || off >= v.End {
			continue
		}
		r.state, r.member, r.expiry = Acquired, member, now.Add(lock)
		r.count++
		p.acquired++
		add(off, r.count)
		n++
	}
	for n < max && len(p.recs) < maxLocks {
		off := p.start + int64(len(p.recs))
		if off >= v.End {
			break
		}
		p.recs = append(p.recs, record{state: Acquired, count: 1, member: member, expiry: now.Add(lock)})
		p.acquired++
		add(off, 1)
		n++
	}
	return out, durable
}

// AckBatch is one acknowledgement batch of a request.
type AckBatch struct {
	First, Last int64
	Types       []int8 // one for the whole batch, or one per offset
}

// validateAcks checks a partition's batches: ordered, not overlapping,
// types valid (INVALID_REQUEST), and every offset acquired by member
// (INVALID_RECORD_STATE). Nothing changes when they are not.
func (p *partition) validateAcks(member string, bs []AckBatch, maxType int8) *kerr.Error {
	prev := int64(-1)
	for i, b := range bs {
		if b.First < 0 || b.Last < b.First || (i > 0 && b.First <= prev) {
			return kerr.InvalidRequest
		}
		prev = b.Last
		if len(b.Types) != 1 && int64(len(b.Types)) != b.Last-b.First+1 {
			return kerr.InvalidRequest
		}
		for _, t := range b.Types {
			if t < 0 || t > maxType {
				return kerr.InvalidRequest
			}
		}
	}
	for _, b := range bs {
		if b.First < p.start || b.Last >= p.start+int64(len(p.recs)) {
			return kerr.InvalidRecordState
		}
		for off := b.First; off <= b.Last; off++ {
			r := &p.recs[off-p.start]
			if r.state != Acquired || r.member != member {
				return kerr.InvalidRecordState
			}
		}
	}
	return nil
}

// applyAcks applies validated batches; it reports whether records became
// available again.
func (p *partition) applyAcks(bs []AckBatch, limit int16, now time.Time, lock time.Duration) (released bool) {
	for _, b := range bs {
		for off := b.First; off <= b.Last; off++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[off-b.First]
			}
			r := &p.recs[off-p.start]
			switch t {
			case AckAccept:
				p.acquired--
				r.state, r.member, r.expiry = Acknowledged, "", time.Time{}
			case AckRelease:
				p.release(r, limit)
				released = released || r.state == Available
			case AckReject, AckGap:
				p.acquired--
				r.state, r.member, r.expiry = Archived, "", time.Time{}
			case AckRenew:
				r.expiry = now.Add(lock)
			}
		}
	}
	return released
}
