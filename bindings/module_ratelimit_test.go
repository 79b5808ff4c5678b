package bindings

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

// admitted returns a snippet counting how many of n calls of
// ratelimit.allow(args) are admitted.
func admitted(n int, args string) string {
	return fmt.Sprintf("got = len([1 for i in range(%d) if ratelimit.allow(%s)])", n, args)
}

func TestRatelimitAllow(t *testing.T) {
	tests := []struct {
		name  string
		steps []stateStep
	}{
		{name: "burst defaults to rate, then refills", steps: []stateStep{
			{src: admitted(15, `"k", 10`), want: "10"},
			{at: 100 * time.Millisecond, src: admitted(5, `"k", 10`), want: "1"},
			{at: 1 * time.Second, src: admitted(20, `"k", 10`), want: "9"},
			{at: 1050 * time.Millisecond, src: admitted(5, `"k", 10`), want: "0"},
			{at: 10 * time.Second, src: admitted(20, `"k", 10`), want: "10"},
		}},
		{name: "per a minute", steps: []stateStep{
			{src: admitted(5, `"k", 3, per=60, burst=1`), want: "1"},
			{at: 19999 * time.Millisecond, src: admitted(5, `"k", 3, per=60, burst=1`), want: "0"},
			{at: 20 * time.Second, src: admitted(5, `"k", 3, per=60, burst=1`), want: "1"},
			{at: 80 * time.Second, src: admitted(5, `"k", 3, per=60, burst=1`), want: "1"},
		}},
		{name: "burst above rate", steps: []stateStep{
			{src: admitted(10, `"k", 1, burst=5`), want: "5"},
			{at: 2 * time.Second, src: admitted(10, `"k", 1, burst=5`), want: "2"},
		}},
		{name: "fractional rate has burst 1", steps: []stateStep{
			{src: admitted(3, `"k", 0.5`), want: "1"},
			{at: time.Second, src: admitted(3, `"k", 0.5`), want: "0"},
			{at: 2 * time.Second, src: admitted(3, `"k", 0.5`), want: "1"},
		}},
		{name: "float per", steps: []stateStep{
			{src: admitted(3, `"k", 1, per=0.25`), want: "1"},
			{at: 250 * time.Millisecond, src: admitted(3, `"k", 1, per=0.25`), want: "1"},
		}},
		{name: "keys are independent", steps: []stateStep{
			{src: admitted(3, `"a", 1`), want: "1"},
			{src: admitted(3, `"b", 1`), want: "1"},
		}},
		{name: "clock going back refills nothing", steps: []stateStep{
			{at: time.Minute, src: admitted(3, `"k", 2`), want: "2"},
			{src: admitted(3, `"k", 2`), want: "0"},
			{at: time.Minute + 500*time.Millisecond, src: admitted(3, `"k", 2`), want: "1"},
		}},
		{name: "own namespace", steps: []stateStep{
			{src: `shared.set("k", "value")
got = (ratelimit.allow("k", 1), ratelimit.allow("k", 1), shared.get("k"))`, want: `(True, False, "value")`},
		}},
		{name: "bad arguments", steps: []stateStep{
			{src: `got = ratelimit.allow("k", 0)`, wantErr: "ratelimit.allow: for parameter rate: got 0, want a number greater than 0"},
			{src: `got = ratelimit.allow("k", -1)`, wantErr: "got -1, want a number greater than 0"},
			{src: `got = ratelimit.allow("k", "10")`, wantErr: "got string, want int or float"},
			{src: `got = ratelimit.allow("k", 10, per=0)`, wantErr: `for parameter "per": got 0`},
			{src: `got = ratelimit.allow("k", 10, burst=0.5)`, wantErr: "burst: got 0.5, want at least 1"},
			{src: `got = ratelimit.allow("", 10)`, wantErr: "got a key of 0 bytes"},
			{src: `got = ratelimit.allow("k", 10, per=1e12)`, wantErr: "per: got 1e+12 seconds, want at most"},
			{src: `got = ratelimit.allow("k", float("inf"))`, wantErr: "want a number greater than 0"},
		}},
		{name: "explicit burst None is the default", steps: []stateStep{
			{src: admitted(5, `"k", 3, burst=None`), want: "3"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runStateSteps(t, PredeclaredWith(Options{}), tc.steps)
		})
	}
}

// TestRatelimitConcurrent: 32 goroutines share one bucket of 100 tokens
// at a fixed time; exactly 100 calls are admitted.
func TestRatelimitConcurrent(t *testing.T) {
	pre := PredeclaredWith(Options{})
	allow := pre["ratelimit"].(interface {
		Attr(string) (starlark.Value, error)
	})
	fn, _ := allow.Attr("allow")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			thread := &starlark.Thread{}
			BindCallInfo(thread, &CallInfo{Now: stateNow})
			for range 10 {
				v, err := starlark.Call(thread, fn, starlark.Tuple{starlark.String("k"), starlark.MakeInt(100)}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if v == starlark.True {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 100 {
		t.Errorf("got %d admitted, want 100", got)
	}
}

// TestMemoryStoreForgetsFullBuckets: a bucket that has refilled is the
// same as a new one, so the store drops it.
func TestMemoryStoreForgetsFullBuckets(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{})
	for range 3 {
		s.Allow(ctx, "b", 1, time.Second, 3, stateNow)
	}
	if got := s.Len(); got != 1 {
		t.Fatalf("got %d keys, want 1", got)
	}
	s.Set(ctx, "x", starlark.True, 0, stateNow.Add(2999*time.Millisecond))
	if got := s.Len(); got != 2 {
		t.Errorf("got %d keys before the bucket is full, want 2", got)
	}
	s.Set(ctx, "y", starlark.True, 0, stateNow.Add(3*time.Second))
	if got := s.Len(); got != 2 {
		t.Errorf("got %d keys once the bucket is full, want 2 (x, y)", got)
	}
	ok, err := s.Allow(ctx, "b", 1, time.Second, 3, stateNow.Add(3*time.Second))
	if err != nil || !ok {
		t.Errorf("got %v, %v, want true (a new, full bucket)", ok, err)
	}
}

func TestMemoryStoreAllowRejectsBadBuckets(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{})
	for _, tc := range []struct {
		name        string
		rate, burst float64
		per         time.Duration
	}{
		{name: "zero rate", rate: 0, per: time.Second, burst: 1},
		{name: "zero per", rate: 1, per: 0, burst: 1},
		{name: "burst below 1", rate: 1, per: time.Second, burst: 0.5},
	} {
		if _, err := s.Allow(context.Background(), "k", tc.rate, tc.per, tc.burst, stateNow); err == nil {
			t.Errorf("%s: got no error, want one", tc.name)
		}
	}
}
