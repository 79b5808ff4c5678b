package authoring

import (
	"fmt"
	"strings"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// Sandbox runs scripts offline through an engine of its own, with a clock
// that a test can set and a log that keeps what scripts print.
type Sandbox struct {
	eng *engine.Engine
	now time.Time // zero: the real time
	log *logCapture
}

// NewSandbox returns a sandbox over cfg (cfg.FS, or cfg.Dir, holds the
// scripts). cfg.Clock is replaced by the sandbox's clock.
func NewSandbox(cfg engine.Config) *Sandbox {
	s := &Sandbox{log: &logCapture{}}
	cfg.Clock = s.Now
	s.eng = engine.New(cfg, s.log.logger())
	return s
}

// Engine returns the sandbox's engine.
func (s *Sandbox) Engine() *engine.Engine { return s.eng }

// Now returns the time scripts see: the time set with SetNow, or the real
// time.
func (s *Sandbox) Now() time.Time {
	if s.now.IsZero() {
		return time.Now()
	}
	return s.now
}

// SetNow fixes the time scripts see; the zero time restores the real
// clock.
func (s *Sandbox) SetNow(t time.Time) { s.now = t }

// TakeLogs returns the lines logged (and printed) by scripts since the
// last call.
func (s *Sandbox) TakeLogs() []string { return s.log.take() }

// Conf is one entry of a conf list: a script name and its JSON conf
// (empty means {}).
type Conf struct {
	Name  string
	Value string
}

// ParseConf parses NAME=JSON, as the command line writes a conf.
func ParseConf(s string) (Conf, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Conf{}, fmt.Errorf("conf %q: want NAME=JSON", s)
	}
	return Conf{Name: name, Value: value}, nil
}

// Chain prepares a conf list: each script is loaded and compiled, its conf
// validated against CONF_SCHEMA and passed through init. The error is an
// *engine.ConfError naming the entry.
func (s *Sandbox) Chain(confs ...Conf) (engine.Chain, error) {
	names := make([]string, len(confs))
	values := make([][]byte, len(confs))
	for i, c := range confs {
		names[i], values[i] = c.Name, []byte(c.Value)
	}
	return s.eng.NewChain(names, values)
}

// RunRequest runs the request phase of chain on r.
func (s *Sandbox) RunRequest(chain engine.Chain, r *Request) (*Result, error) {
	h, err := r.host()
	if err != nil {
		return nil, err
	}
	res := &Result{Phase: "request"}
	er := s.eng.RunRequest(chain, h, &res.Decision)
	res.finish(er, h.lookups)
	return res, nil
}

// RunResponse runs the response phase of chain on r.
func (s *Sandbox) RunResponse(chain engine.Chain, r *Response) (*Result, error) {
	h, err := r.host()
	if err != nil {
		return nil, err
	}
	res := &Result{Phase: "response", Upstream: h.status}
	er := s.eng.RunResponse(chain, h, &res.Decision)
	res.finish(er, h.lookups)
	if res.Outcome == engine.Rewrite && unchangedResponse(&res.Decision, h.headers) {
		res.Outcome = engine.Continue
	}
	return res, nil
}

// hopHeaders are the names the engine leaves out of a response's complete
// header list (bindings' hopHeaders): nginx sets them itself.
var hopHeaders = []string{"connection", "content-length", "keep-alive", "transfer-encoding"}

// unchangedResponse reports whether a response-phase decision sends the
// upstream response as it was.
func unchangedResponse(d *bindings.Decision, upstream entries) bool {
	if d.Status != 0 || d.BodySet {
		return false
	}
	i := 0
	for _, kv := range upstream {
		if isHop(kv.Name) {
			continue
		}
		if i >= len(d.Headers) || d.Headers[i].Name != kv.Name || d.Headers[i].Value != kv.Value {
			return false
		}
		i++
	}
	return i == len(d.Headers)
}

func isHop(name string) bool {
	for _, h := range hopHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}
