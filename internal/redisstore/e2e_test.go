package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/redisstore"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// limitScript admits 3 calls an hour across every runner, and counts
// the calls it saw in the shared store.
const limitScript = `
def on_request(req, conf):
    shared.incr("calls")
    if not ratelimit.allow("e2e", 3, per = 3600):
        return respond(429, body = "slow down")
`

// call sends one request through h and renders its outcome: "continue",
// or the status of the response the runner answered with.
func call(t *testing.T, h *runnertest.Harness, id uint32) string {
	t.Helper()
	got := h.Run(t, runnertest.Exchange{
		Confs:   []runnertest.Conf{{Name: "limit", Value: []byte(`{}`)}},
		Request: &protocoltest.ReqCall{ID: id, Path: "/"},
	})
	switch {
	case got.Prepare != "ok":
		t.Fatalf("prepare: %s\n%s", got.Prepare, h.LogText())
	case got.Reply.Action == "none", got.Reply.Action == "rewrite": // the runner continues with a rewrite
		return "continue"
	case got.Reply.Action == "stop":
		return fmt.Sprint(got.Reply.Stop.Status)
	}
	return got.Reply.Action
}

// startRunner starts a runner whose shared store is a Redis store on srv
// with policy.
func startRunner(t *testing.T, srv *server, policy redisstore.Policy) (*runnertest.Harness, *redisstore.Store) {
	store := newStore(t, srv, redisstore.Config{KeyPrefix: "e2e:" + string(policy) + ":", Policy: policy})
	h := runnertest.StartWith(t, map[string][]byte{"limit.star": []byte(limitScript)},
		engine.Config{Store: store, Timeout: 10 * time.Second}, runner.Config{})
	return h, store
}

// TestRunnersShareRateLimit: two runners on one Redis admit 3 requests
// between them; with Redis gone the policy answers; after Redis is back
// the same runners work again.
func TestRunnersShareRateLimit(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		policy redisstore.Policy
		down   string // the outcome of a call while Redis is down
	}{
		{redisstore.PolicyClosed, "500"},
		{redisstore.PolicyOpen, "continue"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			h0, s0 := startRunner(t, srv, tc.policy)
			h1, s1 := startRunner(t, srv, tc.policy)
			runners := []*runnertest.Harness{h0, h1}
			counts := map[string]int{}
			for i := range 10 {
				counts[call(t, runners[i%2], uint32(i+1))]++
			}
			if counts["continue"] != 3 || counts["429"] != 7 {
				t.Errorf("up: got %v, want 3 continue and 7 429 between the two runners", counts)
			}

			srv.kill()
			for i, h := range runners {
				if got := call(t, h, 100); got != tc.down {
					t.Errorf("down: runner %d: got %s, want %s\n%s", i, got, tc.down, h.LogText())
				}
				if logs := h.LogText(); tc.policy == redisstore.PolicyClosed && !strings.Contains(logs, "shared.incr: redis store unavailable") {
					t.Errorf("down: runner %d logged no script error for the store:\n%s", i, logs)
				}
			}

			srv.restart() // empty: no persistence
			for _, s := range []*redisstore.Store{s0, s1} {
				if err := pollFor(10*time.Second, func() (bool, error) { return s.Ping(ctx) == nil, nil }); err != nil {
					t.Fatalf("store did not reconnect: %v", err)
				}
			}
			counts = map[string]int{}
			for i := range 5 {
				counts[call(t, runners[i%2], uint32(300+i))]++
			}
			if counts["continue"] != 3 || counts["429"] != 2 {
				t.Errorf("back up: got %v, want 3 continue and 2 429", counts)
			}
		})
	}
}
