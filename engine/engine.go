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
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/bindings"
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
	// round trips included. Default 500 ms. A watchdog checks the calls
	// in flight every 10 ms: a handler is cancelled no earlier than its
	// timeout and about 20 ms after it at the latest (watchdog.go).
	Timeout time.Duration
	// MaxBodyBytes caps the request or response body a script may read.
	// Default 8 MiB; negative means no cap.
	MaxBodyBytes int
	// MaxBuildBytes caps the bytes one handler call may build with the
	// operations the engine meters (string, bytes, list and tuple
	// concatenation and repetition, formatting, join, replace, extend,
	// str/repr, json encoding, range; see guard.go). Default 64 MiB;
	// negative means no cap.
	MaxBuildBytes int
	// MaxResponseBytes caps what one call answers with: the names,
	// values, path and body of its Rewrite, Stop or response. Checked
	// after every handler. Default 12 MiB; negative means no cap (the
	// protocol's 16 MiB frame limit still applies).
	MaxResponseBytes int
	// MaxDepth caps the nesting depth of values that json, str, repr and
	// string formatting process, and the Starlark call depth at metered
	// operations. Default 1000.
	MaxDepth int
	// ErrorStatus is the status of the Stop sent when a script fails.
	// Default 500.
	ErrorStatus int
	// OnError is what a handler failure does to the rest of the call:
	// OnErrorClosed (the default) answers with ErrorStatus,
	// OnErrorContinue logs it, drops that handler's changes and goes on
	// with the chain. A script's ON_ERROR global overrides it.
	OnError ErrorPolicy
	// Observer, when set, is told the outcome of every handler call.
	Observer Observer
	// Metrics receives the metrics module's updates (the metrics
	// listener). Nil makes the module's functions no-ops.
	Metrics bindings.MetricsSink
	// Pinned makes Script return the installed version of a script
	// instead of re-reading its file (see Engine.Script). The runner sets
	// it: script changes then go through hot reload's validation.
	Pinned bool
	// Clock returns the time a call sees as time.now(), read once per
	// call. Default time.Now; tests mock it.
	Clock func() time.Time

	// Store backs the shared and ratelimit modules, one store for every
	// script of the engine. Default: a bindings.MemoryStore bounded by
	// SharedMaxKeys and SharedMaxBytes.
	Store bindings.Store
	// SharedMaxKeys bounds the keys of the default store. Default 100000.
	SharedMaxKeys int
	// SharedMaxBytes bounds the keys and values of the default store, in
	// bytes. Default 64 MiB.
	SharedMaxBytes int64

	// EnvAllow lists the environment variables scripts may read with
	// env.get. New reads them once, with LookupEnv (default
	// os.LookupEnv); asking for any other name is a script error.
	EnvAllow  []string
	LookupEnv func(name string) (string, bool)

	// LogRate is how many records per second one script may write with
	// the log module; LogBurst how many at once. Default 20 and 50;
	// negative LogRate means no limit.
	LogRate  float64
	LogBurst int
	// ScriptLog receives the log module's records. Default the engine's
	// logger. The runner passes one without sampling: the log module
	// rate-limits per script and reports what it dropped.
	ScriptLog *zap.Logger
}

// Defaults.
const (
	DefaultMaxSteps     = 200_000
	DefaultTimeout      = 500 * time.Millisecond
	DefaultMaxBodyBytes = 8 << 20
	DefaultErrorStatus  = 500

	DefaultMaxBuildBytes    = 64 << 20
	DefaultMaxResponseBytes = 12 << 20
	DefaultMaxDepth         = bindings.DefaultMaxDepth
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
	if c.MaxBuildBytes == 0 {
		c.MaxBuildBytes = DefaultMaxBuildBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	c.MaxDepth = min(c.MaxDepth, maxDepthLimit)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.ErrorStatus == 0 {
		c.ErrorStatus = DefaultErrorStatus
	}
	if c.Store == nil {
		c.Store = bindings.NewMemoryStore(bindings.MemoryStoreConfig{MaxKeys: c.SharedMaxKeys, MaxBytes: c.SharedMaxBytes})
	}
	if c.LookupEnv == nil {
		c.LookupEnv = os.LookupEnv
	}
	return c
}

// Engine compiles scripts and runs chains.
type Engine struct {
	cfg Config
	log *zap.Logger

	// predeclared holds the names scripts see, built once by New so that
	// every script shares the modules' state (shared store, log rate
	// limits, compile caches).
	predeclared starlark.StringDict

	mu      sync.Mutex
	scripts map[string]*Script // last successfully compiled version by name

	calls callPool // idle and live callStates
	wd    watchdog // cancels handlers past their timeout

	// pre is what scripts and lib files are compiled against:
	// predeclared plus the metering hooks and wrappers (guard.go).
	pre starlark.StringDict

	libMu    sync.Mutex
	libProgs map[string]*starlark.Program // compiled lib files by path@content digest
	libMods  map[string]*libModule        // initialized lib files by path@version digest
}

// New returns an Engine. A nil logger discards logs.
func New(cfg Config, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{cfg: cfg.withDefaults(), log: log, scripts: make(map[string]*Script),
		libProgs: map[string]*starlark.Program{}, libMods: map[string]*libModule{}}
	e.predeclared = e.newPredeclared()
	e.pre = guardedPredeclared(e.predeclared)
	e.wd.epoch, e.wd.calls = time.Now(), &e.calls
	return e
}

// newPredeclared builds the predeclared names from the configuration.
func (e *Engine) newPredeclared() starlark.StringDict {
	scriptLog := e.cfg.ScriptLog
	if scriptLog == nil {
		scriptLog = e.log
	}
	return bindings.PredeclaredWith(bindings.Options{
		LogSink:   newLogSink(scriptLog),
		LogRate:   e.cfg.LogRate,
		LogBurst:  e.cfg.LogBurst,
		Store:     e.cfg.Store,
		EnvAllow:  e.cfg.EnvAllow,
		LookupEnv: e.cfg.LookupEnv,
		Metrics:   e.cfg.Metrics,
	})
}

// Config returns the effective configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// ErrorPolicy is what a handler failure does to the rest of its call.
type ErrorPolicy uint8

// Error policies.
const (
	// OnErrorClosed answers the call with the error status (fail closed).
	OnErrorClosed ErrorPolicy = iota
	// OnErrorContinue logs the failure, drops the failed handler's
	// changes and goes on as if it had returned None.
	OnErrorContinue
)

func (p ErrorPolicy) String() string {
	if p == OnErrorContinue {
		return "continue"
	}
	return "closed"
}

// ParseErrorPolicy parses "closed" or "continue".
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	switch s {
	case "closed":
		return OnErrorClosed, nil
	case "continue":
		return OnErrorContinue, nil
	}
	return OnErrorClosed, fmt.Errorf("on_error %q: want \"closed\" or \"continue\"", s)
}
