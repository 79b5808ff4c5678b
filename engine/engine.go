// Package engine loads, compiles and runs scriptrunner's Starlark scripts.
//
// Each script is compiled once per content version and its globals frozen,
// so one *Script is shared by every goroutine. A conf (a script plus its
// JSON parameters, validated and initialized once) is a *Conf; an ordered
// list of confs is a Chain. Running a chain borrows a pooled Starlark
// thread and request value, enforces the step and time limits, recovers
// panics, and records the outcome in a bindings.Decision.
//
// Engine methods are safe for concurrent use.
package engine

import (
	"io/fs"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config configures an Engine. The zero value of each field selects the
// default given in its comment.
type Config struct {
	// Dir is the scripts directory. Used when FS is nil.
	Dir string
	// FS, when set, is read instead of Dir (tests use fstest.MapFS).
	FS fs.FS
	// MaxSteps is the Starlark step budget of one handler call.
	// Default 200000 (a tight loop spends it in about 1 ms).
	MaxSteps uint64
	// Timeout is the wall-clock limit of one handler call, ExtraInfo
	// round trips included. Default 500 ms.
	Timeout time.Duration
	// MaxBodyBytes caps the request or response body a script may read.
	// Default 8 MiB; negative means no cap.
	MaxBodyBytes int
	// ErrorStatus is the status of the Stop sent when a script fails.
	// Default 500.
	ErrorStatus int
	// Observer, when set, is told the outcome of every handler call.
	Observer Observer
	// Pinned makes Script return the installed version of a script
	// instead of re-reading its file (see Engine.Script). The runner sets
	// it: script changes then go through hot reload's validation.
	Pinned bool
	// Clock returns the time a call sees as time.now(), read once per
	// call. Default time.Now; tests mock it.
	Clock func() time.Time
}

// Defaults.
const (
	DefaultMaxSteps     = 200_000
	DefaultTimeout      = 500 * time.Millisecond
	DefaultMaxBodyBytes = 8 << 20
	DefaultErrorStatus  = 500
)

func (c Config) withDefaults() Config {
	if c.FS == nil {
		dir := c.Dir
		if dir == "" {
			dir = "scripts"
		}
		c.FS = os.DirFS(dir)
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.ErrorStatus == 0 {
		c.ErrorStatus = DefaultErrorStatus
	}
	return c
}

// Engine compiles scripts and runs chains.
type Engine struct {
	cfg Config
	log *zap.Logger

	mu      sync.Mutex
	scripts map[string]*Script // last successfully compiled version by name

	calls sync.Pool // *callState

	// timerHook, when set (by tests only), runs at the start of every
	// deadline timer's function, before the thread is cancelled.
	timerHook func()
}

// New returns an Engine. A nil logger discards logs.
func New(cfg Config, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{cfg: cfg.withDefaults(), log: log, scripts: make(map[string]*Script)}
	e.calls.New = func() any { return e.newCallState() }
	return e
}

// Config returns the effective configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }
