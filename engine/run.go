package engine

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
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
	// Continued lists, in order, the handler failures that the
	// on_error: continue policy passed over: the chain went on without
	// those handlers' changes.
	Continued []*ScriptError
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
	// Policy is the error policy that applied: OnErrorClosed when the
	// call was answered with the error status, OnErrorContinue when the
	// chain went on.
	Policy ErrorPolicy
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("%s (version %s) on_%s: %v", e.Script, e.Version, e.Phase, e.Err)
}

func (e *ScriptError) Unwrap() error { return e.Err }

// callState is what one in-flight call borrows from the engine's free
// list: a Starlark thread, the request and response values, the argument
// tuple and the deadline the watchdog watches (watchdog.go).
type callState struct {
	thread   *starlark.Thread
	req      *bindings.RequestValue
	resp     *bindings.ResponseValue
	args     starlark.Tuple
	dl       deadline
	wd       *watchdog
	info     *bindings.CallInfo
	budget   *bindings.Budget
	timedOut bool // the watchdog cancelled the last handler
	tainted  bool // must not be pooled again

	// snapshots of the changes before a handler whose policy is
	// on_error: continue, to drop them if it fails
	reqSnap  bindings.RequestSnapshot
	respSnap bindings.ResponseSnapshot
	// The phases live here so that passing them as an interface does
	// not allocate.
	reqPhase  requestPhase
	respPhase responsePhase
}

func (e *Engine) newCallState() *callState {
	cs := &callState{
		thread: e.newThread("call"),
		req:    bindings.NewRequestValue(),
		resp:   bindings.NewResponseValue(),
		args:   make(starlark.Tuple, 2),
		dl:     deadline{fired: make(chan struct{}, 1)},
		wd:     &e.wd,
		info:   &bindings.CallInfo{},
		budget: &bindings.Budget{},
	}
	bindings.BindCallInfo(cs.thread, cs.info)
	bindings.BindBudget(cs.thread, cs.budget)
	return cs
}

// begin fills the call information builtins read.
func (cs *callState) begin(id uint32, phase string, clock func() time.Time) {
	*cs.info = bindings.CallInfo{RequestID: id, Phase: phase, Clock: clock}
	cs.timedOut = false
}

// getCall takes an idle callState from the pool, or makes and registers
// a new one.
func (e *Engine) getCall() *callState {
	if cs := e.calls.get(); cs != nil {
		return cs
	}
	cs := e.newCallState()
	e.calls.add(cs)
	return cs
}

// putCall returns cs to the pool, or unregisters it when a panic
// left it in an unknown state.
func (e *Engine) putCall(cs *callState) {
	cs.args[0], cs.args[1] = nil, nil
	cs.req.Release()
	cs.resp.Release()
	cs.reqSnap.Release()
	cs.respSnap.Release()
	cs.reqPhase, cs.respPhase = requestPhase{}, responsePhase{} // drop confs and errors of the call
	if cs.tainted {
		e.calls.drop(cs)
		return
	}
	e.calls.put(cs)
}

// invoke runs one handler under the script's limits. Entry points are
// checked at load to take exactly two positional parameters, so reusing
// cs.args is safe: the callee copies them into its frame.
//
// The watchdog cancels the thread when the handler outlives l.Timeout.
// If it has begun to, invoke waits until it is done before it returns
// (deadline.end), so that it cannot cancel the next handler of the
// chain, or the next call on the reused thread, after they called
// Uncancel (a late cancellation).
func (cs *callState) invoke(fn *starlark.Function, l Limits, value, conf starlark.Value) (v starlark.Value, steps uint64, err error) {
	th := cs.thread
	th.Uncancel()
	start := th.ExecutionSteps()
	th.SetMaxExecutionSteps(start + l.Steps)
	*cs.budget = l.budget(start)
	cs.args[0], cs.args[1] = value, conf
	cs.dl.begin(cs.wd, l.Timeout)
	defer func() {
		cs.timedOut = cs.dl.end(cs.wd)
		steps = th.ExecutionSteps() - start
	}()
	v, err = starlark.Call(th, fn, cs.args, nil)
	return v, 0, err
}

// recoverCall turns a panic, in a builtin or in a host accessor read by
// the engine itself, into a failed call. It is the one panic boundary of
// a call, deferred by RunRequest and RunResponse; cur is the conf that
// was running (nil before the first handler).
func (e *Engine) recoverCall(p any, d *bindings.Decision, cur *Conf, phase string, id uint32, cs *callState, res Result) Result {
	cs.tainted = true
	return e.fail(d, cur, phase, id, &panicError{value: p, stack: debug.Stack()}, cs, res)
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("internal error: panic: %v", p.value) }

// errBadReturn is wrapped when a handler returns neither None nor a
// respond(...) value.
var errBadReturn = errors.New("bad return value")

// errEmptyRespBody is the error of respond() without a body in
// on_response: APISIX reads an empty body in an HTTPRespCall answer as
// "keep the upstream body" (protocol.md §4.4), so the response could not
// be replaced as the script asked.
var errEmptyRespBody = errors.New("respond() in on_response needs a non-empty body or json: APISIX keeps the upstream body when the body is empty")

