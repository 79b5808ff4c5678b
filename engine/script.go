package engine

import (
	"crypto/sha256"
	"encoding/hex"
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
	Steps        uint64
	Timeout      time.Duration
	MaxBodyBytes int
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

// Source reads the named script's file and returns it with the hex
// SHA-256 of its content. A missing file wraps ErrNotFound.
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
	sum := sha256.Sum256(src)
	return src, hex.EncodeToString(sum[:]), nil
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

// Compile compiles src as the script called name, runs its top level with
// the engine's limits, freezes its globals and checks its entry points.
func (e *Engine) Compile(name string, src []byte) (*Script, error) {
	sum := sha256.Sum256(src)
	s := &Script{Name: name, SHA256: hex.EncodeToString(sum[:])}
	s.Version = s.SHA256[:12]
	file := name + ".star"
	predeclared := bindings.Predeclared()
	_, prog, err := starlark.SourceProgramOptions(&fileOptions, file, src, predeclared.Has)
	if err != nil {
		return nil, err
	}
	thread := e.newThread("load " + file)
	bindings.BindCallInfo(thread, &bindings.CallInfo{Script: name, Version: s.Version, Phase: "load", Now: e.cfg.Clock()})
	thread.SetMaxExecutionSteps(e.cfg.MaxSteps)
	globals, err := runWithTimeout(thread, e.cfg.Timeout, func() (starlark.StringDict, error) {
		return prog.Init(thread, predeclared)
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
	if v, ok := globals["CONF_SCHEMA"]; ok {
		if s.schema, err = compileSchema(v); err != nil {
			return nil, fmt.Errorf("%s: CONF_SCHEMA: %w", file, err)
		}
	}
	return s, nil
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

// scriptLimits applies a script's LIMITS dict over the engine defaults.
func (e *Engine) scriptLimits(file string, v starlark.Value) (Limits, error) {
	l := Limits{Steps: e.cfg.MaxSteps, Timeout: e.cfg.Timeout, MaxBodyBytes: e.cfg.MaxBodyBytes}
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
		default:
			return l, fmt.Errorf("%s: LIMITS: unknown key %s (want steps, timeout_ms, max_body_bytes)", file, k)
		}
	}
	return l, nil
}

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
