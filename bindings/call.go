package bindings

import (
	"time"

	"go.starlark.net/starlark"
)

// LogSink receives the records of the log module. Fields alternate keys
// (string) and values (nil, bool, int64, float64 or string). info is the
// calling script's and is valid only during the call: a sink copies what
// it keeps. The engine implements it with zap; tests record. A sink may
// also implement LevelEnabler. Log must be safe for concurrent use.
type LogSink interface {
	Log(level string, info *CallInfo, msg string, fields []any)
}

// CallInfo is what builtins know about the call they run in: the request,
// the script, and the call's fixed clock. The engine creates one per
// pooled thread, binds it once with BindCallInfo (a thread's locals must
// not change while it runs), and updates the fields before each call.
type CallInfo struct {
	RequestID uint32
	Script    string
	Version   string
	Phase     string // "request", "response", "init", "test"
	// Now is the call's time: fixed for the whole call, so a script sees
	// one consistent clock, and set by tests to mock time. Read it with
	// Time: when Now is zero, Time takes it from Clock on first use, so a
	// call whose scripts never look at the time never reads the clock.
	Now   time.Time
	Clock func() time.Time
}

// Time returns the call's time, reading Clock once if Now is not set.
func (c *CallInfo) Time() time.Time {
	if c.Now.IsZero() {
		if c.Clock == nil {
			c.Now = time.Now()
		} else {
			c.Now = c.Clock()
		}
	}
	return c.Now
}

const callInfoKey = "scriptrunner.callinfo"

// BindCallInfo attaches info to thread. Call it before the thread runs
// anything.
func BindCallInfo(thread *starlark.Thread, info *CallInfo) { thread.SetLocal(callInfoKey, info) }

// CallInfoOf returns the CallInfo bound to thread, or a zero CallInfo with
// Now set to the current time when none is bound (scripts loading at the
// top level, one-off tools).
func CallInfoOf(thread *starlark.Thread) *CallInfo {
	if info, ok := thread.Local(callInfoKey).(*CallInfo); ok && info != nil {
		return info
	}
	return &CallInfo{Now: time.Now()}
}
