package bindings

import (
	"reflect"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestRequestFields(t *testing.T) {
	runEvalCases(t, "req", reqValue, []evalCase{
		{name: "id", expr: `req.id`, want: `42`},
		{name: "method", expr: `req.method`, want: `"GET"`},
		{name: "path", expr: `req.path`, want: `"/api/v1"`},
		{name: "path assigned", setup: `req.path = "/new/path"`, expr: `req.path`, want: `"/new/path"`},
		{name: "path assigned twice", setup: "req.path = \"/a\"\nreq.path = \"/b\"", expr: `req.path`, want: `"/b"`},
		{name: "path without slash", setup: `req.path = "new"`, wantErr: `request.path: "new" does not start with /`},
		{name: "path empty", setup: `req.path = ""`, wantErr: `does not start with /`},
		// A decoded path may hold '?' (from %3F); APISIX escapes it again.
		{name: "path with question mark", setup: `req.path = "/a?b=1"`, expr: `req.path`, want: `"/a?b=1"`},
		{name: "path with LF", setup: `req.path = "/a\nb"`, wantErr: `control character`},
		{name: "path not str", setup: `req.path = 1`, wantErr: `request.path: got int, want str`},
		{name: "src_ip", expr: `req.src_ip`, want: `"127.0.0.1"`},
		{name: "type", expr: `type(req)`, want: `"request"`},
		{name: "str", expr: `str(req)`, want: `"<request 42>"`},
		{name: "dir", expr: `dir(req)`, want: `["args", "body", "headers", "id", "json", "method", "path", "set_body", "set_response_header", "src_ip", "text", "var"]`},
		{name: "unknown field", expr: `req.hedaers`, wantErr: "request has no .hedaers field or method (did you mean .headers?)"},
		{name: "id read-only", setup: `req.id = 1`, wantErr: "request.id is read-only"},
		{name: "method read-only", setup: `req.method = "POST"`, wantErr: "request.method is read-only"},
		{name: "src_ip read-only", setup: `req.src_ip = "1.2.3.4"`, wantErr: "request.src_ip is read-only"},
		{name: "headers read-only", setup: `req.headers = {}`, wantErr: "request.headers is read-only"},
		{name: "args read-only", setup: `req.args = {}`, wantErr: "request.args is read-only"},
		{name: "method value read-only", setup: `req.body = 1`, wantErr: "request.body is read-only"},
		{name: "unknown field assigned", setup: `req.nope = 1`, wantErr: "request has no .nope field"},
		{name: "set_response_header", setup: `req.set_response_header("X-A", "1")`},
		{name: "set_response_header bad name", setup: `req.set_response_header("X A", "1")`, wantErr: `set_response_header: invalid character ' ' in header name`},
		{name: "set_response_header bad value", setup: `req.set_response_header("X-A", "1\r\nX-B: 2")`, wantErr: `set_response_header: invalid character '\r' in the value`},
		{name: "set_response_header not str", setup: `req.set_response_header("X-A", 1)`, wantErr: `set_response_header: for parameter value: got int, want string`},
	})
}

func TestRequestSrcIP(t *testing.T) {
	tests := []struct {
		name string
		ip   []byte
		want string
	}{
		{name: "IPv4", ip: []byte{192, 168, 1, 20}, want: "192.168.1.20"},
		{name: "IPv6 loopback", ip: append(make([]byte, 15), 1), want: "::1"},
		{name: "IPv6", ip: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, want: "2001:db8::1"},
		{name: "5 bytes", ip: []byte{1, 2, 3, 4, 5}, want: ""},
		{name: "empty", ip: nil, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeRequest()
			src.srcIP = tc.ip
			globals, err := exec(t, "got = req.src_ip", starlark.StringDict{"req": newReq(src, Limits{})})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := starlark.AsString(globals["got"]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestVar(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		want      string
		wantCalls map[string]int
	}{
		{name: "present", src: `got = req.var("remote_addr")`, want: `"10.0.0.1"`, wantCalls: map[string]int{"remote_addr": 1}},
		{name: "memoized", src: "a = req.var(\"remote_addr\")\ngot = req.var(\"remote_addr\")", want: `"10.0.0.1"`, wantCalls: map[string]int{"remote_addr": 1}},
		{name: "empty value is not absent", src: `got = req.var("empty", "d")`, want: `""`, wantCalls: map[string]int{"empty": 1}},
		{name: "absent", src: `got = req.var("nope")`, want: `None`, wantCalls: map[string]int{"nope": 1}},
		{name: "absent default", src: `got = req.var("nope", "d")`, want: `"d"`, wantCalls: map[string]int{"nope": 1}},
		{name: "absent memoized", src: "a = req.var(\"nope\")\ngot = req.var(\"nope\", default = 7)", want: `7`, wantCalls: map[string]int{"nope": 1}},
		{name: "two names", src: "a = req.var(\"nope\")\nb = req.var(\"remote_addr\")\ngot = [req.var(\"nope\"), req.var(\"remote_addr\")]",
			want: `[None, "10.0.0.1"]`, wantCalls: map[string]int{"nope": 1, "remote_addr": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeRequest()
			globals, err := exec(t, tc.src, starlark.StringDict{"req": newReq(src, Limits{})})
			if err != nil {
				t.Fatal(err)
			}
			if got := globals["got"].String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !reflect.DeepEqual(src.varCalls, tc.wantCalls) {
				t.Errorf("got host calls %v, want %v", src.varCalls, tc.wantCalls)
			}
		})
	}
	t.Run("reset forgets", func(t *testing.T) {
		src := newFakeRequest()
		r := newReq(src, Limits{})
		for i := range 2 {
			if _, err := exec(t, `a = req.var("remote_addr")`, starlark.StringDict{"req": r}); err != nil {
				t.Fatal(err)
			}
			if got, want := src.varCalls["remote_addr"], i+1; got != want {
				t.Errorf("call %d: got %d host calls, want %d", i, got, want)
			}
			r.Reset(src, Limits{})
		}
	})
	t.Run("empty name", func(t *testing.T) {
		_, err := exec(t, `req.var("")`, starlark.StringDict{"req": reqValue()})
		if err == nil || !strings.Contains(err.Error(), "var: empty variable name") {
			t.Errorf("got %v, want an empty-name error", err)
		}
	})
}

func TestRequestBody(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		hasBody   bool
		limit     int
		src       string
		want      string
		wantErr   string
		wantCalls int
	}{
		{name: "bytes", body: "hello", hasBody: true, src: `got = req.body()`, want: `b"hello"`, wantCalls: 1},
		{name: "text", body: "hello", hasBody: true, src: `got = req.text()`, want: `"hello"`, wantCalls: 1},
		{name: "json", body: `{"a": [1, 2.5, null]}`, hasBody: true, src: `got = req.json()`, want: `{"a": [1, 2.5, None]}`, wantCalls: 1},
		{name: "fetched once", body: `{"a": 1}`, hasBody: true, src: "a = req.body()\nb = req.text()\ngot = req.json()", want: `{"a": 1}`, wantCalls: 1},
		{name: "no body", src: `got = req.body()`, want: `b""`, wantCalls: 1},
		{name: "json of no body", src: `got = req.json()`, wantErr: "json: the body is empty", wantCalls: 1},
		{name: "json invalid", body: "{", hasBody: true, src: `got = req.json()`, wantErr: "json: body is not valid JSON", wantCalls: 1},
		{name: "at the cap", body: "12345", hasBody: true, limit: 5, src: `got = req.text()`, want: `"12345"`, wantCalls: 1},
		{name: "over the cap", body: "123456", hasBody: true, limit: 5, src: `got = req.text()`,
			wantErr: "text: the request body of 6 bytes exceeds the limit of 5 bytes (max_body_bytes)", wantCalls: 1},
		{name: "set str", src: "req.set_body(\"new\")\ngot = req.body()", want: `b"new"`},
		{name: "set bytes", src: "req.set_body(b\"\\x00\\x01\")\ngot = req.body()", want: `b"\x00\x01"`},
		{name: "set dict", src: "req.set_body({\"a\": [1, True]})\ngot = req.text()", want: `"{\"a\":[1,true]}"`},
		{name: "set list", src: "req.set_body([1, \"x\"])\ngot = req.json()", want: `[1, "x"]`},
		{name: "set after read", body: "old", hasBody: true, src: "a = req.text()\nreq.set_body(\"new\")\ngot = req.text()", want: `"new"`, wantCalls: 1},
		{name: "set over the cap", limit: 2, src: "req.set_body(\"long body\")\ngot = req.text()",
			wantErr: "text: the request body of 9 bytes exceeds the limit of 2 bytes"},
		{name: "set empty str", src: `req.set_body("")`, wantErr: "set_body: an empty body cannot be sent"},
		{name: "set empty bytes", src: `req.set_body(b"")`, wantErr: "set_body: an empty body cannot be sent"},
		{name: "set int", src: `req.set_body(1)`, wantErr: "set_body: got int, want str, bytes, dict or list"},
		{name: "set None", src: `req.set_body(None)`, wantErr: "set_body: got NoneType, want str, bytes, dict or list"},
		{name: "set unencodable dict", src: `req.set_body({"f": len})`, wantErr: "set_body: "},
		{name: "body takes no arguments", src: `req.body(1)`, wantErr: "body: got 1 arguments, want 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeRequest()
			src.body, src.hasBody = []byte(tc.body), tc.hasBody
			globals, err := exec(t, tc.src, starlark.StringDict{"req": newReq(src, Limits{MaxBodyBytes: tc.limit})})
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("got error %v, want none", err)
			default:
				if got := globals["got"].String(); got != tc.want {
					t.Errorf("got %s, want %s", got, tc.want)
				}
			}
			if src.bodyN != tc.wantCalls {
				t.Errorf("got %d host body requests, want %d", src.bodyN, tc.wantCalls)
			}
		})
	}
}

// TestRequestBodyCopied checks that a body the host returns in a reused
// buffer is copied before the script sees it.
func TestRequestBodyCopied(t *testing.T) {
	src := newFakeRequest()
	src.body, src.hasBody = []byte("abc"), true
	r := newReq(src, Limits{})
	if _, err := exec(t, "a = req.body()", starlark.StringDict{"req": r}); err != nil {
		t.Fatal(err)
	}
	copy(src.body, "xyz")
	globals, err := exec(t, "got = req.text()", starlark.StringDict{"req": r})
	if err != nil {
		t.Fatal(err)
	}
	if got := globals["got"].String(); got != `"abc"` {
		t.Errorf("got %s, want %q", got, "abc")
	}
}

func TestRequestFinish(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Decision
	}{
		{name: "nothing", src: `a = req.headers.get("host")`, want: Decision{}},
		{
			name: "headers one entry per changed name",
			src: `
req.headers.set("X-A", "1")
req.headers.add("x-a", "2")
req.headers.delete("Accept")
req.headers.set("x-multi", "m")
req.headers.set("Host", "upstream.local")
`,
			want: Decision{ReqHeaders: []KV{
				{Name: "x-a", Value: "2", HasValue: true},
				{Name: "Accept"},
				{Name: "x-multi", Value: "m", HasValue: true},
				{Name: "Host", Value: "upstream.local", HasValue: true},
			}},
		},
		{
			name: "delete then set sends the value",
			src:  "req.headers.delete(\"accept\")\nreq.headers.set(\"accept\", \"*/*\")",
			want: Decision{ReqHeaders: []KV{{Name: "accept", Value: "*/*", HasValue: true}}},
		},
		{
			name: "args values of changed names",
			src: `
req.args.set("a", ["x", "y"])
req.args.delete("z")
req.args.add("n", "1")
req.args.add("B", "4")
`,
			want: Decision{Args: []KV{
				{Name: "a", Value: "x", HasValue: true},
				{Name: "a", Value: "y", HasValue: true},
				{Name: "z"},
				{Name: "n", Value: "1", HasValue: true},
				{Name: "B", Value: "3", HasValue: true},
				{Name: "B", Value: "4", HasValue: true},
			}},
		},
		{
			name: "path body and response headers",
			src: `
req.path = "/v2"
req.set_body({"k": "v"})
req.set_response_header("X-Trace", "t1")
req.set_response_header("X-Trace", "t2")
`,
			want: Decision{
				Path: "/v2", PathSet: true,
				Body: []byte(`{"k":"v"}`), BodySet: true,
				RespHeaders: []KV{{Name: "X-Trace", Value: "t1", HasValue: true}, {Name: "X-Trace", Value: "t2", HasValue: true}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReq(newFakeRequest(), Limits{})
			if _, err := exec(t, tc.src, starlark.StringDict{"req": r}); err != nil {
				t.Fatal(err)
			}
			var d Decision
			r.Finish(&d)
			if !decisionEqual(&d, &tc.want) {
				t.Errorf("got %+v, want %+v", d, tc.want)
			}
			if got, want := d.Changed(), tc.want.Changed(); got != want {
				t.Errorf("got Changed() %v, want %v", got, want)
			}
		})
	}
}

// decisionEqual compares decisions, treating nil and empty slices alike.
func decisionEqual(a, b *Decision) bool {
	norm := func(d *Decision) Decision {
		c := *d
		for _, s := range []*[]KV{&c.Headers, &c.ReqHeaders, &c.Args, &c.RespHeaders} {
			if len(*s) == 0 {
				*s = nil
			}
		}
		if len(c.Body) == 0 {
			c.Body = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestRequestFinishStop(t *testing.T) {
	r := newReq(newFakeRequest(), Limits{})
	globals, err := exec(t, `
req.headers.set("X-Dropped", "1")
req.set_response_header("X-Trace", "t")
got = respond(403, body = "no", headers = {"X-B": "b", "X-A": ["a1", "a2"]})
`, starlark.StringDict{"req": r})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := globals["got"].(*Stop)
	if !ok {
		t.Fatalf("got %s, want a *Stop", globals["got"].Type())
	}
	var d Decision
	r.FinishStop(&d, s)
	want := Decision{
		Stop: true, Status: 403, Body: []byte("no"),
		Headers: []KV{
			{Name: "X-Trace", Value: "t", HasValue: true},
			{Name: "X-A", Value: "a1", HasValue: true},
			{Name: "X-A", Value: "a2", HasValue: true},
			{Name: "X-B", Value: "b", HasValue: true},
		},
	}
	if !decisionEqual(&d, &want) {
		t.Errorf("got %+v, want %+v", d, want)
	}
}

func TestRequestResetAndRelease(t *testing.T) {
	src := newFakeRequest()
	r := newReq(src, Limits{})
	_, err := exec(t, `
req.path = "/x"
req.headers.set("x-a", "1")
req.args.delete("a")
req.set_body("b")
req.set_response_header("x-r", "1")
`, starlark.StringDict{"req": r})
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	r.Reset(src, Limits{})
	var d Decision
	r.Finish(&d)
	if d.Changed() {
		t.Errorf("got changes %+v after Reset, want none", d)
	}
	globals, err := exec(t, `got = (req.path, req.headers.get("x-a"), req.args.get_all("a"))`, starlark.StringDict{"req": r})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := globals["got"].String(), `("/api/v1", None, ["1", "2"])`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestCheckRewriteRespHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers []KV
		wantErr string
	}{
		{name: "none"},
		{name: "allowed", headers: []KV{{Name: "X-Trace", Value: "1"}, {Name: "Cache-Control", Value: "no-store"}}},
		{name: "content-type", headers: []KV{{Name: "X-A"}, {Name: "content-type", Value: "text/plain"}}, wantErr: `APISIX drops "content-type"`},
		{name: "Content-Length mixed case", headers: []KV{{Name: "Content-Length", Value: "1"}}, wantErr: `APISIX drops "Content-Length"`},
		{name: "location", headers: []KV{{Name: "LOCATION", Value: "/"}}, wantErr: `APISIX drops "LOCATION"`},
		{name: "server", headers: []KV{{Name: "server", Value: "x"}}, wantErr: `APISIX drops "server"`},
		{name: "www-authenticate", headers: []KV{{Name: "WWW-Authenticate", Value: "Basic"}}, wantErr: `APISIX drops "WWW-Authenticate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRewriteRespHeaders(tc.headers)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestBodyCapPerScript checks that each script's max_body_bytes applies
// to the body it reads, even when an earlier script of the chain (with a
// larger cap) already fetched or set it.
func TestBodyCapPerScript(t *testing.T) {
	tests := []struct {
		name    string
		first   string
		wantErr string
	}{
		{name: "fetched by an earlier script", first: `a = req.body()`, wantErr: "text: the request body of 10 bytes exceeds the limit of 4 bytes"},
		{name: "set by an earlier script", first: `req.set_body("0123456789")`, wantErr: "text: the request body of 10 bytes exceeds the limit of 4 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeRequest()
			src.body, src.hasBody = []byte("0123456789"), true
			r := newReq(src, Limits{MaxBodyBytes: 100})
			if _, err := exec(t, tc.first, starlark.StringDict{"req": r}); err != nil {
				t.Fatal(err)
			}
			r.SetLimits(Limits{MaxBodyBytes: 4})
			_, err := exec(t, `a = req.text()`, starlark.StringDict{"req": r})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
			r.SetLimits(Limits{MaxBodyBytes: 10})
			if _, err := exec(t, `a = req.text()`, starlark.StringDict{"req": r}); err != nil {
				t.Errorf("at the cap: got error %v, want none", err)
			}
			if src.bodyN > 1 {
				t.Errorf("got %d host body requests, want at most 1", src.bodyN)
			}
		})
	}
}
