package engine

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Conf is one entry of a conf list: a compiled script and its parameters,
// validated against CONF_SCHEMA, passed through init and frozen. It is
// immutable and safe to share.
type Conf struct {
	Name   string
	Script *Script
	Value  starlark.Value // what handlers receive as conf (frozen)
	Raw    []byte         // the JSON text it was prepared from
}

// Chain is an ordered conf list; it runs one script after the other.
type Chain []*Conf

// ConfError reports why a conf entry was rejected.
type ConfError struct {
	Index int    // position in the conf list
	Name  string // conf name
	Err   error
}

func (e *ConfError) Error() string {
	return fmt.Sprintf("conf[%d] %q: %v", e.Index, e.Name, e.Err)
}

func (e *ConfError) Unwrap() error { return e.Err }

// NewConf loads the named script and prepares value (JSON text; empty
// means {}) for it.
func (e *Engine) NewConf(name string, value []byte) (*Conf, error) {
	s, err := e.Script(name)
	if err != nil {
		return nil, err
	}
	return e.Prepare(s, value)
}

// Prepare decodes value for the compiled script s, validates it against
// CONF_SCHEMA (filling defaults) and runs init under the script's limits.
func (e *Engine) Prepare(s *Script, value []byte) (*Conf, error) {
	thread := e.newThread("init " + s.Name)
	bindings.BindCallInfo(thread, &bindings.CallInfo{Script: s.Name, Version: s.Version, Phase: "init", Now: e.cfg.Clock()})
	budget := s.limits.budget(0)
	bindings.BindBudget(thread, &budget)
	thread.SetMaxExecutionSteps(s.limits.Steps)
	text := string(value)
	if text == "" {
		text = "{}"
	}
	v, err := bindings.DecodeJSON(thread, text)
	if err != nil {
		return nil, fmt.Errorf("value is not valid JSON: %w", err)
	}
	if s.schema != nil {
		if err := s.schema.validate(v, "conf"); err != nil {
			return nil, fmt.Errorf("CONF_SCHEMA: %w", err)
		}
	}
	if s.init != nil {
		v, err = runWithTimeout(thread, s.limits.Timeout, func() (starlark.Value, error) {
			return starlark.Call(thread, s.init, starlark.Tuple{v}, nil)
		})
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	v.Freeze()
	return &Conf{Name: s.Name, Script: s, Value: v, Raw: append([]byte(nil), value...)}, nil
}

// NewChain prepares every entry of a conf list, failing on the first
// invalid one with a *ConfError.
func (e *Engine) NewChain(names []string, values [][]byte) (Chain, error) {
	chain := make(Chain, len(names))
	for i, name := range names {
		c, err := e.NewConf(name, values[i])
		if err != nil {
			return nil, &ConfError{Index: i, Name: name, Err: err}
		}
		chain[i] = c
	}
	return chain, nil
}
