package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"go.starlark.net/starlark"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// stateEngine returns an engine over files (name -> source) whose log
// records are observed at level.
func stateEngine(t *testing.T, cfg engine.Config, level zapcore.Level, files map[string]string) (*engine.Engine, *observer.ObservedLogs) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name+".star"] = &fstest.MapFile{Data: []byte(src)}
	}
	cfg.FS = fsys
	core, logs := observer.New(level)
	return engine.New(cfg, zap.New(core)), logs
}

// header returns the value the decision sets for the request header name.
func header(d *bindings.Decision, name string) string {
	for _, kv := range d.ReqHeaders {
		if kv.Name == name {
			return kv.Value
		}
	}
	return ""
}

func TestScriptLog(t *testing.T) {
	e, logs := stateEngine(t, engine.Config{}, zapcore.InfoLevel, map[string]string{"logger": `
def on_request(req, conf):
    log.debug("not written at info")
    log.info("seen", path = req.path, n = 3, ok = True, ratio = 0.5, none = None)
`})
	chain := newChain(t, e, []string{"logger"}, nil)
	var d bindings.Decision
	if res := e.RunRequest(chain, newRequest(7), &d); res.Err != nil {
		t.Fatal(res.Err)
	}
	all := logs.FilterMessage("seen").All()
	if len(all) != 1 {
		t.Fatalf("got %d records, want 1; all: %v", len(all), logs.All())
	}
	if n := logs.FilterMessage("not written at info").Len(); n != 0 {
		t.Errorf("got %d debug records, want none at info", n)
	}
	rec := all[0]
	if rec.LoggerName != "script" || rec.Level != zapcore.InfoLevel {
		t.Errorf("got logger %q level %v, want script info", rec.LoggerName, rec.Level)
	}
	got := rec.ContextMap()
	want := map[string]any{
		"script": "logger", "version": chain[0].Script.Version, "phase": "request", "request_id": uint32(7),
		"path": "/api/items", "n": int64(3), "ok": true, "ratio": 0.5, "none": nil,
	}
	if len(got) != len(want) {
		t.Errorf("got fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %s = %#v, want %#v", k, got[k], v)
		}
	}
	// Typed fields, not reflection.
	for _, f := range rec.Context {
		if f.Key == "n" && f.Type != zapcore.Int64Type {
			t.Errorf("got field n of type %v, want Int64Type", f.Type)
		}
	}
}

func TestScriptLogSeparateLogger(t *testing.T) {
	core, scriptLogs := observer.New(zapcore.DebugLevel)
	e, runnerLogs := stateEngine(t, engine.Config{ScriptLog: zap.New(core), LogRate: 1, LogBurst: 2}, zapcore.DebugLevel,
		map[string]string{"s": "def on_request(req, conf):\n    log.warn(\"w\")\n"})
	chain := newChain(t, e, []string{"s"}, nil)
	var d bindings.Decision
	for range 5 {
		e.RunRequest(chain, newRequest(1), &d)
	}
	if n := scriptLogs.FilterMessage("w").Len(); n != 2 {
		t.Errorf("got %d records, want 2 (log_rate 1, log_burst 2, fixed clock)", n)
	}
	if n := runnerLogs.FilterMessage("w").Len(); n != 0 {
		t.Errorf("got %d records on the runner's logger, want 0", n)
	}
}

var counterScripts = map[string]string{
	"count": `
def init(conf):
    shared.incr("inits")
    return conf

def on_request(req, conf):
    req.headers.set("x-n", str(shared.incr("hits")))
`,
	"read": `
def on_request(req, conf):
    req.headers.set("x-seen", str(shared.get("hits")) + "/" + str(shared.get("inits")))
`,
}

// TestSharedAcrossScriptsAndCalls: one store per engine, seen by init,
// by every script and every call.
func TestSharedAcrossScriptsAndCalls(t *testing.T) {
	store := bindings.NewMemoryStore(bindings.MemoryStoreConfig{})
	e, _ := stateEngine(t, engine.Config{Store: store}, zapcore.InfoLevel, counterScripts)
	chain := newChain(t, e, []string{"count", "read"}, nil)
	var d bindings.Decision
	for i, want := range []string{"1/1", "2/1", "3/1"} {
		e.RunRequest(chain, newRequest(uint32(i)), &d)
		if got := header(&d, "x-seen"); got != want {
			t.Errorf("call %d: got x-seen %q, want %q", i, got, want)
		}
	}
	v, err := store.Get(context.Background(), "hits", time.Now())
	if err != nil || v == nil || v.String() != "3" {
		t.Errorf("got %v, %v from the configured store, want 3", v, err)
	}
}

