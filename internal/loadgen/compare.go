package loadgen

import (
	"fmt"
	"io"
	"slices"
)

// Comparison sets one target against the sweep's first target (the
// base, usually the floor) at one connection count. Calls/s, p99 and
// CPU are medians over the rounds; Ratio is the ratio of the calls/s
// medians and RoundRatios are the ratios of each round's pair, which
// were measured seconds apart.
type Comparison struct {
	Label       string    `json:"label"`
	Base        string    `json:"base"`
	Conns       int       `json:"conns"`
	CallsPerSec float64   `json:"calls_per_sec"`
	BaseCalls   float64   `json:"base_calls_per_sec"`
	Ratio       float64   `json:"ratio"`
	RoundRatios []float64 `json:"round_ratios"`
	P99Ratio    float64   `json:"p99_ratio"`
	ServerCPUUS float64   `json:"server_cpu_us"`
	BaseCPUUS   float64   `json:"base_server_cpu_us"`
}

// Compare sets every target of a sweep against the first one, per
// connection count, in the order the results came. It returns nothing
// for a sweep of one target.
func Compare(results []Result) []Comparison {
	if len(results) == 0 {
		return nil
	}
	base := results[0].Label
	type key struct {
		label string
		conns int
	}
	cells := map[key][]Result{}
	var order []key
	for _, r := range results {
		k := key{r.Label, r.Conns}
		if _, ok := cells[k]; !ok {
			order = append(order, k)
		}
		cells[k] = append(cells[k], r)
	}
	var out []Comparison
	for _, k := range order {
		b, ok := cells[key{base, k.conns}]
		if k.label == base || !ok {
			continue
		}
		rs := cells[k]
		c := Comparison{
			Label: k.label, Base: base, Conns: k.conns,
			CallsPerSec: median(rs, func(r Result) float64 { return r.CallsPerSec }),
			BaseCalls:   median(b, func(r Result) float64 { return r.CallsPerSec }),
			ServerCPUUS: median(rs, func(r Result) float64 { return r.ServerCPUUS }),
			BaseCPUUS:   median(b, func(r Result) float64 { return r.ServerCPUUS }),
		}
		c.Ratio = ratio(c.CallsPerSec, c.BaseCalls)
		c.P99Ratio = ratio(median(rs, func(r Result) float64 { return r.P99US }), median(b, func(r Result) float64 { return r.P99US }))
		for _, r := range rs {
			for _, br := range b {
				if br.Round == r.Round {
					c.RoundRatios = append(c.RoundRatios, ratio(r.CallsPerSec, br.CallsPerSec))
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// median of f over rs; the mean of the middle two for an even count.
func median(rs []Result, f func(Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// WriteComparison writes cs as a text table after a sweep's rows.
func WriteComparison(w io.Writer, cs []Comparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\ncompared with %s (medians over rounds; calls/s ratio per round in time order):\n", cs[0].Base)
	fmt.Fprintln(w, "target          conns  calls/s ratio  p99 ratio  cpu µs/call vs base  per round")
	for _, c := range cs {
		fmt.Fprintf(w, "%-15s %5d  %13.2f  %9.2f  %8.1f vs %-8.1f ", c.Label, c.Conns, c.Ratio, c.P99Ratio, c.ServerCPUUS, c.BaseCPUUS)
		for _, r := range c.RoundRatios {
			fmt.Fprintf(w, " %.2f", r)
		}
		fmt.Fprintln(w)
	}
}