// defaultContentType is the header a response-phase respond() without
// headers gets, so that its header list is never empty.
var defaultContentType = bindings.KV{Name: "content-type", Value: "text/plain; charset=utf-8", HasValue: true}

// RunRequest runs the request phase of chain on src and records the
// decision in d, which it resets first.
func (e *Engine) RunRequest(chain Chain, src bindings.Request, d *bindings.Decision) Result {
	d.Reset()
	cs := e.getCall()
	defer e.putCall(cs)
	cs.begin(src.ID(), "request", e.cfg.Clock)
	cs.req.Reset(src, bindings.Limits{MaxBodyBytes: e.cfg.MaxBodyBytes})
	cs.reqPhase = requestPhase{cs: cs}
	return e.runChain(chain, &cs.reqPhase, src.ID(), cs, d)
}

// RunResponse runs the response phase of chain on src and records the
// decision in d, which it resets first.
func (e *Engine) RunResponse(chain Chain, src bindings.Response, d *bindings.Decision) Result {
	d.Reset()
	cs := e.getCall()
	defer e.putCall(cs)
	cs.begin(src.ID(), "response", e.cfg.Clock)
	cs.resp.Reset(src, bindings.Limits{MaxBodyBytes: e.cfg.MaxBodyBytes})
	cs.respPhase = responsePhase{cs: cs}
	return e.runChain(chain, &cs.respPhase, src.ID(), cs, d)
}

// phase is what differs between running a chain's on_request and its
// on_response handlers; runChain does the rest for both.
type phase interface {
	name() string
	handler(s *Script) *starlark.Function
	arg() starlark.Value
	setLimits(l bindings.Limits)
	snapshot()
	restore()
	outputSize(stop *bindings.Stop) int
	// before is called before each handler and passed after one returned
	// None. A respond(...) is first checked (an error fails that handler)
	// and then recorded by stop. finish runs after the whole chain passed
	// and names the conf to blame for its error.
	before()
	passed(c *Conf)
	checkStop(s *bindings.Stop) error
	stop(d *bindings.Decision, s *bindings.Stop)
	finish(d *bindings.Decision) (Outcome, *Conf, error)
}

// runChain runs each handler of the phase in chain order under its
// script's limits and error policy, and records the decision in d.
func (e *Engine) runChain(chain Chain, p phase, id uint32, cs *callState, d *bindings.Decision) (res Result) {
	var cur *Conf
	defer func() {
		if r := recover(); r != nil {
			res = e.recoverCall(r, d, cur, p.name(), id, cs, res)
		}
	}()
	for _, c := range chain {
		fn := p.handler(c.Script)
		if fn == nil {
			continue
		}
		cur = c
		cs.info.Script, cs.info.Version = c.Script.Name, c.Script.Version
		l := c.Script.limits
		p.setLimits(bindings.Limits{MaxBodyBytes: l.MaxBodyBytes})
		p.before()
		if l.OnError == OnErrorContinue {
			p.snapshot()
		}
		v, steps, err := cs.invoke(fn, l, p.arg(), c.Value)
		res.Steps += steps
		if err == nil {
			switch x := v.(type) {
			case starlark.NoneType:
				if err = checkResponseSize(&l, p.outputSize(nil)); err != nil {
					break
				}
				e.observe(c, p.name(), Continue)
				p.passed(c)
				continue
			case *bindings.Stop:
				if err = p.checkStop(x); err != nil {
					break
				}
				if err = checkResponseSize(&l, p.outputSize(x)); err != nil {
					break
				}
				e.observe(c, p.name(), Stopped)
				p.stop(d, x)
				res.Outcome = Stopped
				return res
			default:
				err = fmt.Errorf("%w: on_%s returned %s; want None or respond(...)", errBadReturn, p.name(), v.Type())
			}
		}
		if l.OnError == OnErrorContinue {
			p.restore()
			res.Continued = append(res.Continued, e.scriptError(c, p.name(), err, cs, OnErrorContinue))
			continue
		}
		return e.fail(d, c, p.name(), id, err, cs, res)
	}
	outcome, blame, err := p.finish(d)
	if err != nil {
		return e.fail(d, blame, p.name(), id, err, cs, res)
	}
	res.Outcome = outcome
	return res
}

// requestPhase runs on_request handlers on the pooled request value.
type requestPhase struct {
	cs      *callState
	mark    int   // response headers set before the running handler
	dropped error // the first response header APISIX would drop
	dropper *Conf // the script that set it
}

func (p *requestPhase) name() string                         { return "request" }
func (p *requestPhase) handler(s *Script) *starlark.Function { return s.onRequest }
func (p *requestPhase) arg() starlark.Value                  { return p.cs.req }
func (p *requestPhase) setLimits(l bindings.Limits)          { p.cs.req.SetLimits(l) }
func (p *requestPhase) snapshot()                            { p.cs.req.Snapshot(&p.cs.reqSnap) }
func (p *requestPhase) restore()                             { p.cs.req.Restore(&p.cs.reqSnap) }
func (p *requestPhase) outputSize(s *bindings.Stop) int      { return p.cs.req.OutputSize(s) }
func (p *requestPhase) before()                              { p.mark = len(p.cs.req.ResponseHeaders()) }

