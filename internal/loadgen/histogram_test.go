package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	// 1 µs … 10 ms in 1 µs steps: quantile q is q × 10 ms.
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{name: "p50", q: 0.50, want: 5 * time.Millisecond},
		{name: "p90", q: 0.90, want: 9 * time.Millisecond},
		{name: "p99", q: 0.99, want: 9900 * time.Microsecond},
		{name: "p0", q: 0, want: time.Microsecond},
		{name: "p100", q: 1, want: 10 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := h.Quantile(tc.q)
			if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.01 {
				t.Errorf("got %v, want %v within 1%%", got, tc.want)
			}
		})
	}
	if got, want := h.Count(), uint64(10000); got != want {
		t.Errorf("Count: got %d, want %d", got, want)
	}
	if got, want := h.Max(), 10*time.Millisecond; got != want {
		t.Errorf("Max: got %v, want %v", got, want)
	}
	if got, want := h.Min(), time.Microsecond; got != want {
		t.Errorf("Min: got %v, want %v", got, want)
	}
	if got, want := h.Mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("Mean: got %v, want %v", got, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket whose bounds contain it, and the
	// bucket is at most 1/128 of the value wide.
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 123456789, 1 << 40, math.MaxInt64} {
		i := bucket(v)
		lo, w := bounds(i)
		if v < lo || v-lo >= w {
			t.Errorf("value %d: bucket %d is [%d, %d+%d)", v, i, lo, lo, w)
		}
		if v >= 256 && w > v/128 {
			t.Errorf("value %d: bucket width %d exceeds 1/128 of it", v, w)
		}
		if i >= numBuckets {
			t.Errorf("value %d: bucket %d out of range %d", v, i, numBuckets)
		}
	}
}

func TestHistogramEmptyMergeReset(t *testing.T) {
	var a, b Histogram
	if a.Quantile(0.99) != 0 || a.Mean() != 0 || a.Max() != 0 {
		t.Errorf("empty histogram: got p99 %v mean %v max %v, want zeros", a.Quantile(0.99), a.Mean(), a.Max())
	}
	a.Record(10 * time.Microsecond)
	b.Record(30 * time.Microsecond)
	b.Record(-time.Second) // counts as 0
	a.Merge(&b)
	a.Merge(&Histogram{})
	if a.Count() != 3 || a.Max() != 30*time.Microsecond || a.Min() != 0 {
		t.Errorf("merged: got count %d max %v min %v, want 3, 30µs, 0", a.Count(), a.Max(), a.Min())
	}
	if got := a.Quantile(0.5); got < 9900*time.Nanosecond || got > 10100*time.Nanosecond {
		t.Errorf("merged p50: got %v, want about 10µs", got)
	}
	a.Reset()
	if a.Count() != 0 {
		t.Errorf("after Reset: got count %d, want 0", a.Count())
	}
}

func TestHistogramRecordAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, non-race run")
	}
	h := new(Histogram)
	if got := testing.AllocsPerRun(1000, func() { h.Record(1234 * time.Microsecond) }); got != 0 {
		t.Errorf("got %v allocations per Record, want 0", got)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d += 997
		h.Record(d & (1<<24 - 1))
	}
}
