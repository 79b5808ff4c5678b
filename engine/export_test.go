package engine

// SetTimerHook makes f run at the start of every deadline timer's
// function of e, before the thread is cancelled. Call it before e runs
// its first call.
func SetTimerHook(e *Engine, f func()) { e.timerHook = f }