// TestSharedPerEngine: two engines do not share a default store.
func TestSharedPerEngine(t *testing.T) {
	var d bindings.Decision
	for range 2 {
		e, _ := stateEngine(t, engine.Config{}, zapcore.InfoLevel, counterScripts)
		e.RunRequest(newChain(t, e, []string{"count"}, nil), newRequest(1), &d)
		if got := header(&d, "x-n"); got != "1" {
			t.Errorf("got x-n %q, want 1 (a fresh store)", got)
		}
	}
}

func TestSharedMaxKeys(t *testing.T) {
	e, _ := stateEngine(t, engine.Config{SharedMaxKeys: 5}, zapcore.InfoLevel, map[string]string{"fill": `
def on_request(req, conf):
    for i in range(20):
        shared.set("k%d" % i, i)
    req.headers.set("x-kept", ",".join([str(shared.get("k%d" % i)) for i in range(20)]))
`})
	var d bindings.Decision
	e.RunRequest(newChain(t, e, []string{"fill"}, nil), newRequest(1), &d)
	want := strings.Repeat("None,", 15) + "15,16,17,18,19"
	if got := header(&d, "x-kept"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRatelimitUsesEngineClock(t *testing.T) {
	var now atomic.Int64
	base := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := func() time.Time { return base.Add(time.Duration(now.Load())) }
	e, _ := stateEngine(t, engine.Config{Clock: clock}, zapcore.InfoLevel, map[string]string{"rl": `
def on_request(req, conf):
    if not ratelimit.allow("rl:" + req.src_ip, 1, per = 1, burst = 1):
        return respond(429)
`})
	chain := newChain(t, e, []string{"rl"}, nil)
	var d bindings.Decision
	for i, step := range []struct {
		at   time.Duration
		want int // 0: not stopped
	}{{0, 0}, {0, 429}, {999 * time.Millisecond, 429}, {time.Second, 0}, {time.Second, 429}} {
		now.Store(int64(step.at))
		e.RunRequest(chain, newRequest(uint32(i)), &d)
		if got := map[bool]int{true: d.Status, false: 0}[d.Stop]; got != step.want {
			t.Errorf("call %d at %v: got status %d, want %d", i, step.at, got, step.want)
		}
	}
}

func TestEnvAllow(t *testing.T) {
	lookup := func(name string) (string, bool) {
		v, ok := map[string]string{"REGION": "eu-west", "SECRET": "s"}[name]
		return v, ok
	}
	e, _ := stateEngine(t, engine.Config{EnvAllow: []string{"REGION"}, LookupEnv: lookup}, zapcore.InfoLevel, map[string]string{
		"ok":  "def on_request(req, conf):\n    req.headers.set(\"x-region\", env.get(\"REGION\"))\n",
		"bad": "def on_request(req, conf):\n    req.headers.set(\"x-secret\", env.get(\"SECRET\", \"\"))\n",
	})
	var d bindings.Decision
	e.RunRequest(newChain(t, e, []string{"ok"}, nil), newRequest(1), &d)
	if got := header(&d, "x-region"); got != "eu-west" {
		t.Errorf("got x-region %q, want eu-west", got)
	}
	res := e.RunRequest(newChain(t, e, []string{"bad"}, nil), newRequest(2), &d)
	if res.Err == nil || !strings.Contains(res.Err.Error(), `"SECRET" is not allowed: add it to env_allow`) {
		t.Errorf("got %v, want an env_allow error", res.Err)
	}
}

// TestPredeclaredOncePerEngine: every script of an engine gets the same
// module values.
func TestPredeclaredOncePerEngine(t *testing.T) {
	e, _ := stateEngine(t, engine.Config{}, zapcore.InfoLevel, nil)
	src := []byte("M = (shared, log, ratelimit, env)\ndef on_request(req, conf):\n    pass\n")
	a, err := e.Compile("a", src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Compile("b", src)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := a.Globals()["M"].(starlark.Tuple), b.Globals()["M"].(starlark.Tuple)
	for i := range ma {
		if ma[i] != mb[i] {
			t.Errorf("got different %s modules for two scripts, want one per engine", ma[i])
		}
	}
}
