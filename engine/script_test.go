package engine_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr []string // substrings
	}{
		{name: "syntax error", src: "def on_request(req, conf)\n    pass\n", wantErr: []string{"s.star:2:1: got newline, want ':'"}},
		{name: "undefined name", src: "def on_request(req, conf):\n    return respnse(200)\n", wantErr: []string{"s.star:2:12: undefined: respnse"}},
		{name: "recursion at top level", src: "def f(n):\n    return f(n - 1) if n else 0\nX = f(3)\ndef on_request(req, conf):\n    pass\n",
			wantErr: []string{"s.star: top level:", "function f called recursively"}},
		{name: "no handler", src: "def helper():\n    pass\n", wantErr: []string{"s.star: defines neither on_request(req, conf) nor on_response(resp, conf)"}},
		{name: "on_request one parameter", src: "\ndef on_request(req):\n    pass\n", wantErr: []string{"s.star:2: on_request must be defined as on_request(req, conf)"}},
		{name: "on_request three parameters", src: "def on_request(req, conf, x):\n    pass\n", wantErr: []string{"on_request must be defined as on_request(req, conf)"}},
		{name: "on_request varargs", src: "def on_request(req, *args):\n    pass\n", wantErr: []string{"on_request must be defined as on_request(req, conf)"}},
		{name: "on_request kwargs", src: "def on_request(req, conf, **kw):\n    pass\n", wantErr: []string{"on_request must be defined as on_request(req, conf)"}},
		{name: "on_response one parameter", src: "def on_response(resp):\n    pass\n", wantErr: []string{"on_response must be defined as on_response(resp, conf)"}},
		{name: "init two parameters", src: "def init(a, b):\n    pass\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star:1: init must be defined as init(conf)"}},
		{name: "handler not a function", src: "on_request = len\n", wantErr: []string{"s.star: on_request is a builtin_function_or_method, want a function"}},
		{name: "top-level fail", src: "fail(\"broken\")\n", wantErr: []string{"s.star: top level:", "broken"}},
		{name: "top-level while", src: "while True:\n    pass\n", wantErr: []string{"s.star:1:1: while loop not within a function"}},
		{name: "top-level endless loop", src: "def f():\n    while True:\n        pass\nf()\n", wantErr: []string{"s.star: top level:", "too many steps"}},
		{name: "load missing lib", src: "load(\"lib/x.star\", \"x\")\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star:1:6: load(\"lib/x.star\"): lib/x.star not found"}},
		{name: "ON_ERROR unknown", src: "ON_ERROR = \"open\"\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star: ON_ERROR: got \"open\", want \"closed\" or \"continue\""}},
		{name: "LIMITS max_depth too large", src: "LIMITS = {\"max_depth\": 1000000}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"LIMITS[\"max_depth\"]: got 1000000, want at most 100000"}},
		{name: "global reassigned", src: "X = 1\nX = 2\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star:2:1: cannot reassign global X"}},
		{name: "LIMITS not a dict", src: "LIMITS = [1]\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star: LIMITS is a list, want a dict"}},
		{name: "LIMITS unknown key", src: "LIMITS = {\"stpes\": 10}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"LIMITS: unknown key \"stpes\""}},
		{name: "LIMITS zero", src: "LIMITS = {\"steps\": 0}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"LIMITS[\"steps\"]: got 0, want a positive int"}},
		{name: "LIMITS str", src: "LIMITS = {\"timeout_ms\": \"5\"}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"want a positive int"}},
		{name: "LIMITS timeout overflow", src: "LIMITS = {\"timeout_ms\": 1000000000000000}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"LIMITS[\"timeout_ms\"]: got 1000000000000000, want at most"}},
		{name: "CONF_SCHEMA not a dict", src: "CONF_SCHEMA = 1\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"s.star: CONF_SCHEMA: got int, want a dict"}},
		{name: "CONF_SCHEMA unknown keyword", src: "CONF_SCHEMA = {\"type\": \"object\", \"requird\": [\"a\"]}\ndef on_request(req, conf):\n    pass\n",
			wantErr: []string{"CONF_SCHEMA: requird: unknown keyword"}},
		{name: "CONF_SCHEMA nested unknown keyword", src: "CONF_SCHEMA = {\"properties\": {\"a\": {\"minLength\": 1}}}\ndef on_request(req, conf):\n    pass\n",
			wantErr: []string{"CONF_SCHEMA: properties: a: minLength: unknown keyword"}},
		{name: "CONF_SCHEMA bad type", src: "CONF_SCHEMA = {\"type\": \"int\"}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"CONF_SCHEMA: type: got \"int\", want one of"}},
		{name: "CONF_SCHEMA bad pattern", src: "CONF_SCHEMA = {\"pattern\": \"(\"}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"CONF_SCHEMA: pattern: error parsing regexp"}},
		{name: "CONF_SCHEMA minimum str", src: "CONF_SCHEMA = {\"minimum\": \"1\"}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"CONF_SCHEMA: minimum: got string, want a number"}},
		{name: "CONF_SCHEMA required not a list", src: "CONF_SCHEMA = {\"required\": \"a\"}\ndef on_request(req, conf):\n    pass\n", wantErr: []string{"CONF_SCHEMA: required: got string, want a list of str"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, engine.Config{}, nil)
			_, err := e.Compile("s", []byte(tc.src))
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// defaultLimits are a script's limits without LIMITS, changed by f.
func defaultLimits(f func(*engine.Limits)) engine.Limits {
	l := engine.Limits{Steps: engine.DefaultMaxSteps, Timeout: engine.DefaultTimeout, MaxBodyBytes: engine.DefaultMaxBodyBytes,
		MaxBuildBytes: engine.DefaultMaxBuildBytes, MaxResponseBytes: engine.DefaultMaxResponseBytes, MaxDepth: engine.DefaultMaxDepth}
	if f != nil {
		f(&l)
	}
	return l
}

func TestCompileOK(t *testing.T) {
	tests := []struct {
		name         string
		src          string
		wantRequest  bool
		wantResponse bool
		wantLimits   engine.Limits
	}{
		{name: "request only", src: "def on_request(req, conf):\n    pass\n", wantRequest: true,
			wantLimits: defaultLimits(nil)},
		{name: "response only", src: "def on_response(resp, conf):\n    pass\n", wantResponse: true,
			wantLimits: defaultLimits(nil)},
		{name: "both with defaults", src: "def on_request(req, conf=None):\n    pass\ndef on_response(resp, conf):\n    pass\n", wantRequest: true, wantResponse: true,
			wantLimits: defaultLimits(nil)},
		{name: "LIMITS", src: "LIMITS = {\"steps\": 50000, \"timeout_ms\": 100, \"max_body_bytes\": 65536}\ndef on_request(req, conf):\n    pass\n", wantRequest: true,
			wantLimits: defaultLimits(func(l *engine.Limits) { l.Steps, l.Timeout, l.MaxBodyBytes = 50000, 100*time.Millisecond, 65536 })},
		{name: "LIMITS new keys", src: "LIMITS = {\"max_build_bytes\": 1024, \"max_response_bytes\": 2048, \"max_depth\": 10}\ndef on_request(req, conf):\n    pass\n", wantRequest: true,
			wantLimits: defaultLimits(func(l *engine.Limits) { l.MaxBuildBytes, l.MaxResponseBytes, l.MaxDepth = 1024, 2048, 10 })},
		{name: "ON_ERROR continue", src: "ON_ERROR = \"continue\"\ndef on_request(req, conf):\n    pass\n", wantRequest: true,
			wantLimits: defaultLimits(func(l *engine.Limits) { l.OnError = engine.OnErrorContinue })},
		{name: "recursive function not called", src: "def f(n):\n    return f(n - 1)\ndef on_request(req, conf):\n    pass\n", wantRequest: true,
			wantLimits: defaultLimits(nil)},
		{name: "set literal and while", src: "S = set([1, 2])\ndef on_request(req, conf):\n    while False:\n        pass\n", wantRequest: true,
			wantLimits: defaultLimits(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, engine.Config{}, nil)
			s, err := e.Compile("s", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.HasRequest(); got != tc.wantRequest {
				t.Errorf("got HasRequest %v, want %v", got, tc.wantRequest)
			}
			if got := s.HasResponse(); got != tc.wantResponse {
				t.Errorf("got HasResponse %v, want %v", got, tc.wantResponse)
			}
			if got := s.Limits(); got != tc.wantLimits {
				t.Errorf("got limits %+v, want %+v", got, tc.wantLimits)
			}
			if !s.Globals().Has("on_request") && tc.wantRequest {
				t.Errorf("got globals %v, want on_request among them", s.Globals().Keys())
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "simple", in: "auth", ok: true},
		{name: "mixed", in: "Auth_filter-2.v1", ok: true},
		{name: "digit first", in: "0x", ok: true},
		{name: "one char", in: "a", ok: true},
		{name: "128 chars", in: strings.Repeat("a", 128), ok: true},
		{name: "129 chars", in: strings.Repeat("a", 129)},
		{name: "empty", in: ""},
		{name: "slash", in: "/"},
		{name: "path", in: "lib/auth"},
		{name: "dotdot", in: ".."},
		{name: "inner dotdot", in: "a..b"},
		{name: "leading dot", in: ".hidden"},
		{name: "leading dash", in: "-a"},
		{name: "backslash", in: `a\b`},
		{name: "space", in: "a b"},
		{name: "trailing newline", in: "a\n"},
		{name: "non-ASCII", in: "ä"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := engine.CheckName(tc.in)
			if got := err == nil; got != tc.ok {
				t.Fatalf("CheckName(%q): got error %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, engine.ErrBadName) {
				t.Errorf("got error %v, want it to wrap ErrBadName", err)
			}
		})
	}
}

func TestScriptVersions(t *testing.T) {
	const v1 = "def on_request(req, conf):\n    pass\n"
	const v2 = "def on_request(req, conf):\n    req.headers.set(\"x-v\", \"2\")\n"
	e, fsys := newEngine(t, engine.Config{}, map[string]string{"s": v1})

	s1, err := e.Script("s")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Script("s")
	if err != nil {
		t.Fatal(err)
	}
	if again != s1 {
		t.Errorf("same content: got a new *Script, want the cached one")
	}
	if s1.Name != "s" || len(s1.Version) != 12 || !strings.HasPrefix(s1.SHA256, s1.Version) {
		t.Errorf("got name %q version %q sha %q, want s, 12 hex digits prefixing the digest", s1.Name, s1.Version, s1.SHA256)
	}

	fsys["s.star"] = &fstest.MapFile{Data: []byte(v2)}
	s2, err := e.Script("s")
	if err != nil {
		t.Fatal(err)
	}
	if s2 == s1 || s2.Version == s1.Version {
		t.Errorf("changed content: got version %s again, want a new version", s2.Version)
	}

	fsys["s.star"] = &fstest.MapFile{Data: []byte("def on_request(req conf):\n")}
	if _, err := e.Script("s"); err == nil {
		t.Errorf("broken content: got no error, want a compile error")
	}

	fsys["s.star"] = &fstest.MapFile{Data: []byte(v2)}
	s3, err := e.Script("s")
	if err != nil {
		t.Fatal(err)
	}
	if s3 != s2 {
		t.Errorf("content back to v2: got a new *Script, want the cached v2")
	}
}

func TestScriptLookupErrors(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{"s": "def on_request(req, conf):\n    pass\n"})
	tests := []struct {
		name    string
		script  string
		wantErr error
	}{
		{name: "missing", script: "nope", wantErr: engine.ErrNotFound},
		{name: "bad name", script: "../s", wantErr: engine.ErrBadName},
		{name: "hidden", script: ".s", wantErr: engine.ErrBadName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Script(tc.script)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("got error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	e := engine.New(engine.Config{FS: fstest.MapFS{}}, nil)
	got := e.Config()
	if got.MaxSteps != engine.DefaultMaxSteps || got.Timeout != engine.DefaultTimeout ||
		got.MaxBodyBytes != engine.DefaultMaxBodyBytes || got.ErrorStatus != engine.DefaultErrorStatus ||
		got.MaxBuildBytes != engine.DefaultMaxBuildBytes || got.MaxResponseBytes != engine.DefaultMaxResponseBytes ||
		got.MaxDepth != engine.DefaultMaxDepth || got.OnError != engine.OnErrorClosed {
		t.Errorf("got %+v, want the documented defaults", got)
	}
}
