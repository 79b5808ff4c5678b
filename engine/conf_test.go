package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

const passHandler = "\ndef on_request(req, conf):\n    pass\n"

func TestConfSchema(t *testing.T) {
	const object = `CONF_SCHEMA = {
    "type": "object",
    "properties": {
        "header": {"type": "string", "default": "X-Api-Key", "pattern": "^[A-Za-z-]+$"},
        "mode": {"enum": ["allow", "deny"], "default": "allow"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1.5},
        "keys": {"type": "array", "items": {"type": "string", "pattern": "^k"}},
        "nested": {"type": "object", "required": ["a"], "properties": {"a": {"type": ["string", "null"]}, "b": {"default": [1]}}},
        "flag": {"type": "boolean"},
    },
    "required": ["limit"],
}
`
	tests := []struct {
		name    string
		value   string
		want    string // Starlark repr of the conf
		wantErr string
	}{
		{name: "defaults filled", value: `{"limit": 5}`, want: `{"limit": 5, "header": "X-Api-Key", "mode": "allow"}`},
		{name: "all given", value: `{"limit": 100, "header": "X-K", "mode": "deny", "ratio": 1.5, "keys": ["k1"], "nested": {"a": null}, "flag": true}`,
			want: `{"limit": 100, "header": "X-K", "mode": "deny", "ratio": 1.5, "keys": ["k1"], "nested": {"a": None, "b": [1]}, "flag": True}`},
		{name: "integral float is an integer", value: `{"limit": 5.0}`, want: `{"limit": 5.0, "header": "X-Api-Key", "mode": "allow"}`},
		{name: "integer is a number", value: `{"limit": 1, "ratio": 1}`, want: `{"limit": 1, "ratio": 1, "header": "X-Api-Key", "mode": "allow"}`},
		{name: "required missing", value: `{}`, wantErr: `CONF_SCHEMA: conf: missing required property "limit"`},
		{name: "empty value means {}", value: ``, wantErr: `CONF_SCHEMA: conf: missing required property "limit"`},
		{name: "type mismatch", value: `{"limit": "5"}`, wantErr: `CONF_SCHEMA: conf.limit: got string, want integer`},
		{name: "float for integer", value: `{"limit": 5.5}`, wantErr: `conf.limit: got number, want integer`},
		{name: "bool for integer", value: `{"limit": true}`, wantErr: `conf.limit: got boolean, want integer`},
		{name: "not an object", value: `[1]`, wantErr: `CONF_SCHEMA: conf: got array, want object`},
		{name: "below minimum", value: `{"limit": 0}`, wantErr: `conf.limit: got 0, want at least 1`},
		{name: "above maximum", value: `{"limit": 101}`, wantErr: `conf.limit: got 101, want at most 100`},
		{name: "float above maximum", value: `{"limit": 1, "ratio": 1.6}`, wantErr: `conf.ratio: got 1.6, want at most 1.5`},
		{name: "enum", value: `{"limit": 1, "mode": "maybe"}`, wantErr: `conf.mode: got "maybe", want one of ["allow", "deny"]`},
		{name: "pattern", value: `{"limit": 1, "header": "X_K"}`, wantErr: `conf.header: "X_K" does not match pattern "^[A-Za-z-]+$"`},
		{name: "items type", value: `{"limit": 1, "keys": ["k1", 2]}`, wantErr: `conf.keys[1]: got integer, want string`},
		{name: "items pattern", value: `{"limit": 1, "keys": ["k1", "x"]}`, wantErr: `conf.keys[1]: "x" does not match pattern "^k"`},
		{name: "nested required", value: `{"limit": 1, "nested": {}}`, wantErr: `conf.nested: missing required property "a"`},
		{name: "nested type union", value: `{"limit": 1, "nested": {"a": 1}}`, wantErr: `conf.nested.a: got integer, want string or null`},
		{name: "invalid JSON", value: `{"limit": 1`, wantErr: `value is not valid JSON`},
		{name: "trailing garbage", value: `{"limit": 1} x`, wantErr: `value is not valid JSON`},
	}
	e, _ := newEngine(t, engine.Config{}, map[string]string{"s": object + passHandler})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkNewConf(t, e, tc.value, tc.want, tc.wantErr)
		})
	}
}

// checkNewConf prepares value for script "s" of e and checks the conf's
// Starlark repr against want, or the error against wantErr when set.
func checkNewConf(t *testing.T, e *engine.Engine, value, want, wantErr string) {
	t.Helper()
	c, err := e.NewConf("s", []byte(value))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got error %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if got := c.Value.String(); got != want {
		t.Errorf("got conf %s, want %s", got, want)
	}
}

