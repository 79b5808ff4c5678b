package bindings

import (
	"fmt"

	"go.starlark.net/starlark"
)

// message is what the request and response values share: the host's
// Fetcher, the variables asked for (memoized for the call), the body
// (asked for once, or set by a script), the limits of the running
// script, and the builtins over them: var, body, text, json, set_body.
type message struct {
	fetch  Fetcher
	what   string // "request" or "response", for error messages
	limits Limits

	vars      map[string]starlark.Value
	body      []byte
	bodyKnown bool // body holds the current body (fetched or set)
	bodySet   bool
}

// builtins binds the shared methods once; the values add their own.
func (m *message) builtins() starlark.StringDict {
	return starlark.StringDict{
		"var":      starlark.NewBuiltin("var", m.varFn),
		"body":     starlark.NewBuiltin("body", m.bodyFn),
		"text":     starlark.NewBuiltin("text", m.textFn),
		"json":     starlark.NewBuiltin("json", m.jsonFn),
		"set_body": starlark.NewBuiltin("set_body", m.setBody),
	}
}

func (m *message) reset(f Fetcher, limits Limits) {
	m.fetch, m.limits = f, limits
	clear(m.vars)
	m.body, m.bodyKnown, m.bodySet = nil, false, false
}

func (m *message) release() {
	m.fetch = nil
	m.body = nil
	clear(m.vars)
}

// SetLimits changes the limits for the next handler of the chain.
func (m *message) SetLimits(l Limits) { m.limits = l }

// varFn implements var(name, default=None) with per-call memoization;
// absent answers are memoized too.
func (m *message) varFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, def, err := unpackNameDefault(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: empty variable name", b.Name())
	}
	if v, ok := m.vars[name]; ok {
		if v == nil {
			return def, nil
		}
		return v, nil
	}
	val, ok, err := m.fetch.Var(name)
	if err != nil {
		return nil, fmt.Errorf("%s(%q): %w", b.Name(), name, err)
	}
	if m.vars == nil {
		m.vars = make(map[string]starlark.Value)
	}
	if !ok {
		m.vars[name] = nil
		return def, nil
	}
	v := starlark.String(val)
	m.vars[name] = v
	return v, nil
}

// currentBody returns the body, asking the host once. The running
// script's cap applies even to a body an earlier script fetched or set.
func (m *message) currentBody(fn string) ([]byte, error) {
	if m.bodyKnown {
		return m.body, m.checkBodyCap(fn, len(m.body))
	}
	b, _, err := m.fetch.Body()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := m.checkBodyCap(fn, len(b)); err != nil {
		return nil, err
	}
	m.body, m.bodyKnown = append([]byte{}, b...), true
	return m.body, nil
}

// checkBodyCap returns an error when a body of n bytes exceeds the cap.
func (m *message) checkBodyCap(fn string, n int) error {
	if m.limits.MaxBodyBytes > 0 && n > m.limits.MaxBodyBytes {
		return fmt.Errorf("%s: the %s body of %d bytes exceeds the limit of %d bytes (max_body_bytes)", fn, m.what, n, m.limits.MaxBodyBytes)
	}
	return nil
}

// bodyArgs checks that a body method got no arguments and returns the body.
func (m *message) bodyArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) ([]byte, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	return m.currentBody(b.Name())
}

func (m *message) bodyFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	body, err := m.bodyArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(body), nil
}

func (m *message) textFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	body, err := m.bodyArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.String(body), nil
}

func (m *message) jsonFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	body, err := m.bodyArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: the body is empty", b.Name())
	}
	v, err := jsonDecode(thread, string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: body is not valid JSON: %w", b.Name(), err)
	}
	return v, nil
}

// setBody converts its argument — str, bytes, or a dict/list encoded as
// JSON — and makes it the body. An empty body cannot be expressed in the
// protocol.
func (m *message) setBody(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	var body []byte
	switch x := v.(type) {
	case *starlark.Dict, *starlark.List:
		s, err := jsonEncode(thread, x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		body = []byte(s)
	default:
		var err error
		if body, err = bodyBytes(b.Name(), v, false); err != nil {
			return nil, fmt.Errorf("%s: got %s, want str, bytes, dict or list", b.Name(), v.Type())
		}
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: an empty body cannot be sent: APISIX reads an empty body as \"unchanged\"", b.Name())
	}
	m.body, m.bodyKnown, m.bodySet = body, true, true
	return starlark.None, nil
}
