package engine

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Outcome classifies how a call ended.
type Outcome uint8

// Outcomes.
const (
	Continue Outcome = iota // every handler returned None and nothing changed
	Rewrite                 // every handler returned None; changes to send
	Stopped                 // a handler returned respond(...)
	Failed                  // a handler failed; the error policy applied
	TimedOut                // a handler exceeded its wall-clock limit
)

func (o Outcome) String() string {
	switch o {
	case Continue:
		return "continue"
	case Rewrite:
		return "rewrite"
	case Stopped:
		return "stop"
	case Failed:
		return "error"
	case TimedOut:
		return "timeout"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result describes a finished call.
type Result struct {
	Outcome Outcome
	Steps   uint64       // Starlark steps used by all handlers
	Err     *ScriptError // set when Outcome is Failed or TimedOut
}

// ScriptError is a handler failure: a Starlark runtime error, fail(), an
// exhausted step budget, a timeout, a bad return value or a recovered
// panic.
type ScriptError struct {
	Script    string
	Version   string
	Phase     string // "request" or "response"
	Err       error
	Backtrace string // Starlark backtrace, or Go stack of a panic
	Timeout   bool
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("%s (version %s) on_%s: %v", e.Script, e.Version, e.Phase, e.Err)
}

func (e *ScriptError) Unwrap() error { return e.Err }

// callState is what one in-flight call borrows from the pool: a Starlark
// thread, the request and response values, the argument tuple and a
// reusable deadline timer.
type callState struct {
	thread   *starlark.Thread
	req      *bindings.RequestValue
	resp     *bindings.ResponseValue
	args     starlark.Tuple
	timer    *time.Timer
	timedOut atomic.Bool
	tainted  bool // must not return to the pool
}

func (e *Engine) newCallState() *callState {
	cs := &callState{
		thread: e.newThread("call"),
		req:    bindings.NewRequestValue(),
		resp:   bindings.NewResponseValue(),
		args:   make(starlark.Tuple, 2),
	}
	cs.timer = time.AfterFunc(time.Hour, func() {
		cs.timedOut.Store(true)
		cs.thread.Cancel("timeout")
	})
	cs.timer.Stop()
	return cs
}

func (e *Engine) getCall() *callState { return e.calls.Get().(*callState) }

// putCall returns cs to the pool unless its thread may still be cancelled
// by a timer that fired late, or a panic left it in an unknown state.
func (e *Engine) putCall(cs *callState) {
	cs.args[0], cs.args[1] = nil, nil
	cs.req.Release()
	cs.resp.Release()
	if !cs.tainted {
		e.calls.Put(cs)
	}
}

// invoke runs one handler under the script's limits. Entry points are
// checked at load to take exactly two positional parameters, so reusing
// cs.args is safe: the callee copies them into its frame.
func (cs *callState) invoke(fn *starlark.Function, l Limits, value, conf starlark.Value) (v starlark.Value, steps uint64, err error) {
	th := cs.thread
	th.Uncancel()
	cs.timedOut.Store(false)
	start := th.ExecutionSteps()
	th.SetMaxExecutionSteps(start + l.Steps)
	cs.args[0], cs.args[1] = value, conf
	cs.timer.Reset(l.Timeout)
	defer func() {
		if !cs.timer.Stop() {
			cs.tainted = true // the timer fired or is firing: drop the thread
		}
		steps = th.ExecutionSteps() - start
		if p := recover(); p != nil {
			cs.tainted = true
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	v, err = starlark.Call(th, fn, cs.args, nil)
	return v, 0, err
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("internal error: panic: %v", p.value) }

// errBadReturn is wrapped when a handler returns neither None nor a
// respond(...) value.
var errBadReturn = errors.New("bad return value")

// RunRequest runs the request phase of chain on src and records the
// decision in d, which it resets first.
func (e *Engine) RunRequest(chain Chain, src bindings.Request, d *bindings.Decision) Result {
	d.Reset()
	cs := e.getCall()
	defer e.putCall(cs)
	var res Result
	cs.req.Reset(src, bindings.Limits{MaxBodyBytes: e.cfg.MaxBodyBytes})
	for _, c := range chain {
		fn := c.Script.onRequest
		if fn == nil {
			continue
		}
		l := c.Script.limits
		cs.req.SetLimits(bindings.Limits{MaxBodyBytes: l.MaxBodyBytes})
		v, steps, err := cs.invoke(fn, l, cs.req, c.Value)
		res.Steps += steps
		if err == nil {
			switch x := v.(type) {
			case starlark.NoneType:
				continue
			case *bindings.Stop:
				cs.req.FinishStop(d, x)
				res.Outcome = Stopped
				return res
			default:
				err = fmt.Errorf("%w: on_request returned %s; want None or respond(...)", errBadReturn, v.Type())
			}
		}
		return e.fail(d, c, "request", src.ID(), err, cs, res)
	}
	cs.req.Finish(d)
	if !d.Changed() {
		return res
	}
	if err := bindings.CheckRewriteRespHeaders(d.RespHeaders); err != nil {
		return e.fail(d, chain[len(chain)-1], "request", src.ID(), err, cs, res)
	}
	res.Outcome = Rewrite
	return res
}

// RunResponse runs the response phase of chain on src and records the
// decision in d, which it resets first.
func (e *Engine) RunResponse(chain Chain, src bindings.Response, d *bindings.Decision) Result {
	d.Reset()
	cs := e.getCall()
	defer e.putCall(cs)
	var res Result
	cs.resp.Reset(src, bindings.Limits{MaxBodyBytes: e.cfg.MaxBodyBytes})
	for _, c := range chain {
		fn := c.Script.onResponse
		if fn == nil {
			continue
		}
		l := c.Script.limits
		cs.resp.SetLimits(bindings.Limits{MaxBodyBytes: l.MaxBodyBytes})
		v, steps, err := cs.invoke(fn, l, cs.resp, c.Value)
		res.Steps += steps
		if err == nil {
			switch x := v.(type) {
			case starlark.NoneType:
				continue
			case *bindings.Stop:
				d.Stop, d.Status, d.Body = true, x.Status, x.Body
				d.Headers = append(d.Headers, x.Headers...)
				res.Outcome = Stopped
				return res
			default:
				err = fmt.Errorf("%w: on_response returned %s; want None or respond(...)", errBadReturn, v.Type())
			}
		}
		return e.fail(d, c, "response", src.ID(), err, cs, res)
	}
	cs.resp.Finish(d)
	res.Outcome = Rewrite
	return res
}

// fail applies the error policy: the call is answered with a short Stop
// that names no script, file or Go internals.
func (e *Engine) fail(d *bindings.Decision, c *Conf, phase string, id uint32, err error, cs *callState, res Result) Result {
	se := &ScriptError{Script: c.Script.Name, Version: c.Script.Version, Phase: phase, Err: err}
	var ee *starlark.EvalError
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		se.Backtrace = string(pe.stack)
	case errors.As(err, &ee):
		se.Backtrace = ee.Backtrace()
	}
	res.Outcome = Failed
	if cs.timedOut.Load() {
		se.Timeout = true
		res.Outcome = TimedOut
	}
	res.Err = se
	d.Reset()
	d.Stop = true
	d.Status = e.cfg.ErrorStatus
	d.Headers = append(d.Headers, bindings.KV{Name: "content-type", Value: "text/plain; charset=utf-8", HasValue: true})
	d.Body = strconv.AppendUint(append(d.Body[:0], "script error (request "...), uint64(id), 10)
	d.Body = append(d.Body, ")\n"...)
	return res
}
