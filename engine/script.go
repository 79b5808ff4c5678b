package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Script is one compiled version of a script file. It is immutable and
// safe to share between goroutines.
type Script struct {
	Name    string // conf name, file <Name>.star
	Version string // first 12 hex digits of the content's SHA-256
	SHA256  string // full hex digest

	globals    starlark.StringDict // frozen
	onRequest  *starlark.Function
	onResponse *starlark.Function
	init       *starlark.Function
	schema     *schema
	limits     Limits
}

// Limits are the per-call limits of one script: the engine defaults,
// overridden by the script's LIMITS dict.
type Limits struct {
	Steps            uint64
	Timeout          time.Duration
	MaxBodyBytes     int // negative: no cap
	MaxBuildBytes    int // negative: no cap
	MaxResponseBytes int // negative: no cap
	MaxDepth         int
	// OnError is the script's error policy: its ON_ERROR global, or the
	// engine's.
	OnError ErrorPolicy
}

// HasRequest and HasResponse report which phases the script handles.
func (s *Script) HasRequest() bool  { return s.onRequest != nil }
func (s *Script) HasResponse() bool { return s.onResponse != nil }

// Limits returns the script's effective limits.
func (s *Script) Limits() Limits { return s.limits }

// Globals returns the script's frozen globals.
func (s *Script) Globals() starlark.StringDict { return s.globals }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ErrBadName is wrapped by errors about conf names that cannot name a
// script file.
var ErrBadName = errors.New("invalid script name")

// ErrNotFound is wrapped when no script file exists for a name.
var ErrNotFound = errors.New("script not found")

// CheckName validates a conf name: it must match
// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ and contain no "..", so that it never
// names a path outside the scripts directory.
func CheckName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w %q: want letters, digits, '_', '.', '-', at most 128, no '..'", ErrBadName, name)
	}
	return nil
}

// fileOptions is scriptrunner's dialect: while loops and set literals on
// (the step budget bounds every loop), recursion and top-level control
// flow off.
var fileOptions = syntax.FileOptions{Set: true, While: true}

// Script returns the version of the named script to use for a new conf.
// Normally it reads the file and compiles it again when its content
// changed. With Config.Pinned it returns the installed version without
// reading the file, and reads the file only on first use: new versions
// then arrive through Install (hot reload), after validation.
func (e *Engine) Script(name string) (*Script, error) {
	if e.cfg.Pinned {
		if s := e.Installed(name); s != nil {
			return s, nil
		}
	}
	s, err := e.Load(name)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.scripts[name]; e.cfg.Pinned && cur != nil {
		return cur, nil // installed meanwhile
	}
	e.scripts[name] = s
	return s, nil
}

// Load reads the named script's file and compiles it, without installing
// it. When the content equals the installed version's, that version is
// returned. A missing file wraps ErrNotFound.
func (e *Engine) Load(name string) (*Script, error) {
	src, digest, err := e.Source(name)
	if err != nil {
		return nil, err
	}
	if cur := e.Installed(name); cur != nil && cur.SHA256 == digest {
		return cur, nil
	}
	return e.Compile(name, src)
}

// Source reads the named script's file and returns it with its version
// digest: the hex SHA-256 of its content, and of the lib files it loads
// if any (see versionDigest). A missing file wraps ErrNotFound.
func (e *Engine) Source(name string) (src []byte, sha256hex string, err error) {
	if err := CheckName(name); err != nil {
		return nil, "", err
	}
	file := name + ".star"
	src, err = fs.ReadFile(e.cfg.FS, file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("%w: %s", ErrNotFound, file)
		}
		return nil, "", fmt.Errorf("read %s: %w", file, err)
	}
	return src, e.versionDigest(file, src), nil
}

// Installed returns the installed version of name, or nil.
func (e *Engine) Installed(name string) *Script {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scripts[name]
}

// Install makes s the version of its script that new confs get.
func (e *Engine) Install(s *Script) {
	e.mu.Lock()
	e.scripts[s.Name] = s
	e.mu.Unlock()
}

