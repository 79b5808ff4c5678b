package authoring

import (
	"fmt"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// Result is what one offline call produced.
type Result struct {
	Phase string // "request" or "response"
	// Outcome is the engine's outcome; in the response phase a decision
	// that sends the upstream response unchanged is engine.Continue.
	Outcome  engine.Outcome
	Decision bindings.Decision
	Upstream int // response phase: the upstream status
	Steps    uint64
	Lookups  []Lookup            // ExtraInfo questions, in order
	Err      *engine.ScriptError // set when a handler failed
}

func (r *Result) finish(er engine.Result, lookups []Lookup) {
	r.Outcome, r.Steps, r.Err = er.Outcome, er.Steps, er.Err
	r.Lookups = lookups
}

// Action names the outcome as tests see it: "continue", "rewrite", "stop"
// or "error" (a failed or timed-out handler).
func (r *Result) Action() string {
	switch r.Outcome {
	case engine.Continue:
		return "continue"
	case engine.Rewrite:
		return "rewrite"
	case engine.Stopped:
		return "stop"
	}
	return "error"
}

// Error returns the script error as "script: on_phase: message", or "".
func (r *Result) Error() string {
	if r.Err == nil {
		return ""
	}
	return fmt.Sprintf("%s: on_%s: %v", r.Err.Script, r.Err.Phase, r.Err.Err)
}

// Report is a Result as JSON: the decision in the shape of the end-to-end
// cases' replies, with the outcome, the steps used and the ExtraInfo
// lookups.
type Report struct {
	// Outcome is "continue", "rewrite", "stop", "error" or "timeout".
	Outcome string `json:"outcome"`
	// Action is the request-phase action: "stop" or "rewrite" (an
	// unchanged request is answered with an empty rewrite).
	Action  string   `json:"action,omitempty"`
	Stop    *Stop    `json:"stop,omitempty"`
	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// Resp is the response-phase answer.
	Resp      *Resp    `json:"resp,omitempty"`
	Error     string   `json:"error,omitempty"`
	Steps     uint64   `json:"steps"`
	ExtraInfo []Lookup `json:"extra_info"`
}

// Stop is the response a request-phase handler answered with.
type Stop struct {
	Status  int    `json:"status"`
	Headers []KV   `json:"headers,omitempty"`
	Body    string `json:"body,omitempty"`
}

// Rewrite is the request-phase changes sent upstream. Header and argument
// entries without a value delete.
type Rewrite struct {
	Path        *string `json:"path,omitempty"`
	Headers     []KV    `json:"headers,omitempty"`
	Args        []KV    `json:"args,omitempty"`
	RespHeaders []KV    `json:"resp_headers,omitempty"`
	Body        string  `json:"body,omitempty"`
}

// Resp is the response-phase answer: Status 0 keeps the upstream status,
// Headers is the complete list the client gets, Body (when set) replaces
// the upstream body.
type Resp struct {
	Status  int    `json:"status"`
	Headers []KV   `json:"headers,omitempty"`
	Body    string `json:"body,omitempty"`
}

// Report renders r.
func (r *Result) Report() Report {
	d := &r.Decision
	rep := Report{Outcome: r.Outcome.String(), Error: r.Error(), Steps: r.Steps, ExtraInfo: r.Lookups}
	if rep.ExtraInfo == nil {
		rep.ExtraInfo = []Lookup{}
	}
	switch {
	case r.Phase == "response":
		rep.Resp = &Resp{Status: d.Status, Headers: kvs(d.Headers)}
		if d.Stop || d.BodySet {
			rep.Resp.Body = string(d.Body)
		}
	case d.Stop:
		rep.Action = "stop"
		rep.Stop = &Stop{Status: d.Status, Headers: kvs(d.Headers), Body: string(d.Body)}
	default:
		rep.Action = "rewrite"
		rep.Rewrite = &Rewrite{Headers: kvs(d.ReqHeaders), Args: kvs(d.Args), RespHeaders: kvs(d.RespHeaders)}
		if d.PathSet {
			rep.Rewrite.Path = &d.Path
		}
		if d.BodySet {
			rep.Rewrite.Body = string(d.Body)
		}
	}
	return rep
}

func kvs(list []bindings.KV) []KV {
	if len(list) == 0 {
		return nil
	}
	out := make([]KV, len(list))
	for i, kv := range list {
		out[i] = KV{Name: kv.Name, Value: kv.Value, NoValue: !kv.HasValue}
	}
	return out
}
