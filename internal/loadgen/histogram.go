package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets, as HdrHistogram does:
// values below 2^subBits ns are exact, larger ones fall in buckets whose
// width is at most 1/2^(subBits-1) of their value (0.8 %). Record does not
// allocate, so it can sit in a load generator's hot loop. The zero value is
// empty and ready; a Histogram is not safe for concurrent use.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	subBits    = 8
	half       = 1 << (subBits - 1)
	numBuckets = half*(64-subBits) + 2*half
)

// bucket returns the index of v's bucket; v ≥ 0.
func bucket(v uint64) int {
	if v < 2*half {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return half*shift + int(v>>shift)
}

// bounds returns the lowest value of bucket i and its width.
func bounds(i int) (lo, width uint64) {
	if i < 2*half {
		return uint64(i), 1
	}
	shift := i/half - 1
	top := uint64(i - half*shift)
	return top << shift, 1 << shift
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min returns the smallest recorded value, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean returns the mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below which a fraction q (0–1) of the
// recorded values lie: the midpoint of the bucket holding the rank
// ceil(q·n), clamped to the exact minimum and maximum. It is 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bounds(i)
			v := int64(lo + (w-1)/2)
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Merge adds the values recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
