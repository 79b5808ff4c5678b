package runner

import (
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/protocol"
)

// entryList adapts a decoded entry slice to bindings.Entries. It is used
// by pointer so that no interface conversion allocates.
type entryList struct{ list []protocol.Entry }

func (l *entryList) Len() int { return len(l.list) }
func (l *entryList) At(i int) ([]byte, []byte, bool) {
	e := &l.list[i]
	return e.Name, e.Value, e.HasValue
}

// fetcher answers var() and body() through ExtraInfo on the call's
// connection.
type fetcher struct {
	call *protocol.Call
	body protocol.InfoKind
	obs  Observer
}

func (f *fetcher) Var(name string) ([]byte, bool, error) {
	if f.obs != nil {
		f.obs.ObserveExtraInfo(protocol.InfoVar.String())
	}
	return f.call.ExtraInfo(protocol.InfoVar, name)
}

func (f *fetcher) Body() ([]byte, bool, error) {
	if f.obs != nil {
		f.obs.ObserveExtraInfo(f.body.String())
	}
	return f.call.ExtraInfo(f.body, "")
}

// reqView is bindings.Request over an HTTPReqCall.
type reqView struct {
	fetcher
	r       *protocol.HTTPReqCallRequest
	headers entryList
	args    entryList
}

func (v *reqView) ID() uint32                { return v.r.ID }
func (v *reqView) Method() string            { return v.r.Method.String() }
func (v *reqView) Path() []byte              { return v.r.Path }
func (v *reqView) SrcIP() []byte             { return v.r.SrcIP }
func (v *reqView) Headers() bindings.Entries { return &v.headers }
func (v *reqView) Args() bindings.Entries    { return &v.args }

// respView is bindings.Response over an HTTPRespCall.
type respView struct {
	fetcher
	r       *protocol.HTTPRespCallRequest
	headers entryList
}

func (v *respView) ID() uint32                { return v.r.ID }
func (v *respView) Status() int               { return int(v.r.Status) }
func (v *respView) Headers() bindings.Entries { return &v.headers }

// callCtx is the pooled per-call state of the runner.
type callCtx struct {
	req  reqView
	resp respView
	d    bindings.Decision
}

func newCallCtx() *callCtx {
	c := &callCtx{}
	c.req.body = protocol.InfoReqBody
	c.resp.body = protocol.InfoRespBody
	return c
}

func (c *callCtx) release() {
	c.req.r, c.req.call, c.req.headers.list, c.req.args.list = nil, nil, nil, nil
	c.resp.r, c.resp.call, c.resp.headers.list = nil, nil, nil
	c.d.Reset()
	c.d.Body = nil
}

// HTTPReqCall runs the request phase of the token's chain.
func (r *Runner) HTTPReqCall(call *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
	_, err := r.RunReqCall(call, req, reply)
	return err
}

// RunReqCall is HTTPReqCall that also returns the engine's result (outcome
// and Starlark steps), for benchmarks and tools.
func (r *Runner) RunReqCall(call *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) (engine.Result, error) {
	chain, ok := r.lookup(req.ConfToken, call)
	if !ok {
		return engine.Result{}, protocol.ErrConfTokenNotFound
	}
	c := r.calls.Get().(*callCtx)
	defer func() { c.release(); r.calls.Put(c) }()
	v := &c.req
	v.r, v.call, v.obs = req, call, r.cfg.Observer
	v.headers.list, v.args.list = req.Headers, req.Args
	start := r.callStart()
	res := r.eng.RunRequest(chain, v, &c.d)
	r.callDone("request", start, res, req.ID, call)
	toReqReply(&c.d, reply)
	return res, nil
}

// HTTPRespCall runs the response phase of the token's chain.
func (r *Runner) HTTPRespCall(call *protocol.Call, req *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error {
	chain, ok := r.lookup(req.ConfToken, call)
	if !ok {
		return protocol.ErrConfTokenNotFound
	}
	c := r.calls.Get().(*callCtx)
	defer func() { c.release(); r.calls.Put(c) }()
	v := &c.resp
	v.r, v.call, v.obs = req, call, r.cfg.Observer
	v.headers.list = req.Headers
	start := r.callStart()
	res := r.eng.RunResponse(chain, v, &c.d)
	r.callDone("response", start, res, req.ID, call)
	toRespReply(&c.d, reply)
	return nil
}

// callStart returns when a call starts if an observer times calls, and
// the zero time without reading the clock otherwise.
func (r *Runner) callStart() time.Time {
	if r.cfg.Observer == nil {
		return time.Time{}
	}
	return time.Now()
}

// callDone tells the observer about a call of phase that began at start
// and logs its failures.
func (r *Runner) callDone(phase string, start time.Time, res engine.Result, id uint32, call *protocol.Call) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.ObserveCall(phase, time.Since(start), res.Steps)
	}
	r.report(res, id, call)
}

// report logs each handler failure of a call once, with script, version,
// request id, the policy that applied and the backtrace: those the
// on_error: continue policy passed over, then the one that answered the
// call with the error status. Successful calls log nothing.
func (r *Runner) report(res engine.Result, id uint32, call *protocol.Call) {
	for _, e := range res.Continued {
		r.logFailure("script failed; continuing without its changes (on_error: continue)", e, res, id, call)
	}
	if res.Err != nil {
		r.logFailure("script failed; answered with the error status", res.Err, res, id, call)
	}
}

func (r *Runner) logFailure(msg string, e *engine.ScriptError, res engine.Result, id uint32, call *protocol.Call) {
	outcome := "error"
	if e.Timeout {
		outcome = "timeout"
	}
	r.log.Error(msg,
		zap.String("script", e.Script), zap.String("version", e.Version),
		zap.String("phase", e.Phase), zap.Uint32("request_id", id),
		zap.String("on_error", e.Policy.String()),
		zap.String("outcome", outcome), zap.Error(e.Err),
		zap.String("backtrace", e.Backtrace), zap.Uint64("steps", res.Steps),
		zap.Int("extra_info", call.Count()))
}

// bytesOf returns the bytes of s without copying. The encoder only reads
// them, and copies them into the frame.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func appendEntries(dst []protocol.Entry, kvs []bindings.KV) []protocol.Entry {
	for i := range kvs {
		kv := &kvs[i]
		dst = append(dst, protocol.Entry{Name: bytesOf(kv.Name), Value: bytesOf(kv.Value), HasValue: kv.HasValue})
	}
	return dst
}

func toReqReply(d *bindings.Decision, reply *protocol.ReqCallReply) {
	if d.Stop {
		reply.Action = protocol.ActionStop
		reply.Status = d.Status
		reply.Headers = appendEntries(reply.Headers, d.Headers)
		reply.Body = d.Body
		return
	}
	// With no change at all this is an empty Rewrite (design.md).
	reply.Action = protocol.ActionRewrite
	if d.PathSet {
		reply.Path, reply.HasPath = bytesOf(d.Path), true
	}
	reply.Headers = appendEntries(reply.Headers, d.ReqHeaders)
	reply.Args = appendEntries(reply.Args, d.Args)
	reply.RespHeaders = appendEntries(reply.RespHeaders, d.RespHeaders)
	if d.BodySet {
		reply.Body = d.Body
	}
}

func toRespReply(d *bindings.Decision, reply *protocol.RespCallReply) {
	reply.Status = d.Status
	reply.Headers = appendEntries(reply.Headers, d.Headers)
	if d.Stop || d.BodySet {
		reply.Body = d.Body
	}
}
