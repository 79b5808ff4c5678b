package engine

import "go.starlark.net/starlark"

// SetTimerHook makes f run on e's watchdog goroutine each time it has
// decided to cancel a handler, before it cancels the thread. Call it
// before e runs its first call.
func SetTimerHook(e *Engine, f func()) { e.wd.hook = f }

// SetClaimHook makes f run on e's watchdog goroutine each time it has
// found a handler past its timeout, before it tries to claim it for
// cancelling: the handler may return meanwhile. Call it before e runs its
// first call.
func SetClaimHook(e *Engine, f func()) { e.wd.claimHook = f }

// WatchdogTick is the watchdog's tick.
const WatchdogTick = watchdogTick

// WatchdogStats are counters of an engine's watchdog.
type WatchdogStats struct {
	Running   bool   // a watchdog goroutine is running
	Ticks     uint64 // ticks so far
	Cancelled uint64 // handlers cancelled
	Observed  uint64 // handlers that saw their cancellation before returning
}

// Watchdog returns e's watchdog counters.
func Watchdog(e *Engine) WatchdogStats {
	return WatchdogStats{
		Running:   e.wd.state.Load() == wdRunning,
		Ticks:     e.wd.ticks.Load(),
		Cancelled: e.wd.cancelled.Load(),
		Observed:  e.wd.observed.Load(),
	}
}

// CallStates returns how many call states of e are alive: in flight, or
// idle and not yet collected.
func CallStates(e *Engine) int {
	n := 0
	for _, wp := range e.calls.registered() {
		if wp.Value() != nil {
			n++
		}
	}
	return n
}

// AddBuiltin makes fn a predeclared name of every script e compiles
// afterwards. Tests use it to inject builtins that misbehave.
func AddBuiltin(e *Engine, name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) {
	e.pre[name] = starlark.NewBuiltin(name, fn)
}
