package engine

import (
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// Handler timeouts.
//
// Arming a runtime timer around every handler call costs a lock of the
// timer heap and a clock reading to arm it, and another lock to stop it:
// about 100 ns of a 2 µs call. Instead, one watchdog goroutine per Engine
// looks at the calls in flight every watchdogTick and cancels the
// Starlark thread of any handler that has run longer than its timeout. A
// handler invocation pays a few atomic operations and reads no clock.
//
// # The state of a callState
//
// Each callState has a state word: a generation, which counts the
// handler invocations of that callState, and a phase.
//
//	               invoke starts              invoke returns: CAS
//	    idle(g) ─────────────────▶ running(g) ─────────────────────▶ idle(g+1)
//	                                   │                                 ▲
//	      watchdog: timeout passed, CAS│                                 │ invoke returns: its CAS
//	                                   ▼                                 │ fails; it waits for fired,
//	                             cancelling(g) ──────────────────────────┘ then stores idle(g+1)
//	                               watchdog: Cancel("timeout"), then fired <- {}
//
// The invoking goroutine and the watchdog race from running(g) with a
// CAS, so exactly one of them moves it on. The watchdog cancels the
// thread only after its CAS won, and the invocation waits for the
// watchdog to be done with the thread before it returns. So a
// cancellation can only hit the invocation it was meant for: never the
// next handler of the chain, nor the next call on the reused thread,
// which both call Uncancel before they publish running.
//
// # Timing
//
// The watchdog does not know when an invocation started; it knows when
// it first saw it running. For an invocation seen running for the first
// time in a scan, it takes the clock after that scan as the start: the
// invocation certainly started before. It cancels the invocation at the
// first tick whose clock is more than the timeout past that. So a
// handler is never cancelled before its timeout, and at the latest about
// two ticks after it (one until it is first seen, one until the tick
// after the timeout), plus any delay in scheduling the watchdog.
//
// # Parking
//
// The watchdog only runs while there are calls. After watchdogIdleTicks
// ticks in which no state word changed and none was running, it parks:
// it stores wdStopped in the watchdog's state and exits. An invocation
// publishes running(g) and then loads the watchdog's state; if it reads
// wdStopped it starts a new watchdog goroutine (the one that wins the CAS
// to wdRunning does). The parking watchdog, after storing wdStopped,
// scans again and stays if it finds an invocation running and wins that
// same CAS. These are sequentially consistent atomics, so either the
// invocation reads wdStopped or the parking watchdog sees it running:
// no invocation goes unwatched. The engine has no Close; a parked
// watchdog is a goroutine that has exited, so an unused Engine holds
// none.

// watchdogTick is how often the watchdog looks at the calls in flight. A
// handler is cancelled at most about two ticks after its timeout.
//
// Each tick wakes the runtime's scheduler. At 2 ms (500 wake-ups a
// second) that cost about 5 µs of runner CPU per call with a single
// busy connection, more than the timer it replaced; at 10 ms the cost is
// within the noise of the socket benchmark (docs/bench.md).
const watchdogTick = 10 * time.Millisecond

// watchdogIdleTicks is how many ticks without any handler invocation the
// watchdog waits before it exits.
const watchdogIdleTicks = 5

// Phases of a callState's state word (its low two bits).
const (
	phaseIdle uint64 = iota
	phaseRunning
	phaseCancelling

	phaseBits = 2
	phaseMask = 1<<phaseBits - 1
)

// The watchdog's state.
const (
	wdStopped int32 = iota // no watchdog goroutine; the next invocation starts one
	wdRunning
)

// deadline is the part of a callState the watchdog looks at.
type deadline struct {
	state   atomic.Uint64 // generation<<phaseBits | phase
	timeout atomic.Int64  // of the running invocation, in ns
	fired   chan struct{} // the watchdog is done cancelling (cap 1)
	gen     uint64        // the generation; read and written by the invoking goroutine only

	// Read and written by the watchdog goroutine only.
	seen  uint64 // the state word at the last scan
	since int64  // the clock after the scan that first saw seen running; sincePending during that scan
}

const sincePending = -1

// begin publishes an invocation that must end within timeout. The caller
// must have called Uncancel on the thread first.
func (d *deadline) begin(w *watchdog, timeout time.Duration) {
	d.timeout.Store(int64(timeout))
	d.state.Store(d.gen<<phaseBits | phaseRunning)
	if w.state.Load() == wdStopped {
		w.wake()
	}
}

// end ends the invocation begun last and reports whether the watchdog
// cancelled it. It returns only once the watchdog is done with the
// thread.
func (d *deadline) end(w *watchdog) (cancelled bool) {
	running := d.gen<<phaseBits | phaseRunning
	d.gen++
	next := d.gen<<phaseBits | phaseIdle
	if d.state.CompareAndSwap(running, next) {
		return false
	}
	<-d.fired // the watchdog won: wait until it has cancelled the thread
	w.observed.Add(1)
	d.state.Store(next)
	return true
}

// watchdog cancels the handler invocations of an Engine that outlive
// their timeout.
type watchdog struct {
	state atomic.Int32 // wdStopped or wdRunning
	epoch time.Time    // the zero of the watchdog's clock
	calls *callPool

	// Set by tests only: claimHook runs when the watchdog has found an
	// invocation past its timeout, before its CAS to cancelling; hook
	// runs after that CAS won, before it cancels the thread.
	claimHook, hook func()

	// Counters read by tests.
	ticks     atomic.Uint64 // ticks seen
	cancelled atomic.Uint64 // invocations cancelled
	observed  atomic.Uint64 // invocations that saw their cancellation

	pending []*callState // scratch: seen running for the first time in this scan
}

// now reads the watchdog's clock: monotonic nanoseconds since epoch.
func (w *watchdog) now() int64 { return int64(time.Since(w.epoch)) }

// wake starts the watchdog goroutine unless another invocation just did.
func (w *watchdog) wake() {
	if w.state.CompareAndSwap(wdStopped, wdRunning) {
		go w.run()
	}
}

// run is the watchdog goroutine: it ticks until the engine has been idle
// for watchdogIdleTicks ticks and no invocation prevents it from parking.
func (w *watchdog) run() {
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	idle := 0
	for range t.C {
		if w.tick() {
			idle = 0
			continue
		}
		if idle++; idle < watchdogIdleTicks {
			continue
		}
		if !w.stay() {
			return
		}
		idle = 0
	}
}

// stay parks the watchdog unless an invocation is running, and reports
// whether this goroutine must go on watching.
func (w *watchdog) stay() bool {
	w.state.Store(wdStopped)
	for _, wp := range w.calls.registered() {
		if cs := wp.Value(); cs != nil && cs.dl.state.Load()&phaseMask == phaseRunning {
			// Either this goroutine goes on, or the invocation that
			// found wdStopped started another one.
			return w.state.CompareAndSwap(wdStopped, wdRunning)
		}
	}
	return false
}

// tick scans the registered callStates once, cancels the invocations past
// their timeout, and reports whether any invocation ran since the last
// tick.
func (w *watchdog) tick() (busy bool) {
	w.ticks.Add(1)
	now := w.now()
	for _, wp := range w.calls.registered() {
		cs := wp.Value()
		if cs == nil {
			continue
		}
		d := &cs.dl
		st := d.state.Load()
		if st != d.seen {
			busy = true
			d.seen = st
			if st&phaseMask == phaseRunning {
				d.since = sincePending
				w.pending = append(w.pending, cs)
			}
			continue
		}
		if st&phaseMask != phaseRunning {
			continue
		}
		busy = true
		if now-d.since > d.timeout.Load() {
			w.cancel(cs, st)
		}
	}
	if len(w.pending) > 0 {
		since := w.now()
		for i, cs := range w.pending {
			cs.dl.since = since
			w.pending[i] = nil
		}
		w.pending = w.pending[:0]
	}
	return busy
}

// cancel cancels the thread of cs if it is still running the invocation
// whose state word is running.
func (w *watchdog) cancel(cs *callState, running uint64) {
	d := &cs.dl
	if w.claimHook != nil {
		w.claimHook()
	}
	if !d.state.CompareAndSwap(running, running&^phaseMask|phaseCancelling) {
		return // it returned in time
	}
	if w.hook != nil {
		w.hook()
	}
	cs.thread.Cancel("timeout")
	w.cancelled.Add(1)
	d.fired <- struct{}{}
}

// callPool holds an Engine's callStates: the idle ones in a sync.Pool,
// and a registry of every live one, which the watchdog scans.
//
// The sync.Pool keeps an idle callState on the processor that last ran
// it, and takes and returns it without a lock. The free list under a
// mutex it replaced cost a contended lock, and a callState that moved
// between CPUs with each call, whenever two connections ran calls at once:
// BenchmarkRunRequestParallel is 17-30 % faster without it (docs/bench.md).
//
// The registry holds weak pointers, so that the idle callStates a garbage
// collection takes from the sync.Pool are collected and leave it: it is
// bounded by the callStates alive, those of the calls in flight and those
// the sync.Pool still holds. A running callState is held by its call, so
// the watchdog always sees it.
type callPool struct {
	free sync.Pool
	mu   sync.Mutex                                // serializes changes of all
	all  atomic.Pointer[[]weak.Pointer[callState]] // copied on write, under mu
}

// get takes an idle callState, or returns nil.
func (p *callPool) get() *callState {
	cs, _ := p.free.Get().(*callState)
	return cs
}

// put makes cs idle.
func (p *callPool) put(cs *callState) { p.free.Put(cs) }

// add registers a new callState, and unregisters those collected since.
func (p *callPool) add(cs *callState) {
	p.change(func(c *callState) bool { return c != nil }, weak.Make(cs))
}

// drop unregisters cs, which is not idle, and those collected.
func (p *callPool) drop(cs *callState) {
	p.change(func(c *callState) bool { return c != nil && c != cs })
}

// change replaces the registry with the callStates keep accepts, plus
// added.
func (p *callPool) change(keep func(*callState) bool, added ...weak.Pointer[callState]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.registered()
	all := make([]weak.Pointer[callState], 0, len(old)+len(added))
	for _, w := range old {
		if keep(w.Value()) {
			all = append(all, w)
		}
	}
	all = append(all, added...)
	p.all.Store(&all)
}

// registered returns the registry; a pointer whose Value is nil is a
// callState already collected. The slice must not be modified.
func (p *callPool) registered() []weak.Pointer[callState] {
	if all := p.all.Load(); all != nil {
		return *all
	}
	return nil
}
