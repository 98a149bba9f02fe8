package log

import (
	"hash/maphash"
)

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
