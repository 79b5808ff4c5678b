package engine

import "go.starlark.net/starlark"

// SetTimerHook makes f run at the start of every deadline timer's
// function of e, before the thread is cancelled. Call it before e runs
// its first call.
func SetTimerHook(e *Engine, f func()) { e.timerHook = f }

// AddBuiltin makes fn a predeclared name of every script e compiles
// afterwards. Tests use it to inject builtins that misbehave.
func AddBuiltin(e *Engine, name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) {
	e.pre[name] = starlark.NewBuiltin(name, fn)
}
