package bindings

import (
	"errors"
	"math"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestBudgetCharge(t *testing.T) {
	var nilBudget *Budget
	if err := nilBudget.Charge("x", math.MaxInt64); err != nil || nilBudget.Remaining() != -1 || nilBudget.Depth() != DefaultMaxDepth {
		t.Errorf("a nil budget must accept everything: %v", err)
	}
	b := &Budget{MaxBuild: 100}
	if err := b.Charge("+", 60); err != nil {
		t.Fatal(err)
	}
	err := b.Charge("+", 41)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrBuildLimit) || le.Left != 40 || b.Built != 60 {
		t.Fatalf("got %v (built %d), want a LimitError with 40 left and nothing charged", err, b.Built)
	}
	if got := err.Error(); got != "+: would build 41 bytes, but only 40 of the call's max_build_bytes (100) are left" {
		t.Errorf("got message %q", got)
	}
	if err := b.Charge("+", 40); err != nil || b.Remaining() != 0 {
		t.Errorf("got %v, remaining %d; want the budget used exactly", err, b.Remaining())
	}
	if Mul(math.MaxInt64, 2) != math.MaxInt64 || Mul(-1, 5) != 0 || Add(math.MaxInt64, 1) != math.MaxInt64 || Mul(3, 4) != 12 {
		t.Error("Mul/Add do not saturate")
	}
}

func TestBudgetSteps(t *testing.T) {
	thread := &starlark.Thread{}
	b := &Budget{StepLimit: 100}
	if err := b.ChargeSteps(thread, "sorted", 60); err != nil || thread.ExecutionSteps() != 60 {
		t.Fatalf("got %v, steps %d", err, thread.ExecutionSteps())
	}
	if err := b.ChargeSteps(thread, "sorted", 41); !errors.Is(err, ErrStepLimit) || thread.ExecutionSteps() != 60 {
		t.Fatalf("got %v, steps %d; want refused and nothing charged", err, thread.ExecutionSteps())
	}
}

func TestCheckJSONDepth(t *testing.T) {
	tests := []struct {
		text      string
		depth     int
		items     int
		wantError bool
	}{
		{`1`, 0, 0, false},
		{`[1, [2, {"a": [3]}]]`, 4, 6, false},
		{`"[[[[[["`, 0, 0, false},
		{`["\"[[[[[[", 1]`, 1, 2, false},
		{strings.Repeat("[", 6), 6, 6, true},
		{strings.Repeat("[", 5) + strings.Repeat("]", 5), 5, 5, false},
	}
	for _, tc := range tests {
		depth, items, err := CheckJSONDepth(tc.text, 5)
		if (err != nil) != tc.wantError || depth != tc.depth || (err == nil && items != tc.items) {
			t.Errorf("CheckJSONDepth(%q) = %d, %d, %v; want %d, %d, error %v", tc.text, depth, items, err, tc.depth, tc.items, tc.wantError)
		}
	}
}

func TestEstimateSize(t *testing.T) {
	s := starlark.String(strings.Repeat("x", 1000))
	shared := starlark.NewList([]starlark.Value{s, s, s})
	est, err := EstimateSize(shared, 10, -1)
	if err != nil || est.Bytes < 3000 || est.Depth != 1 {
		t.Errorf("got %+v, %v; want every reference counted", est, err)
	}
	if _, err := EstimateSize(shared, 10, 2000); err == nil {
		t.Error("want the limit to stop the walk")
	}
	cyclic := starlark.NewList(nil)
	cyclic.Append(cyclic)
	if est, err := EstimateSize(cyclic, 10, -1); err != nil || est.Bytes > 100 {
		t.Errorf("cycle: got %+v, %v", est, err)
	}
	deep := starlark.Value(starlark.None)
	for range 20 {
		deep = starlark.Tuple{deep}
	}
	if _, err := EstimateSize(deep, 10, -1); !errors.Is(err, ErrDepthLimit) {
		t.Errorf("got %v, want ErrDepthLimit", err)
	}
}

// FuzzJSONDepth: the nesting CheckJSONDepth reports is the nesting of
// what the decoder makes of the text, and text it refuses never reaches
// the decoder.
func FuzzJSONDepth(f *testing.F) {
	for _, s := range []string{`1`, `[]`, `{"a": [1, {"b": []}]}`, `["]", "[", "\"["]`, `[[[[[[[[`, `{"a":{"a":{"a":{}}}}`, `[1,2,[3,[4]]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		const maxDepth = 8
		thread := &starlark.Thread{}
		BindBudget(thread, &Budget{MaxDepth: maxDepth})
		depth, _, checkErr := CheckJSONDepth(text, maxDepth)
		v, err := DecodeJSON(thread, text)
		if checkErr != nil {
			if !errors.Is(err, ErrDepthLimit) {
				t.Fatalf("CheckJSONDepth refused %q (%v) but DecodeJSON returned %v", text, checkErr, err)
			}
			return
		}
		if err != nil {
			return // invalid JSON
		}
		est, err := EstimateSize(v, maxDepth, -1)
		if err != nil || est.Depth != depth {
			t.Fatalf("%q: CheckJSONDepth says depth %d, the decoded value has %d (%v)", text, depth, est.Depth, err)
		}
	})
}
