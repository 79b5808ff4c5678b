package engine_test

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

const foreverScript = `
LIMITS = {"steps": 1000000000000, "timeout_ms": 20}
def on_request(req, conf):
    while True:
        pass
`

// lateBound is how long after its timeout a handler may still run in
// these tests: the watchdog promises about two ticks; the rest is room
// for a loaded machine and the race detector.
const lateBound = 20*engine.WatchdogTick + 100*time.Millisecond

// runForever runs chain, whose handler loops forever with a 20 ms
// timeout, and checks that it timed out in time.
func runForever(t *testing.T, e *engine.Engine, chain engine.Chain) {
	t.Helper()
	const timeout = 20 * time.Millisecond
	var d bindings.Decision
	start := time.Now()
	res := e.RunRequest(chain, newRequest(1), &d)
	took := time.Since(start)
	if res.Outcome != engine.TimedOut || res.Err == nil || !res.Err.Timeout || !strings.Contains(res.Err.Error(), "cancelled: timeout") {
		t.Fatalf("got outcome %v (%v), want a timeout", res.Outcome, res.Err)
	}
	if took < timeout || took > timeout+lateBound {
		t.Errorf("the call took %v, want between %v and %v", took, timeout, timeout+lateBound)
	}
}

// waitParked waits until e's watchdog goroutine has exited.
func waitParked(t *testing.T, e *engine.Engine) engine.WatchdogStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := engine.Watchdog(e)
		if !s.Running {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watchdog still runs 5 s after the last call (%+v)", s)
		}
		time.Sleep(engine.WatchdogTick)
	}
}

// TestWatchdogTimeout checks that a handler looping forever is cancelled
// no earlier than its timeout and soon after it, whether the watchdog was
// running or had parked.
func TestWatchdogTimeout(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{"forever": foreverScript})
	chain := newChain(t, e, []string{"forever"}, nil)
	for i := range 3 {
		runForever(t, e, chain) // starts the parked watchdog
		runForever(t, e, chain) // most likely finds it running
		if s := engine.Watchdog(e); s.Cancelled != uint64(2*i+2) || s.Observed != s.Cancelled {
			t.Fatalf("round %d: got %+v, want %d cancelled, all observed", i, s, 2*i+2)
		}
		waitParked(t, e)
	}
}

// TestWatchdogParks checks that the watchdog stops ticking once calls
// stop, and starts again with the next call.
func TestWatchdogParks(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"forever": foreverScript,
		"noop":    "def on_request(req, conf):\n    pass\n",
	})
	noop := newChain(t, e, []string{"noop"}, nil)
	var d bindings.Decision
	if s := engine.Watchdog(e); s.Running || s.Ticks != 0 {
		t.Fatalf("before any call: got %+v, want no watchdog", s)
	}
	for range 1000 {
		e.RunRequest(noop, newRequest(1), &d)
	}
	parked := waitParked(t, e)
	time.Sleep(20 * engine.WatchdogTick)
	if s := engine.Watchdog(e); s.Running || s.Ticks != parked.Ticks {
		t.Fatalf("20 ticks after it parked: got %+v, want %+v", s, parked)
	}

	// The next call wakes it, and a timeout still works.
	runForever(t, e, newChain(t, e, []string{"forever"}, nil))
	if s := engine.Watchdog(e); s.Ticks <= parked.Ticks {
		t.Errorf("after a timeout: got %d ticks, want more than %d", s.Ticks, parked.Ticks)
	}
	waitParked(t, e)
}

// TestWatchdogStress runs many concurrent chains whose first handler
// takes about as long as its 1 ms timeout. A handler may be reported as
// timed out only if its call lasted longer than the timeout; every
// cancellation must be seen by the invocation it was meant for, so the
// second handler, with a long timeout, never fails.
func TestWatchdogStress(t *testing.T) {
	scripts := map[string]string{
		"edge":  countTo(1),
		"calib": countTo(60000),
		"work": `
LIMITS = {"timeout_ms": 60000}
def on_request(req, conf):
    i = 0
    while i < 100:
        i += 1
    req.headers.set("x-done", "1")
`,
	}
	e, _ := newEngine(t, engine.Config{}, scripts)
	// The claim hook holds the watchdog between finding a handler past
	// its timeout and claiming it, so that many return meanwhile: the
	// watchdog must then leave their thread alone.
	var hooked, claims atomic.Uint64
	engine.SetClaimHook(e, func() {
		claims.Add(1)
		time.Sleep(time.Duration(claims.Load()%4) * 100 * time.Microsecond)
	})
	// The timer hook holds it after it claimed one, so that some return
	// while it is cancelling them: they must wait until it is done.
	engine.SetTimerHook(e, func() {
		hooked.Add(1)
		time.Sleep(time.Duration(hooked.Load()%3) * 100 * time.Microsecond)
	})
	run := func(chain engine.Chain, n int) (engine.Result, time.Duration) {
		req := newRequest(uint32(n))
		req.vars = map[string]string{"n": strconv.Itoa(n)}
		var d bindings.Decision
		start := time.Now()
		res := e.RunRequest(chain, req, &d)
		return res, time.Since(start)
	}

	const n0 = 100_000
	res, took := run(newChain(t, e, []string{"calib"}, nil), n0)
	if res.Outcome != engine.Continue {
		t.Fatalf("calibration: got outcome %v (%v), want continue", res.Outcome, res.Err)
	}
	perMS := max(1, int(float64(n0)/(float64(took)/float64(time.Millisecond))))

	const (
		timeout    = time.Millisecond
		goroutines = 8
		calls      = 40
	)
	// Run times sweep from no loop at all to two ticks of it.
	maxN := perMS * int(2*engine.WatchdogTick/time.Millisecond)
	chain := newChain(t, e, []string{"edge", "work"}, nil)
	var timedOut, inTime atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				// Most calls end near a tick, some near their deadline.
				n := maxN * ((g*calls + i) % 41) / 40
				res, took := run(chain, n)
				switch {
				case res.Outcome == engine.Rewrite:
					inTime.Add(1)
				case res.Outcome == engine.TimedOut && res.Err.Script == "edge":
					timedOut.Add(1)
					if took <= timeout {
						t.Errorf("n=%d: timed out after %v, before the %v timeout", n, took, timeout)
					}
				default:
					t.Errorf("n=%d: got outcome %v in script %q (%v), want rewrite or a timeout of edge",
						n, res.Outcome, scriptOf(res), res.Err)
				}
			}
		})
	}
	wg.Wait()

	s := engine.Watchdog(e)
	if s.Cancelled != s.Observed || s.Cancelled != hooked.Load() {
		t.Errorf("got %d cancellations, %d hook runs and %d seen by their invocation, want them equal",
			s.Cancelled, hooked.Load(), s.Observed)
	}
	if uint64(timedOut.Load()) > s.Cancelled {
		t.Errorf("got %d timeouts and %d cancellations, want no more timeouts", timedOut.Load(), s.Cancelled)
	}
	t.Logf("%d iterations per ms; %d in time, %d timed out; %d found late, %d cancelled, %d of them as the handler returned",
		perMS, inTime.Load(), timedOut.Load(), claims.Load(), s.Cancelled, s.Cancelled-uint64(timedOut.Load()))
	waitParked(t, e)
}

