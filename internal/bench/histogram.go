package bench

import (
	"math"
	"math/bits"
)

// histogram is a log-linear histogram of non-negative int64 values (ns):
// exact below 256, otherwise in buckets of 1/128 of a power of two (under
// 0.4% error from a bucket's middle). Not safe for concurrent use.
type histogram struct {
	counts   []uint64
	n        int64
	sum      float64
	min, max int64
}

const histSubBits = 7

func histIndex(v int64) int {
	u := uint64(max(v, 0))
	if u < 2<<histSubBits {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits - 1
	return shift<<histSubBits + int(u>>shift)
}

// histValue is the middle of bucket i.
func histValue(i int) int64 {
	if i < 2<<histSubBits {
		return int64(i)
	}
	shift := i>>histSubBits - 1
	m := int64(i - shift<<histSubBits)
	lo, hi := m<<shift, (m+1)<<shift-1
	return lo + (hi-lo)/2
}

func (h *histogram) record(v int64) {
	v = max(v, 0)
	if h.counts == nil {
		h.counts = make([]uint64, (64-histSubBits)<<histSubBits)
		h.min, h.max = v, v
	}
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
	h.min, h.max = min(h.min, v), max(h.max, v)
}

// quantile returns the value at quantile q (0 to 1): the smallest recorded
// value (up to bucket precision) with at least q of all values at or below
// it.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var cum int64
	for i, c := range h.counts {
		cum += int64(c)
		if cum >= rank {
			return min(max(histValue(i), h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) summary() *latencySummary {
	if h.n == 0 {
		return nil
	}
	return &latencySummary{
		Count: h.n, Mean: h.sum / float64(h.n) / 1e6,
		P50: ms(h.quantile(0.50)), P99: ms(h.quantile(0.99)), P999: ms(h.quantile(0.999)), Max: ms(h.max),
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// merge adds o's values to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, len(o.counts))
		h.min, h.max = o.min, o.max
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min, h.max = min(h.min, o.min), max(h.max, o.max)
}
