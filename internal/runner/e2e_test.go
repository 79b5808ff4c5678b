package runner_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
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
	"github.com/scriptrunner/scriptrunner/internal/txtar"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

var update = flag.Bool("update", false, "rewrite want.json of the txtar cases")

// caseConf is one conf entry of a case. Value is re-encoded as the JSON
// string APISIX sends, unless it is a JSON string, which is sent verbatim
// (so cases can send invalid JSON).
type caseConf struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

func (c caseConf) kv() protocoltest.KV {
	var s string
	if len(c.Value) > 0 && c.Value[0] == '"' {
		if err := json.Unmarshal(c.Value, &s); err == nil {
			return protocoltest.KV{Name: c.Name, Value: s}
		}
	}
	return protocoltest.KV{Name: c.Name, Value: string(c.Value)}
}

// outcome is what a case records in want.json.
type outcome struct {
	Prepare   string                  `json:"prepare"`
	Reply     *protocoltest.Reply     `json:"reply,omitempty"`
	Questions []protocoltest.Question `json:"questions,omitempty"`
}

// harness is a runner serving the bundled scripts plus a case's own
// scripts on a real Unix socket, with its logs observed.
type harness struct {
	srv  *protocoltest.Server
	run  *runner.Runner
	logs *observer.ObservedLogs
}

func newHarness(t *testing.T, extra map[string][]byte, cfg engine.Config) *harness {
	t.Helper()
	fsys := fstest.MapFS{}
	bundled, err := filepath.Glob("../../scripts/*.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range bundled {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fsys[filepath.Base(p)] = &fstest.MapFile{Data: data}
	}
	for name, data := range extra {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	cfg.FS = fsys
	r := runner.New(engine.New(cfg, log), runner.Config{}, log)
	t.Cleanup(r.Close)
	srv := protocoltest.Start(t, &protocol.Server{Handler: r, Logger: log})
	return &harness{srv: srv, run: r, logs: logs}
}

// logText renders every observed entry as "message {fields}" lines.
func (h *harness) logText() string {
	var b strings.Builder
	for _, e := range h.logs.All() {
		fields, _ := json.Marshal(e.ContextMap())
		b.WriteString(e.Level.String() + " " + e.Message + " " + string(fields) + "\n")
	}
	return b.String()
}

func TestCases(t *testing.T) {
	files, err := filepath.Glob("../../testdata/cases/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no cases in testdata/cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runCase(t, file)
		})
	}
}

func runCase(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a := txtar.Parse(data)
	scripts := map[string][]byte{}
	for _, f := range a.Files {
		if strings.HasSuffix(f.Name, ".star") {
			scripts[f.Name] = f.Data
		}
	}
	var confs []caseConf
	mustJSON(t, a, "conf.json", &confs, true)
	var answers protocoltest.Answers
	mustJSON(t, a, "answers.json", &answers, false)

	h := newHarness(t, scripts, engine.Config{})
	conn := h.srv.Dial(t)
	kvs := make([]protocoltest.KV, len(confs))
	for i, c := range confs {
		kvs[i] = c.kv()
	}
	var got outcome
	token, err := conn.Prepare("route#1#ext-plugin-pre-req#1", kvs...)
	var rpcErr *protocoltest.RPCError
	switch {
	case errors.As(err, &rpcErr):
		got.Prepare = rpcErr.Code.String()
		conn = h.srv.Dial(t) // APISIX closes a connection after an error
	case err != nil:
		t.Fatalf("prepare: %v", err)
	default:
		got.Prepare = "ok"
	}

	var reply protocoltest.Reply
	switch {
	case hasFile(a, "request.json"):
		var req protocoltest.ReqCall
		mustJSON(t, a, "request.json", &req, true)
		if req.ConfToken == 0 {
			req.ConfToken = token
		}
		reply, got.Questions, err = conn.Call(req, answers.Answer)
		got.Reply = &reply
	case hasFile(a, "response.json"):
		var req protocoltest.RespCall
		mustJSON(t, a, "response.json", &req, true)
		if req.ConfToken == 0 {
			req.ConfToken = token
		}
		reply, got.Questions, err = conn.RespCall(req, answers.Answer)
		got.Reply = &reply
	}
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	out, err := protocoltest.JSON(got)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		a.Set("want.json", out)
		if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		want, ok := a.File("want.json")
		if !ok {
			t.Fatalf("no want.json (run with -update to create it); got:\n%s", out)
		}
		wantNorm, err := protocoltest.JSON(json.RawMessage(want))
		if err != nil {
			t.Fatalf("want.json: %v", err)
		}
		if !bytes.Equal(out, wantNorm) {
			t.Errorf("got:\n%s\nwant:\n%s", out, wantNorm)
		}
	}
	if want, ok := a.File("log.txt"); ok {
		logs := h.logText()
		for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(logs, line) {
				t.Errorf("log has no %q; got:\n%s", line, logs)
			}
		}
	}
}

func hasFile(a *txtar.Archive, name string) bool {
	_, ok := a.File(name)
	return ok
}

func mustJSON(t *testing.T, a *txtar.Archive, name string, v any, required bool) {
	t.Helper()
	data, ok := a.File(name)
	if !ok {
		if required {
			t.Fatalf("case has no %s", name)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

var _ fs.FS = fstest.MapFS{}
