package loadgen_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/internal/loadgen"
)

func TestCompare(t *testing.T) {
	res := func(label string, conns, round int, cps, p99, cpu float64) loadgen.Result {
		return loadgen.Result{Label: label, Conns: conns, Round: round, CallsPerSec: cps, P99US: p99, ServerCPUUS: cpu}
	}
	tests := []struct {
		name    string
		results []loadgen.Result
		want    []loadgen.Comparison
	}{
		{name: "no results"},
		{name: "one target", results: []loadgen.Result{res("floor", 16, 1, 100, 10, 8)}},
		{
			name: "three rounds",
			results: []loadgen.Result{
				res("floor", 16, 1, 100, 10, 8), res("sr", 16, 1, 90, 12, 9),
				res("floor", 16, 2, 120, 20, 7), res("sr", 16, 2, 60, 30, 14),
				res("floor", 16, 3, 110, 15, 9), res("sr", 16, 3, 99, 15, 10),
			},
			want: []loadgen.Comparison{{
				Label: "sr", Base: "floor", Conns: 16,
				CallsPerSec: 90, BaseCalls: 110, Ratio: 90.0 / 110,
				RoundRatios: []float64{0.9, 0.5, 0.9},
				P99Ratio:    1.0, ServerCPUUS: 10, BaseCPUUS: 8,
			}},
		},
		{
			name: "even rounds, two counts, two targets",
			results: []loadgen.Result{
				res("floor", 1, 1, 10, 1, 1), res("a", 1, 1, 5, 2, 2), res("b", 1, 1, 20, 1, 1),
				res("floor", 4, 1, 40, 4, 1), res("a", 4, 1, 20, 8, 2), res("b", 4, 1, 40, 4, 1),
				res("floor", 1, 2, 30, 3, 3), res("a", 1, 2, 15, 4, 4), res("b", 1, 2, 30, 3, 3),
			},
			want: []loadgen.Comparison{
				{Label: "a", Base: "floor", Conns: 1, CallsPerSec: 10, BaseCalls: 20, Ratio: 0.5, RoundRatios: []float64{0.5, 0.5}, P99Ratio: 1.5, ServerCPUUS: 3, BaseCPUUS: 2},
				{Label: "b", Base: "floor", Conns: 1, CallsPerSec: 25, BaseCalls: 20, Ratio: 1.25, RoundRatios: []float64{2, 1}, P99Ratio: 1, ServerCPUUS: 2, BaseCPUUS: 2},
				{Label: "a", Base: "floor", Conns: 4, CallsPerSec: 20, BaseCalls: 40, Ratio: 0.5, RoundRatios: []float64{0.5}, P99Ratio: 2, ServerCPUUS: 2, BaseCPUUS: 1},
				{Label: "b", Base: "floor", Conns: 4, CallsPerSec: 40, BaseCalls: 40, Ratio: 1, RoundRatios: []float64{1}, P99Ratio: 1, ServerCPUUS: 1, BaseCPUUS: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadgen.Compare(tt.results)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWriteComparison(t *testing.T) {
	var b bytes.Buffer
	loadgen.WriteComparison(&b, nil)
	if b.Len() != 0 {
		t.Errorf("nothing to compare wrote %q", b.String())
	}
	loadgen.WriteComparison(&b, []loadgen.Comparison{{
		Label: "scriptrunner", Base: "floor", Conns: 16, Ratio: 0.884, P99Ratio: 1.357,
		ServerCPUUS: 12.01, BaseCPUUS: 10.04, RoundRatios: []float64{0.91, 0.88, 0.77},
	}})
	for _, want := range []string{
		"compared with floor",
		"scriptrunner       16           0.88       1.36      12.0 vs 10.0      0.91 0.88 0.77",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
