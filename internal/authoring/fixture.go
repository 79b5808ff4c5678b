package authoring

import (
	"errors"
	"fmt"
	"regexp"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// fixture is the `t` a test function receives. It builds requests and
// responses, runs scripts in its own sandbox (so tests share no state),
// and records failures. Assertions record a failure and let the test go
// on, like Go's t.Error; a Starlark error (fail() included) ends the test.
type fixture struct {
	sb      *Sandbox
	info    *bindings.CallInfo // bound to the test's thread
	lines   []string           // failures and logs, in order
	failed  bool
	methods starlark.StringDict
}

func newFixture(sb *Sandbox, info *bindings.CallInfo) *fixture {
	f := &fixture{sb: sb, info: info}
	f.methods = starlark.StringDict{}
	for name, fn := range map[string]func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
		"request":      f.request,
		"response":     f.response,
		"run":          f.run,
		"run_response": f.runResponse,
		"prepare":      f.prepare,
		"set_time":     f.setTime,
		"eq":           f.eq,
		"ne":           f.ne,
		"true":         f.isTrue,
		"contains":     f.contains,
		"fails":        f.fails,
		"fail":         f.fail,
	} {
		f.methods[name] = starlark.NewBuiltin("t."+name, fn)
	}
	return f
}

func (f *fixture) String() string                           { return "<t>" }
func (f *fixture) Type() string                             { return "t" }
func (f *fixture) Freeze()                                  {}
func (f *fixture) Truth() starlark.Bool                     { return true }
func (f *fixture) Hash() (uint32, error)                    { return 0, errors.New("unhashable: t") }
func (f *fixture) AttrNames() []string                      { return f.methods.Keys() }
func (f *fixture) Attr(name string) (starlark.Value, error) { return f.methods[name], nil }

// errorf records a failure at the line of the test that called the
// builtin.
func (f *fixture) errorf(thread *starlark.Thread, format string, args ...any) {
	f.failed = true
	f.lines = append(f.lines, callerPos(thread)+": "+fmt.Sprintf(format, args...))
}

// callerPos is "file:line" of the Starlark code calling the builtin.
func callerPos(thread *starlark.Thread) string {
	if thread.CallStackDepth() < 2 {
		return "?"
	}
	p := thread.CallFrame(1).Pos
	return fmt.Sprintf("%s:%d", p.Filename(), p.Line)
}

// print is the test thread's print: a log line with its position.
func (f *fixture) print(thread *starlark.Thread, msg string) {
	f.lines = append(f.lines, callerPos(thread)+": "+msg)
}

// --- building requests and responses ---

func (f *fixture) request(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var r Request
	var headers, qargs, body, vars starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"method?", &r.Method, "path?", &r.Path, "headers?", &headers, "args?", &qargs,
		"body?", &body, "vars?", &vars, "src_ip?", &r.SrcIP, "id?", &r.ID); err != nil {
		return nil, err
	}
	var err error
	if r.Headers, err = toPairs("headers", headers, false); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Args, err = toPairs("args", qargs, true); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Body, err = toBody(thread, body); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Vars, err = toVars(vars); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if _, err := r.host(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return &requestValue{r: &r}, nil
}

func (f *fixture) response(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var r Response
	var headers, body, vars starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"status?", &r.Status, "headers?", &headers, "body?", &body, "vars?", &vars, "id?", &r.ID); err != nil {
		return nil, err
	}
	var err error
	if r.Headers, err = toPairs("headers", headers, false); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Body, err = toBody(thread, body); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Vars, err = toVars(vars); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if _, err := r.host(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return &responseValue{r: &r}, nil
}

// --- running scripts ---

// chain prepares t.run's script (a name or a list of names) with conf (a
// dict, JSON text or None; a list of those for a list of names).
func (f *fixture) chain(thread *starlark.Thread, script, conf starlark.Value) (engine.Chain, error) {
	names, err := scriptNames(script)
	if err != nil {
		return nil, err
	}
	values := make([]starlark.Value, len(names))
	for i := range values {
		values[i] = starlark.None
	}
	if _, single := script.(starlark.String); single {
		values[0] = conf
	} else if conf != starlark.None {
		l, ok := conf.(starlark.Indexable)
		if _, isDict := conf.(*starlark.Dict); isDict || !ok || l.Len() != len(names) {
			return nil, fmt.Errorf("conf: for %d scripts, want a list of %d confs", len(names), len(names))
		}
		for i := range values {
			values[i] = l.Index(i)
		}
	}
	confs := make([]Conf, len(names))
	for i, name := range names {
		text, err := confText(thread, values[i])
		if err != nil {
			return nil, fmt.Errorf("conf[%d]: %w", i, err)
		}
		confs[i] = Conf{Name: name, Value: text}
	}
	return f.sb.Chain(confs...)
}

func scriptNames(v starlark.Value) ([]string, error) {
	if s, ok := v.(starlark.String); ok {
		return []string{string(s)}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("script: got %s, want a script name or a list of names", v.Type())
	}
	var names []string
	for e := range starlark.Elements(it) {
		s, ok := starlark.AsString(e)
		if !ok {
			return nil, fmt.Errorf("script: got a list holding %s, want names", e.Type())
		}
		names = append(names, s)
	}
	if len(names) == 0 {
		return nil, errors.New("script: empty list")
	}
	return names, nil
}

// confText encodes a conf as the JSON text APISIX sends; a str is sent
// verbatim (so a test can send invalid JSON), None as "".
func confText(thread *starlark.Thread, v starlark.Value) (string, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return "", nil
	case starlark.String:
		return string(x), nil
	}
	return bindings.EncodeJSON(thread, v)
}

