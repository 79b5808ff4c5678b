// Package runnertest runs the real runner in tests: the engine over a set
// of scripts, the protocol server on a Unix socket, and a fake APISIX
// (protocoltest) that drives it, with the logs observed.
package runnertest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// Harness is a runner serving scripts on a real Unix socket.
type Harness struct {
	Server *protocoltest.Server
	Runner *runner.Runner
	Logs   *observer.ObservedLogs
}

// Bundled returns the .star files of dir (the repository's scripts/) by
// file name.
func Bundled(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// Start serves scripts (file name → source) with cfg; cfg.FS is replaced.
func Start(t testing.TB, scripts map[string][]byte, cfg engine.Config) *Harness {
	t.Helper()
	return StartWith(t, scripts, cfg, runner.Config{})
}

// StartWith is Start with a runner configuration.
func StartWith(t testing.TB, scripts map[string][]byte, cfg engine.Config, rcfg runner.Config) *Harness {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range scripts {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	cfg.FS = fsys
	r := runner.New(engine.New(cfg, log), rcfg, log)
	t.Cleanup(r.Close)
	srv := protocoltest.Start(t, &protocol.Server{Handler: r, Logger: log})
	return &Harness{Server: srv, Runner: r, Logs: logs}
}

// LogText renders every observed entry as a "level message {fields}" line.
func (h *Harness) LogText() string {
	var b strings.Builder
	for _, e := range h.Logs.All() {
		fields, _ := json.Marshal(e.ContextMap())
		b.WriteString(e.Level.String() + " " + e.Message + " " + string(fields) + "\n")
	}
	return b.String()
}

// Conf is one conf entry as a case writes it. Value is re-encoded as the
// JSON string APISIX sends, unless it is a JSON string, which is sent
// verbatim (so a case can send invalid JSON).
type Conf struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// KV returns the entry as sent in PrepareConf.
func (c Conf) KV() protocoltest.KV {
	var s string
	if len(c.Value) > 0 && c.Value[0] == '"' {
		if err := json.Unmarshal(c.Value, &s); err == nil {
			return protocoltest.KV{Name: c.Name, Value: s}
		}
	}
	return protocoltest.KV{Name: c.Name, Value: string(c.Value)}
}

// Outcome is what one exchange produced, in a form for golden files.
type Outcome struct {
	// Prepare is "ok" or the RPC_ERROR code of the PrepareConf answer.
	Prepare   string                  `json:"prepare"`
	Reply     *protocoltest.Reply     `json:"reply,omitempty"`
	Questions []protocoltest.Question `json:"questions,omitempty"`
}

// Exchange is one PrepareConf and at most one call, as APISIX makes them.
type Exchange struct {
	Confs    []Conf
	Request  *protocoltest.ReqCall  // HTTPReqCall, or
	Response *protocoltest.RespCall // HTTPRespCall
	Answers  *protocoltest.Answers  // ExtraInfo answers
}

// Run prepares x.Confs on one connection and sends the call on another;
// a call's zero conf_token is replaced by the prepared token.
func (h *Harness) Run(t testing.TB, x Exchange) Outcome {
	t.Helper()
	kvs := make([]protocoltest.KV, len(x.Confs))
	for i, c := range x.Confs {
		kvs[i] = c.KV()
	}
	var got Outcome
	token, err := h.Server.Dial(t).Prepare("route#1#ext-plugin-pre-req#1", kvs...)
	var rpcErr *protocoltest.RPCError
	switch {
	case errors.As(err, &rpcErr):
		got.Prepare = rpcErr.Code.String()
	case err != nil:
		t.Fatalf("prepare: %v", err)
	default:
		got.Prepare = "ok"
	}
	conn := h.Server.Dial(t)
	var reply protocoltest.Reply
	switch {
	case x.Request != nil:
		req := *x.Request
		if req.ConfToken == 0 {
			req.ConfToken = token
		}
		reply, got.Questions, err = conn.Call(req, x.Answers.Answer)
	case x.Response != nil:
		req := *x.Response
		if req.ConfToken == 0 {
			req.ConfToken = token
		}
		reply, got.Questions, err = conn.RespCall(req, x.Answers.Answer)
	default:
		return got
	}
	if err != nil {
		t.Fatalf("call: %v\n%s", err, h.LogText())
	}
	got.Reply = &reply
	return got
}