// passed remembers the first response header APISIX would drop from a
// Rewrite: an error only if no later handler stops, charged to the
// script that set it.
func (p *requestPhase) passed(c *Conf) {
	if p.dropped == nil {
		p.dropped, p.dropper = bindings.CheckRewriteRespHeaders(p.cs.req.ResponseHeaders()[p.mark:]), c
	}
}

func (p *requestPhase) checkStop(*bindings.Stop) error { return nil }

func (p *requestPhase) stop(d *bindings.Decision, s *bindings.Stop) { p.cs.req.FinishStop(d, s) }

func (p *requestPhase) finish(d *bindings.Decision) (Outcome, *Conf, error) {
	p.cs.req.Finish(d)
	switch {
	case !d.Changed():
		return Continue, nil, nil
	case p.dropped != nil:
		return Failed, p.dropper, p.dropped
	}
	return Rewrite, nil, nil
}

// responsePhase runs on_response handlers on the pooled response value.
type responsePhase struct {
	cs     *callState
	edits  int   // header edits before the running handler
	editor *Conf // the last handler that changed the headers
}

func (p *responsePhase) name() string                         { return "response" }
func (p *responsePhase) handler(s *Script) *starlark.Function { return s.onResponse }
func (p *responsePhase) arg() starlark.Value                  { return p.cs.resp }
func (p *responsePhase) setLimits(l bindings.Limits)          { p.cs.resp.SetLimits(l) }
func (p *responsePhase) snapshot()                            { p.cs.resp.Snapshot(&p.cs.respSnap) }
func (p *responsePhase) restore()                             { p.cs.resp.Restore(&p.cs.respSnap) }
func (p *responsePhase) outputSize(s *bindings.Stop) int      { return p.cs.resp.OutputSize(s) }
func (p *responsePhase) before()                              { p.edits = p.cs.resp.HeaderEdits() }

func (p *responsePhase) passed(c *Conf) {
	if p.cs.resp.HeaderEdits() != p.edits {
		p.editor = c
	}
}

// checkStop refuses a response-phase respond() without a body, which
// APISIX would read as "keep the upstream body".
func (p *responsePhase) checkStop(s *bindings.Stop) error {
	if len(s.Body) == 0 {
		return errEmptyRespBody
	}
	return nil
}

// stop records a response-phase respond(): it replaces the whole response.
func (p *responsePhase) stop(d *bindings.Decision, s *bindings.Stop) {
	d.Stop, d.Status, d.Body = true, s.Status, s.Body
	d.Headers = append(d.Headers, s.Headers...)
	if len(d.Headers) == 0 {
		// APISIX keeps the upstream headers when the list is empty; a
		// replaced response must not carry them.
		d.Headers = append(d.Headers, defaultContentType)
	}
}

func (p *responsePhase) finish(d *bindings.Decision) (Outcome, *Conf, error) {
	p.cs.resp.Finish(d)
	if err := p.cs.resp.CheckHeaderList(d); err != nil {
		return Failed, p.editor, err
	}
	return Rewrite, nil, nil
}

// scriptError describes the failure err of c's handler, tells the
// observer, and records which policy applied.
func (e *Engine) scriptError(c *Conf, phase string, err error, cs *callState, policy ErrorPolicy) *ScriptError {
	se := &ScriptError{Phase: phase, Err: err, Policy: policy}
	if c != nil {
		se.Script, se.Version = c.Script.Name, c.Script.Version
	}
	var ee *starlark.EvalError
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		se.Backtrace = string(pe.stack)
	case errors.As(err, &ee):
		se.Backtrace = ee.Backtrace()
	}
	outcome := Failed
	if cs.timedOut {
		se.Timeout = true
		outcome = TimedOut
	}
	e.observe(c, phase, outcome)
	return se
}

// errResponseSize is wrapped when a handler leaves a response larger
// than its max_response_bytes.
var errResponseSize = errors.New("max_response_bytes exceeded")

// checkResponseSize fails when n bytes exceed l's max_response_bytes.
func checkResponseSize(l *Limits, n int) error {
	if l.MaxResponseBytes > 0 && n > l.MaxResponseBytes {
		return fmt.Errorf("the response would carry %d bytes of names, values and body, more than max_response_bytes (%d): %w", n, l.MaxResponseBytes, errResponseSize)
	}
	return nil
}

// fail answers the call with a short Stop that names no script, file or
// Go internals (the on_error: closed policy, and failures no policy can
// pass over: panics and checks of the finished chain).
func (e *Engine) fail(d *bindings.Decision, c *Conf, phase string, id uint32, err error, cs *callState, res Result) Result {
	se := e.scriptError(c, phase, err, cs, OnErrorClosed)
	res.Outcome = Failed
	if se.Timeout {
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