// Uninstall forgets the installed version of name: new confs naming it
// fail until its file exists again. Confs already prepared keep theirs.
func (e *Engine) Uninstall(name string) {
	e.mu.Lock()
	delete(e.scripts, name)
	e.mu.Unlock()
}

// InstalledNames returns the names of the installed scripts.
func (e *Engine) InstalledNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.scripts))
	for n := range e.scripts {
		names = append(names, n)
	}
	return names
}

// Compile compiles src as the script called name, resolves its loads,
// runs its top level with the engine's limits, freezes its globals and
// checks its entry points.
func (e *Engine) Compile(name string, src []byte) (*Script, error) {
	file := name + ".star"
	s := &Script{Name: name, SHA256: e.versionDigest(file, src)}
	s.Version = s.SHA256[:12]
	prog, err := e.compileProgram(file, src)
	if err != nil {
		return nil, err
	}
	deps, err := e.newLoader().resolve(prog)
	if err != nil {
		return nil, err
	}
	thread := e.loadThread("load "+file, name, s.Version)
	thread.Load = loadFunc(deps)
	globals, err := runWithTimeout(thread, e.cfg.Timeout, func() (starlark.StringDict, error) {
		return prog.Init(thread, e.pre)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: top level: %w", file, err)
	}
	globals.Freeze()
	s.globals = globals
	if err := s.bindEntryPoints(file); err != nil {
		return nil, err
	}
	if s.limits, err = e.scriptLimits(file, globals["LIMITS"]); err != nil {
		return nil, err
	}
	if v, ok := globals["ON_ERROR"]; ok {
		str, _ := starlark.AsString(v)
		if s.limits.OnError, err = ParseErrorPolicy(str); err != nil {
			return nil, fmt.Errorf("%s: ON_ERROR: got %s, want \"closed\" or \"continue\"", file, v)
		}
	}
	if v, ok := globals["CONF_SCHEMA"]; ok {
		if s.schema, err = compileSchema(v); err != nil {
			return nil, fmt.Errorf("%s: CONF_SCHEMA: %w", file, err)
		}
	}
	return s, nil
}

// loadThread returns a thread for running a top level (script or lib
// file) under the engine's limits.
func (e *Engine) loadThread(name, script, version string) *starlark.Thread {
	thread := e.newThread(name)
	bindings.BindCallInfo(thread, &bindings.CallInfo{Script: script, Version: version, Phase: "load", Now: e.cfg.Clock()})
	bindings.BindBudget(thread, &bindings.Budget{MaxBuild: int64(e.cfg.MaxBuildBytes), MaxDepth: e.cfg.MaxDepth, StepLimit: e.cfg.MaxSteps})
	thread.SetMaxExecutionSteps(e.cfg.MaxSteps)
	return thread
}

// runWithTimeout runs f, cancelling thread if it takes longer than d.
func runWithTimeout[T any](thread *starlark.Thread, d time.Duration, f func() (T, error)) (T, error) {
	t := time.AfterFunc(d, func() { thread.Cancel("timeout after " + d.String()) })
	defer t.Stop()
	return f()
}

func (s *Script) bindEntryPoints(file string) error {
	var err error
	if s.onRequest, err = entryPoint(file, s.globals, "on_request", 2); err != nil {
		return err
	}
	if s.onResponse, err = entryPoint(file, s.globals, "on_response", 2); err != nil {
		return err
	}
	if s.init, err = entryPoint(file, s.globals, "init", 1); err != nil {
		return err
	}
	if s.onRequest == nil && s.onResponse == nil {
		return fmt.Errorf("%s: defines neither on_request(req, conf) nor on_response(resp, conf)", file)
	}
	return nil
}

// entryPoint returns the global function name, checking that it takes
// exactly params positional parameters.
func entryPoint(file string, globals starlark.StringDict, name string, params int) (*starlark.Function, error) {
	v, ok := globals[name]
	if !ok {
		return nil, nil
	}
	fn, ok := v.(*starlark.Function)
	if !ok {
		return nil, fmt.Errorf("%s: %s is a %s, want a function", file, name, v.Type())
	}
	if fn.NumParams() != params || fn.HasVarargs() || fn.HasKwargs() || fn.NumKwonlyParams() != 0 {
		want := "(req, conf)"
		switch {
		case name == "on_response":
			want = "(resp, conf)"
		case params == 1:
			want = "(conf)"
		}
		return nil, fmt.Errorf("%s:%d: %s must be defined as %s%s", file, fn.Position().Line, name, name, want)
	}
	return fn, nil
}

// maxTimeoutMS is the largest timeout_ms a time.Duration can hold.
const maxTimeoutMS = math.MaxInt64 / int64(time.Millisecond)

// limitKeys are the keys a LIMITS dict may set.
const limitKeys = "steps, timeout_ms, max_body_bytes, max_response_bytes, max_build_bytes, max_depth"

// scriptLimits applies a script's LIMITS dict over the engine defaults.
func (e *Engine) scriptLimits(file string, v starlark.Value) (Limits, error) {
	l := Limits{Steps: e.cfg.MaxSteps, Timeout: e.cfg.Timeout, MaxBodyBytes: e.cfg.MaxBodyBytes,
		MaxBuildBytes: e.cfg.MaxBuildBytes, MaxResponseBytes: e.cfg.MaxResponseBytes,
		MaxDepth: e.cfg.MaxDepth, OnError: e.cfg.OnError}
	if v == nil {
		return l, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return l, fmt.Errorf("%s: LIMITS is a %s, want a dict", file, v.Type())
	}
	for k, val := range starlark.Entries(d) {
		key, _ := starlark.AsString(k)
		var n int64
		if err := starlark.AsInt(val, &n); err != nil || n <= 0 {
			return l, fmt.Errorf("%s: LIMITS[%s]: got %s, want a positive int", file, k, val)
		}
		switch key {
		case "steps":
			l.Steps = uint64(n)
		case "timeout_ms":
			// Larger values overflow time.Duration into a negative
			// timeout, which would fail every call at once.
			if n > maxTimeoutMS {
				return l, fmt.Errorf("%s: LIMITS[%s]: got %d, want at most %d", file, k, n, maxTimeoutMS)
			}
			l.Timeout = time.Duration(n) * time.Millisecond
		case "max_body_bytes":
			l.MaxBodyBytes = int(n)
		case "max_response_bytes":
			l.MaxResponseBytes = int(n)
		case "max_build_bytes":
			l.MaxBuildBytes = int(n)
		case "max_depth":
			if n > maxDepthLimit {
				return l, fmt.Errorf("%s: LIMITS[%s]: got %d, want at most %d", file, k, n, maxDepthLimit)
			}
			l.MaxDepth = int(n)
		default:
			return l, fmt.Errorf("%s: LIMITS: unknown key %s (want %s)", file, k, limitKeys)
		}
	}
	return l, nil
}

// maxDepthLimit is the largest max_depth: a recursive builtin's frames
// at this depth stay far below Go's 1 GB stack limit, whose overflow
// kills the process.
const maxDepthLimit = 100_000

func (e *Engine) newThread(name string) *starlark.Thread {
	log := e.log
	return &starlark.Thread{
		Name: name,
		Print: func(t *starlark.Thread, msg string) {
			log.Debug("script print", zap.String("thread", t.Name), zap.String("msg", msg))
		},
		Load: func(*starlark.Thread, string) (starlark.StringDict, error) {
			return nil, errors.New("load() is not available")
		},
	}
}

// budget returns the builtins' budget for a handler or init that starts
// at step start.
func (l *Limits) budget(start uint64) bindings.Budget {
	return bindings.Budget{MaxBuild: int64(l.MaxBuildBytes), MaxDepth: l.MaxDepth, StepLimit: start + l.Steps}
}