// gate is a request whose var() blocks until the gate opens, to keep
// calls in flight.
type gate struct {
	request
	entered *sync.WaitGroup
	open    chan struct{}
}

func (g *gate) Var(name string) ([]byte, bool, error) {
	g.entered.Done()
	<-g.open
	return []byte("v"), true, nil
}

// TestCallStatesBounded checks that an engine keeps no more call states
// than it had calls in flight at once, drops those a panic tainted, and
// lets the garbage collector take the idle ones.
func TestCallStatesBounded(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"wait": "def on_request(req, conf):\n    req.var(\"x\")\n",
		"read": "def on_request(req, conf):\n    req.headers.get(\"host\")\n",
	})
	wait := newChain(t, e, []string{"wait"}, nil)
	read := newChain(t, e, []string{"read"}, nil)

	const inFlight = 8
	var entered sync.WaitGroup
	entered.Add(inFlight)
	open := make(chan struct{})
	var done sync.WaitGroup
	for i := range inFlight {
		done.Go(func() {
			var d bindings.Decision
			req := &gate{request: *newRequest(uint32(i)), entered: &entered, open: open}
			if res := e.RunRequest(wait, req, &d); res.Outcome != engine.Continue {
				t.Errorf("call %d: got outcome %v (%v), want continue", i, res.Outcome, res.Err)
			}
		})
	}
	entered.Wait()
	if got := engine.CallStates(e); got != inFlight {
		t.Fatalf("with %d calls in flight: got %d call states, want %d", inFlight, got, inFlight)
	}
	close(open)
	done.Wait()

	var d bindings.Decision
	if !raceEnabled { // under the race detector sync.Pool drops a quarter of what it is given
		countReuse(t, e, read, inFlight)
	}

	// An idle engine keeps none through two collections.
	waitParked(t, e)
	for range 3 {
		runtime.GC()
	}
	if got := engine.CallStates(e); got != 0 {
		t.Fatalf("idle, after collections: got %d call states, want 0", got)
	}
	if res := e.RunRequest(read, newRequest(2), &d); res.Outcome != engine.Continue {
		t.Fatalf("after the collections: got outcome %v (%v), want continue", res.Outcome, res.Err)
	}
}

// countReuse checks, with idle call states left by inFlight calls, that
// calls one after the other reuse them and that a panic drops the one it
// ran on.
func countReuse(t *testing.T, e *engine.Engine, read engine.Chain, inFlight int) {
	t.Helper()
	// Without collections the idle call states stay pooled.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var d bindings.Decision
	for i := range 100 {
		e.RunRequest(read, newRequest(uint32(i)), &d)
	}
	if got := engine.CallStates(e); got > inFlight {
		t.Fatalf("after sequential calls: got %d call states, want at most %d", got, inFlight)
	}

	// A call that panics drops the call state it ran on, whether it was
	// idle before or new. With more idle than processors a call always
	// finds one: the sync.Pool hides at most one per processor from the
	// others.
	for i := range inFlight + 2 {
		before := engine.CallStates(e)
		if res := e.RunRequest(read, panicky(uint32(i)), &d); res.Outcome != engine.Failed {
			t.Fatalf("panic %d: got outcome %v (%v), want failed", i, res.Outcome, res.Err)
		}
		got := engine.CallStates(e)
		if procs := runtime.GOMAXPROCS(0); before > procs && got != before-1 || got > before {
			t.Fatalf("panic %d: %d call states before, %d after; want one fewer (or, with at most %d, no more)", i, before, got, procs)
		}
	}
	if res := e.RunRequest(read, newRequest(1), &d); res.Outcome != engine.Continue {
		t.Fatalf("after the panics: got outcome %v (%v), want continue", res.Outcome, res.Err)
	}
	if got := engine.CallStates(e); got < 1 {
		t.Fatalf("after the panics and a call: got %d call states, want at least 1", got)
	}
}