// TestConfDefaultNotShared checks that a mutable schema default is copied
// into each conf rather than shared between them.
func TestConfDefaultNotShared(t *testing.T) {
	src := `CONF_SCHEMA = {"properties": {"l": {"default": [1]}}}
def init(conf):
    conf["l"].append(2)
    return conf
def on_request(req, conf):
    pass
`
	e, _ := newEngine(t, engine.Config{}, map[string]string{"s": src})
	for i := range 2 {
		c, err := e.NewConf("s", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Value.String(), `{"l": [1, 2]}`; got != want {
			t.Errorf("conf %d: got %s, want %s", i, got, want)
		}
	}
}

func TestConfInit(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		value   string
		want    string // Starlark repr of Conf.Value
		wantErr string
	}{
		{name: "no init passes the decoded value", src: passHandler, value: `{"a": [1, {"b": null}], "f": 1.5}`, want: `{"a": [1, {"b": None}], "f": 1.5}`},
		{name: "empty value", src: passHandler, value: ``, want: `{}`},
		{name: "init return value", src: "def init(conf):\n    return {\"n\": conf[\"n\"] * 2, \"set\": set(conf[\"names\"])}\n" + passHandler,
			value: `{"n": 21, "names": ["a", "b"]}`, want: `{"n": 42, "set": set(["a", "b"])}`},
		{name: "init sees schema defaults", src: "CONF_SCHEMA = {\"properties\": {\"d\": {\"default\": \"x\"}}}\ndef init(conf):\n    return conf[\"d\"] + \"!\"\n" + passHandler,
			value: `{}`, want: `"x!"`},
		{name: "init returns None", src: "def init(conf):\n    pass\n" + passHandler, value: `{}`, want: `None`},
		{name: "init fail", src: "def init(conf):\n    if not conf.get(\"key\"):\n        fail(\"key is required\")\n" + passHandler,
			value: `{}`, wantErr: "init: fail: key is required"},
		{name: "init runtime error", src: "def init(conf):\n    return conf[\"missing\"]\n" + passHandler, value: `{}`, wantErr: `init: key "missing" not in dict`},
		{name: "init endless loop", src: "def init(conf):\n    while True:\n        pass\n" + passHandler, value: `{}`, wantErr: "init: Starlark computation cancelled: too many steps"},
		{name: "invalid JSON", src: passHandler, value: `{a: 1}`, wantErr: "value is not valid JSON"},
		{name: "not JSON at all", src: passHandler, value: `hello`, wantErr: "value is not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, engine.Config{}, map[string]string{"s": tc.src})
			checkNewConf(t, e, tc.value, tc.want, tc.wantErr)
		})
	}
}

// TestConfFrozenInHandler checks that the handler gets init's value, and
// that it cannot change it.
func TestConfFrozenInHandler(t *testing.T) {
	src := `def init(conf):
    return {"greeting": "hello " + conf["who"], "seen": []}

def on_request(req, conf):
    req.headers.set("x-greeting", conf["greeting"])
    if req.headers.get("x-mutate"):
        conf["seen"].append(1)
`
	e, _ := newEngine(t, engine.Config{}, map[string]string{"s": src})
	chain := newChain(t, e, []string{"s"}, map[string]string{"s": `{"who": "world"}`})

	var d bindings.Decision
	res := e.RunRequest(chain, newRequest(1), &d)
	if res.Outcome != engine.Rewrite {
		t.Fatalf("got outcome %v (%v), want rewrite", res.Outcome, res.Err)
	}
	want := []bindings.KV{{Name: "x-greeting", Value: "hello world", HasValue: true}}
	if !kvsEqual(d.ReqHeaders, want) {
		t.Errorf("got headers %v, want %v", d.ReqHeaders, want)
	}

	req := newRequest(2)
	req.headers.list = append(req.headers.list, entry{name: []byte("x-mutate"), value: []byte("1"), hasValue: true})
	res = e.RunRequest(chain, req, &d)
	if res.Outcome != engine.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "frozen") {
		t.Errorf("got outcome %v, error %v; want failed with a frozen-value error", res.Outcome, res.Err)
	}
}

func TestNewChainConfError(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"ok":  passHandler,
		"bad": "CONF_SCHEMA = {\"required\": [\"k\"]}" + passHandler,
	})
	tests := []struct {
		name      string
		names     []string
		values    []string
		wantIndex int
		wantName  string
		wantIs    error
	}{
		{name: "schema", names: []string{"ok", "bad"}, values: []string{"", "{}"}, wantIndex: 1, wantName: "bad"},
		{name: "unknown script", names: []string{"ok", "ok", "nope"}, values: []string{"", "", ""}, wantIndex: 2, wantName: "nope", wantIs: engine.ErrNotFound},
		{name: "bad name", names: []string{"../etc/passwd"}, values: []string{""}, wantIndex: 0, wantName: "../etc/passwd", wantIs: engine.ErrBadName},
		{name: "bad JSON", names: []string{"ok"}, values: []string{"{"}, wantIndex: 0, wantName: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := make([][]byte, len(tc.values))
			for i, v := range tc.values {
				vals[i] = []byte(v)
			}
			_, err := e.NewChain(tc.names, vals)
			var ce *engine.ConfError
			if !errors.As(err, &ce) {
				t.Fatalf("got error %v, want a *ConfError", err)
			}
			if ce.Index != tc.wantIndex || ce.Name != tc.wantName {
				t.Errorf("got entry %d %q, want %d %q", ce.Index, ce.Name, tc.wantIndex, tc.wantName)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("got error %v, want it to wrap %v", err, tc.wantIs)
			}
		})
	}
}

func kvsEqual(a, b []bindings.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