// withNow runs fn with the sandbox clock set to now (when not None).
func (f *fixture) withNow(now starlark.Value, fn func() (*Result, error)) (*Result, error) {
	if now == starlark.None {
		return fn()
	}
	t, err := toTime(now)
	if err != nil {
		return nil, fmt.Errorf("now: %w", err)
	}
	prev := f.sb.now
	f.sb.SetNow(t)
	defer f.sb.SetNow(prev)
	return fn()
}

// result wraps res, moving the logs of the run into the test's output.
func (f *fixture) result(res *Result) starlark.Value {
	logs := f.sb.TakeLogs()
	for _, l := range logs {
		f.lines = append(f.lines, "  | "+l)
	}
	return newResultValue(res, logs)
}

func (f *fixture) run(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return runPhase(f, thread, b, args, kwargs, "request", func(v *requestValue) *Request { return v.r }, f.sb.RunRequest)
}

func (f *fixture) runResponse(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return runPhase(f, thread, b, args, kwargs, "response", func(v *responseValue) *Response { return v.r }, f.sb.RunResponse)
}

// runPhase implements t.run and t.run_response: kind names both the
// keyword argument and the t.<kind>(...) constructor of the message; the
// message is unwrapped from its value V, or is the zero M when absent,
// and run runs the chain on it.
func runPhase[M any, V starlark.Value](f *fixture, thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple,
	kind string, unwrap func(V) *M, run func(engine.Chain, *M) (*Result, error)) (starlark.Value, error) {
	var script starlark.Value
	var conf, msg, now starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "script", &script, "conf?", &conf, kind+"?", &msg, "now?", &now); err != nil {
		return nil, err
	}
	m := new(M)
	switch x := msg.(type) {
	case V:
		m = unwrap(x)
	case starlark.NoneType:
	default:
		return nil, fmt.Errorf("%s: %s: got %s, want t.%s(...)", b.Name(), kind, msg.Type(), kind)
	}
	chain, err := f.chain(thread, script, conf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	res, err := f.withNow(now, func() (*Result, error) { return run(chain, m) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return f.result(res), nil
}

// prepare(script, conf=None) returns the conf the script's handlers get:
// validated, defaults filled, passed through init.
func (f *fixture) prepare(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var script string
	var conf starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "script", &script, "conf?", &conf); err != nil {
		return nil, err
	}
	chain, err := f.chain(thread, starlark.String(script), conf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return chain[0].Value, nil
}

func (f *fixture) setTime(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	t, err := toTime(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	f.sb.SetNow(t)
	f.info.Now = f.sb.Now()
	return starlark.None, nil
}

// --- assertions ---

// label prefixes a failure with the assertion's optional message.
func label(msg starlark.Value) string {
	if s, ok := starlark.AsString(msg); ok && s != "" {
		return s + ": "
	}
	if msg != nil && msg != starlark.None {
		return msg.String() + ": "
	}
	return ""
}

func (f *fixture) eq(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var got, want, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "got", &got, "want", &want, "msg?", &msg); err != nil {
		return nil, err
	}
	ok, err := starlark.Equal(got, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if !ok {
		f.errorf(thread, "%sgot %s, want %s", label(msg), got, want)
	}
	return starlark.None, nil
}

func (f *fixture) ne(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var got, want, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "got", &got, "want", &want, "msg?", &msg); err != nil {
		return nil, err
	}
	ok, err := starlark.Equal(got, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if ok {
		f.errorf(thread, "%sgot %s, want anything else", label(msg), got)
	}
	return starlark.None, nil
}

func (f *fixture) isTrue(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "x", &x, "msg?", &msg); err != nil {
		return nil, err
	}
	if !x.Truth() {
		f.errorf(thread, "%sgot %s, want a true value", label(msg), x)
	}
	return starlark.None, nil
}

func (f *fixture) contains(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var container, x, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "container", &container, "x", &x, "msg?", &msg); err != nil {
		return nil, err
	}
	in, err := starlark.Binary(syntax.IN, x, container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if !in.Truth() {
		f.errorf(thread, "%sgot %s, want it to contain %s", label(msg), container, x)
	}
	return starlark.None, nil
}

// fails(fn, pattern=None) calls fn() and records a failure unless it
// fails with an error matching the regular expression pattern. It returns
// the error message.
func (f *fixture) fails(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	var pattern, msg starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn, "pattern?", &pattern, "msg?", &msg); err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if s, ok := pattern.(starlark.String); ok {
		var err error
		if re, err = regexp.Compile(string(s)); err != nil {
			return nil, fmt.Errorf("%s: pattern: %w", b.Name(), err)
		}
	}
	_, err := starlark.Call(thread, fn, nil, nil)
	if err == nil {
		want := "an error"
		if re != nil {
			want = "one matching " + pattern.String()
		}
		f.errorf(thread, "%sgot no error, want %s", label(msg), want)
		return starlark.None, nil
	}
	text := err.Error()
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		text = ee.Msg
	}
	if re != nil && !re.MatchString(text) {
		f.errorf(thread, "%sgot error %q, want one matching %s", label(msg), text, pattern)
	}
	return starlark.String(text), nil
}

func (f *fixture) fail(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &msg); err != nil {
		return nil, err
	}
	f.errorf(thread, "%s", msg)
	return starlark.None, nil
}

var (
	_ starlark.HasAttrs = (*fixture)(nil)
)
