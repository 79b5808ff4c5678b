package bindings

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The log module: log.debug/info/warn/error(msg, **fields) write one
// record to Options.LogSink with the call's request id, script, version
// and phase (CallInfo). Each script may write Options.LogRate records per
// second with bursts of Options.LogBurst; records over that are dropped
// and counted, and the next record the script writes carries the count as
// the field "dropped". Levels the sink does not write (LevelEnabler) cost
// no tokens and build no fields.

// LevelEnabler is implemented by a LogSink that can tell cheaply whether
// it writes a level ("debug", "info", "warn", "error"). The log module
// then skips disabled levels before it builds the record.
type LevelEnabler interface {
	Enabled(level string) bool
}

// Defaults and bounds of the log module.
const (
	DefaultLogRate  = 20 // records per second per script
	DefaultLogBurst = 50
	// MaxLogValueBytes is the longest message or field value; longer
	// ones are cut at a character boundary and end in "…".
	MaxLogValueBytes = 1024
	// maxLogFields is the most fields one record may have.
	maxLogFields = 32
	// maxLogScripts bounds the buckets kept per script name.
	maxLogScripts = 4096
)

// reservedLogField reports whether a field name is set by the runner
// (CallInfo, the dropped count) or by the log encoder; a script's field of
// that name is an error.
func reservedLogField(name string) bool {
	switch name {
	case "script", "version", "phase", "request_id", "dropped",
		"level", "msg", "ts", "logger", "caller", "stacktrace":
		return true
	}
	return false
}

// logModule holds the sink and the per-script rate limits.
type logModule struct {
	sink        LogSink
	enabled     LevelEnabler // nil: every level is written
	rate, burst float64      // rate 0: no limit
	mu          sync.Mutex
	buckets     map[string]*logBucket // by script name
}

type logBucket struct {
	tb      tokenBucket
	dropped int64
}

// newLogModule returns the log module writing to sink (nil: records are
// discarded) at most rate records per second per script (0: default,
// negative: no limit) with bursts of burst (0: default).
func newLogModule(sink LogSink, rate float64, burst int) *starlarkstruct.Module {
	if rate == 0 {
		rate = DefaultLogRate
	}
	if burst <= 0 {
		burst = DefaultLogBurst
	}
	m := &logModule{sink: sink, rate: max(rate, 0), burst: float64(burst), buckets: make(map[string]*logBucket)}
	m.enabled, _ = sink.(LevelEnabler)
	members := starlark.StringDict{}
	for _, level := range []string{"debug", "info", "warn", "error"} {
		members[level] = starlark.NewBuiltin("log."+level, m.logFunc(level))
	}
	return &starlarkstruct.Module{Name: "log", Members: members}
}

// logFunc returns log.<level>(msg, **fields) -> None.
func (m *logModule) logFunc(level string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var msg starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &msg); err != nil {
			return nil, err
		}
		if err := checkLogFields(b.Name(), kwargs); err != nil {
			return nil, err
		}
		if m.sink == nil || (m.enabled != nil && !m.enabled.Enabled(level)) {
			return starlark.None, nil
		}
		info := CallInfoOf(thread)
		dropped, ok := m.admit(info.Script, info.Time())
		if !ok {
			return starlark.None, nil
		}
		fields := make([]any, 0, 2*len(kwargs)+2)
		for _, kv := range kwargs {
			fields = append(fields, string(kv[0].(starlark.String)), logValue(kv[1]))
		}
		if dropped > 0 {
			fields = append(fields, "dropped", dropped)
		}
		m.sink.Log(level, info, logText(msg), fields)
		return starlark.None, nil
	}
}

// checkLogFields rejects too many fields and reserved names. It runs for
// every call, written or not, so a bad call fails in tests even at a level
// production does not write.
func checkLogFields(fn string, kwargs []starlark.Tuple) error {
	if len(kwargs) > maxLogFields {
		return fmt.Errorf("%s: got %d fields, want at most %d", fn, len(kwargs), maxLogFields)
	}
	for _, kv := range kwargs {
		if k := string(kv[0].(starlark.String)); reservedLogField(k) {
			return fmt.Errorf("%s: field %s is reserved (the runner sets it)", fn, k)
		}
	}
	return nil
}

// admit takes a token from script's bucket. When there is one, it returns
// the number of records dropped since the last one admitted, and resets
// it; otherwise it counts the record as dropped.
func (m *logModule) admit(script string, now time.Time) (dropped int64, ok bool) {
	if m.rate == 0 {
		return 0, true
	}
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	lb := m.buckets[script]
	if lb == nil {
		if len(m.buckets) >= maxLogScripts {
			clear(m.buckets) // scripts come and go; every bucket restarts full
		}
		lb = &logBucket{tb: newTokenBucket(m.burst, t)}
		m.buckets[script] = lb
	}
	if !lb.tb.take(t, m.rate, time.Second, m.burst) {
		lb.dropped++
		return 0, false
	}
	dropped, lb.dropped = lb.dropped, 0
	return dropped, true
}

// logValue converts a field value for the sink: nil, bool, int64, float64
// or a string of at most MaxLogValueBytes; any other value (or an int
// beyond int64) as its str().
func logValue(v starlark.Value) any {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.Bool:
		return bool(x)
	case starlark.Int:
		if n, ok := x.Int64(); ok {
			return n
		}
	case starlark.Float:
		return float64(x)
	}
	return logText(v)
}

// logText is str(v), cut to MaxLogValueBytes.
func logText(v starlark.Value) string {
	s, ok := v.(starlark.String)
	if !ok {
		return truncateText(v.String())
	}
	return truncateText(string(s))
}

func truncateText(s string) string {
	if len(s) <= MaxLogValueBytes {
		return s
	}
	n := MaxLogValueBytes - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
