package authoring

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
)

// scripts are the sandbox tests' scripts.
var scripts = fstest.MapFS{
	"deny.star": {Data: []byte(`
def on_request(req, conf):
    if req.headers.get("x-key") != conf.get("key", "k"):
        return respond(403, body = "no", headers = {"x-why": "key"})
`)},
	"tag.star": {Data: []byte(`
def on_request(req, conf):
    req.headers.set("x-tag", req.var("tag", "none") + req.var("tag", "none"))
    req.args.delete("debug")
    req.path = "/v2" + req.path
    req.set_response_header("x-served", "1")
    print("tagged", req.id)
`)},
	"body.star": {Data: []byte(`
def on_request(req, conf):
    req.set_body({"n": req.json()["n"] + 1})
`)},
	"noop.star": {Data: []byte(`
def on_request(req, conf):
    req.headers.get("x")

def on_response(resp, conf):
    resp.headers.get("x")
`)},
	"resp.star": {Data: []byte(`
def on_response(resp, conf):
    resp.headers.add("set-cookie", "b=2")
    if resp.status == 404:
        resp.status = 410
`)},
	"clock.star": {Data: []byte(`
def on_request(req, conf):
    req.headers.set("x-now", str(time.now().unix))
`)},
	"init.star": {Data: []byte(`
def init(conf):
    if not conf.get("ok"):
        fail("ok must be set")
    return conf

def on_request(req, conf):
    pass
`)},
}

func run(t *testing.T, sb *Sandbox, req *Request, confs ...Conf) *Result {
	t.Helper()
	chain, err := sb.Chain(confs...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.RunRequest(chain, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func reportJSON(t *testing.T, res *Result) string {
	t.Helper()
	out, err := json.Marshal(res.Report())
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestSandboxRequest(t *testing.T) {
	tests := []struct {
		name   string
		req    Request
		confs  []Conf
		action string
		want   string // Report as JSON, steps left out
	}{
		{"stop", Request{}, []Conf{{Name: "deny"}}, "stop",
			`{"outcome":"stop","action":"stop","stop":{"status":403,"headers":[{"name":"x-why","value":"key"}],"body":"no"},"extra_info":[]}`},
		{"continue", Request{Headers: Pairs{{Name: "X-Key", Value: "s"}}}, []Conf{{Name: "deny", Value: `{"key": "s"}`}}, "continue",
			`{"outcome":"continue","action":"rewrite","rewrite":{},"extra_info":[]}`},
		{"rewrite with a memoized var", Request{Path: "/p?debug&a=1", Vars: map[string]string{"tag": "t"}}, []Conf{{Name: "tag"}}, "rewrite",
			`{"outcome":"rewrite","action":"rewrite","rewrite":{"path":"/v2/p","headers":[{"name":"x-tag","value":"tt"}],"args":[{"name":"debug"}],"resp_headers":[{"name":"x-served","value":"1"}]},"extra_info":[{"kind":"var","name":"tag"}]}`},
		{"absent var asked once", Request{}, []Conf{{Name: "tag"}}, "rewrite",
			`{"outcome":"rewrite","action":"rewrite","rewrite":{"path":"/v2/","headers":[{"name":"x-tag","value":"nonenone"}],"args":[{"name":"debug"}],"resp_headers":[{"name":"x-served","value":"1"}]},"extra_info":[{"kind":"var","name":"tag"}]}`},
		{"body read once in a chain", Request{Body: ptr(Body(`{"n": 1}`))}, []Conf{{Name: "body"}, {Name: "body"}}, "rewrite",
			`{"outcome":"rewrite","action":"rewrite","rewrite":{"body":"{\"n\":3}"},"extra_info":[{"kind":"req_body"}]}`},
		{"script error", Request{ID: 9}, []Conf{{Name: "body"}}, "error",
			`{"outcome":"error","action":"stop","stop":{"status":500,"headers":[{"name":"content-type","value":"text/plain; charset=utf-8"}],"body":"script error (request 9)\n"},"error":"body: on_request: json: the body is empty","extra_info":[{"kind":"req_body"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := NewSandbox(engine.Config{FS: scripts})
			res := run(t, sb, &tc.req, tc.confs...)
			if res.Action() != tc.action {
				t.Errorf("action: got %s, want %s", res.Action(), tc.action)
			}
			if res.Steps == 0 {
				t.Error("steps: got 0")
			}
			res.Steps = 0
			if got := strings.Replace(reportJSON(t, res), `"steps":0,`, "", 1); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSandboxResponse(t *testing.T) {
	upstream := &Response{Status: 404, Headers: Pairs{{Name: "Content-Length", Value: "3"}, {Name: "Set-Cookie", Value: "a=1"}}}
	sb := NewSandbox(engine.Config{FS: scripts})
	chain, err := sb.Chain(Conf{Name: "noop"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.RunResponse(chain, upstream)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action() != "continue" {
		t.Errorf("unchanged response: got %s, want continue", res.Action())
	}
	chain, err = sb.Chain(Conf{Name: "resp"}, Conf{Name: "tag"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = sb.RunResponse(chain, upstream); err != nil {
		t.Fatal(err)
	}
	res.Steps = 0
	want := `{"outcome":"rewrite","resp":{"status":410,"headers":[{"name":"set-cookie","value":"a=1"},{"name":"set-cookie","value":"b=2"}]},"steps":0,"extra_info":[]}`
	if got := reportJSON(t, res); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestSandboxClockAndLogs(t *testing.T) {
	sb := NewSandbox(engine.Config{FS: scripts})
	if d := time.Since(sb.Now()); d < 0 || d > time.Minute {
		t.Errorf("default clock is off by %v", d)
	}
	sb.SetNow(time.Unix(1767323045, 0))
	res := run(t, sb, &Request{}, Conf{Name: "clock"}, Conf{Name: "tag"})
	if got := res.Decision.ReqHeaders[0].Value; got != "1767323045" {
		t.Errorf("x-now: got %s, want 1767323045", got)
	}
	if got := sb.TakeLogs(); !reflect.DeepEqual(got, []string{"tagged 1"}) {
		t.Errorf("logs: got %q, want the print", got)
	}
	if got := sb.TakeLogs(); len(got) != 0 {
		t.Errorf("logs after TakeLogs: got %q, want none", got)
	}
}

func TestSandboxConfErrors(t *testing.T) {
	sb := NewSandbox(engine.Config{FS: scripts})
	_, err := sb.Chain(Conf{Name: "deny"}, Conf{Name: "init", Value: `{}`})
	var ce *engine.ConfError
	if !errors.As(err, &ce) || ce.Index != 1 {
		t.Fatalf("got %v, want a ConfError for entry 1", err)
	}
	ds := DiagnoseConf("scripts", err)
	if len(ds) != 1 || ds[0].String() != "scripts/init.star:4:13: conf[1] init: init: fail: ok must be set" {
		t.Errorf("got %q", ds)
	}
	_, err = sb.Chain(Conf{Name: "nope"})
	if ds := DiagnoseConf("scripts", err); ds[0].String() != "scripts/nope.star: conf[0] nope: script not found" {
		t.Errorf("got %q", ds)
	}
}

func TestParseConf(t *testing.T) {
	c, err := ParseConf(`a-b={"x": "=" }`)
	if err != nil || c != (Conf{Name: "a-b", Value: `{"x": "=" }`}) {
		t.Errorf("got %+v, %v", c, err)
	}
	for _, bad := range []string{"", "name", `={}`} {
		if _, err := ParseConf(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}
