package runner_test

import "testing"

// TestAllocsInProcess guards the claim of docs/bench.md: one call of the
// reference filter, from decoding the frame payload to encoding the
// reply, allocates at most 3 times on the allow path: the Starlark frame
// and the argument copies of the two builtin calls.
func TestAllocsInProcess(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, non-race run")
	}
	tests := []struct {
		name string
		deny bool
		max  float64
	}{
		{"allow", false, 3},
		{"deny", true, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, token := newBenchRunner(t)
			run := inProcessCall(t, r, benchPayload(t, token, tc.deny))
			run()
			if got := testing.AllocsPerRun(500, run); got > tc.max {
				t.Errorf("got %v allocations per call, want at most %v", got, tc.max)
			}
		})
	}
}
