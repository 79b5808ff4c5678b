package runner_test

import (
	"testing"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// TestAllocsInProcess guards the claim of docs/bench.md: one call of the
// reference filter, from decoding the frame payload to encoding the
// reply, allocates at most 5 times on the allow path.
func TestAllocsInProcess(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, non-race run")
	}
	tests := []struct {
		name, key string
		max       float64
	}{
		{"allow", "secret", 5},
		{"deny", "wrong", 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, token := newBenchRunner(t)
			req := benchRequest(tc.key)
			req.ConfToken = token
			payload, err := protocoltest.EncodeReqCall(req)
			if err != nil {
				t.Fatal(err)
			}
			var (
				call  protocol.Call
				in    protocol.HTTPReqCallRequest
				reply protocol.ReqCallReply
			)
			run := func() {
				if err := in.Decode(payload); err != nil {
					t.Fatal(err)
				}
				reply.Reset()
				if err := r.HTTPReqCall(&call, &in, &reply); err != nil {
					t.Fatal(err)
				}
				enc := protocol.GetEncoder()
				if _, err := enc.ReqCall(in.ID, &reply); err != nil {
					t.Fatal(err)
				}
				protocol.PutEncoder(enc)
			}
			run()
			if got := testing.AllocsPerRun(500, run); got > tc.max {
				t.Errorf("got %v allocations per call, want at most %v", got, tc.max)
			}
		})
	}
}
