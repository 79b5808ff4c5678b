package bindings

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func newFakeResponse() *fakeResponse {
	return &fakeResponse{
		id:     7,
		status: 200,
		headers: fakeEntries{
			kv("Content-Type", "text/html"),
			kv("Set-Cookie", "a=1"),
			kv("Content-Length", "120"),
			kv("set-cookie", "b=2"),
			kv("Connection", "keep-alive"),
			kv("X-Up", "u"),
			kv("Transfer-Encoding", "chunked"),
		},
		fakeFetcher: fakeFetcher{vars: map[string]string{"upstream_status": "200"}},
	}
}

func newResp(src Response) *ResponseValue {
	r := NewResponseValue()
	r.Reset(src, Limits{})
	return r
}

func respValue() starlark.Value { return newResp(newFakeResponse()) }

func TestResponseValue(t *testing.T) {
	h := "h = resp.headers\n"
	runEvalCases(t, "resp", respValue, []evalCase{
		{name: "id", expr: `resp.id`, want: `7`},
		{name: "status", expr: `resp.status`, want: `200`},
		{name: "status assigned", setup: `resp.status = 404`, expr: `resp.status`, want: `404`},
		{name: "status too low", setup: `resp.status = 99`, wantErr: "response.status: got 99, want 100..599"},
		{name: "status too high", setup: `resp.status = 600`, wantErr: "response.status: got 600, want 100..599"},
		{name: "status str", setup: `resp.status = "404"`, wantErr: "response.status: got string, want int"},
		{name: "id read-only", setup: `resp.id = 1`, wantErr: "response.id is read-only"},
		{name: "headers read-only", setup: `resp.headers = {}`, wantErr: "response.headers is read-only"},
		{name: "unknown field", setup: `resp.nope = 1`, wantErr: "response has no .nope field"},
		{name: "type", expr: `(type(resp), type(resp.headers))`, want: `("response", "response_headers")`},
		{name: "var", expr: `(resp.var("upstream_status"), resp.var("nope", 1))`, want: `("200", 1)`},
		{name: "set-cookie values kept", setup: h, expr: `h.get_all("SET-COOKIE")`, want: `["a=1", "b=2"]`},
		{name: "add appends", setup: h + `h.add("Set-Cookie", "c=3")`, expr: `h.get_all("set-cookie")`, want: `["a=1", "b=2", "c=3"]`},
		{name: "set list", setup: h + `h.set("X-L", ["1", "2"])`, expr: `h.get_all("x-l")`, want: `["1", "2"]`},
		{name: "set replaces", setup: h + `h.set("set-cookie", "z=9")`, expr: `h.get_all("Set-Cookie")`, want: `["z=9"]`},
		{name: "delete", setup: h + `h.delete("Set-Cookie")`, expr: `("set-cookie" in h, h.get_all("set-cookie"))`, want: `(False, [])`},
		{name: "body", setup: `resp.set_body("new")`, expr: `resp.text()`, want: `"new"`},
		{name: "set_body empty", setup: `resp.set_body("")`, wantErr: "set_body: an empty body cannot be sent"},
	})
}

func TestResponseFinish(t *testing.T) {
	kvs := func(pairs ...string) []KV {
		var out []KV
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, KV{Name: pairs[i], Value: pairs[i+1], HasValue: true})
		}
		return out
	}
	tests := []struct {
		name string
		src  string
		want Decision
	}{
		{
			name: "unchanged is the complete list without hop-by-hop headers",
			src:  `a = resp.status`,
			want: Decision{Headers: kvs("Content-Type", "text/html", "Set-Cookie", "a=1", "set-cookie", "b=2", "X-Up", "u")},
		},
		{
			name: "add appends after the name's first place",
			src:  `resp.headers.add("set-cookie", "c=3")`,
			want: Decision{Headers: kvs("Content-Type", "text/html", "set-cookie", "a=1", "set-cookie", "b=2", "set-cookie", "c=3", "X-Up", "u")},
		},
		{
			name: "set replaces in place",
			src:  `resp.headers.set("Content-Type", "application/json")`,
			want: Decision{Headers: kvs("Content-Type", "application/json", "Set-Cookie", "a=1", "set-cookie", "b=2", "X-Up", "u")},
		},
		{
			name: "delete removes",
			src:  "resp.headers.delete(\"SET-COOKIE\")\nresp.headers.delete(\"x-up\")",
			want: Decision{Headers: kvs("Content-Type", "text/html")},
		},
		{
			name: "new names last",
			src:  "resp.headers.set(\"X-B\", \"b\")\nresp.headers.add(\"X-A\", \"a\")",
			want: Decision{Headers: kvs("Content-Type", "text/html", "Set-Cookie", "a=1", "set-cookie", "b=2", "X-Up", "u", "X-B", "b", "X-A", "a")},
		},
		{
			name: "hop-by-hop headers set by the script left out",
			src:  "resp.headers.set(\"content-length\", \"3\")\nresp.headers.set(\"Keep-Alive\", \"timeout=5\")",
			want: Decision{Headers: kvs("Content-Type", "text/html", "Set-Cookie", "a=1", "set-cookie", "b=2", "X-Up", "u")},
		},
		{
			name: "status and body",
			src:  "resp.status = 201\nresp.set_body(b\"created\")",
			want: Decision{Status: 201, Body: []byte("created"), BodySet: true,
				Headers: kvs("Content-Type", "text/html", "Set-Cookie", "a=1", "set-cookie", "b=2", "X-Up", "u")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newResp(newFakeResponse())
			if _, err := exec(t, tc.src, starlark.StringDict{"resp": r}); err != nil {
				t.Fatal(err)
			}
			var d Decision
			r.Finish(&d)
			if !decisionEqual(&d, &tc.want) {
				t.Errorf("got %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestResponseBody(t *testing.T) {
	src := newFakeResponse()
	src.body, src.hasBody = []byte(`{"n": 1}`), true
	r := newResp(src)
	globals, err := exec(t, "a = resp.body()\ngot = resp.json()", starlark.StringDict{"resp": r})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := globals["got"].String(), `{"n": 1}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if src.bodyN != 1 {
		t.Errorf("got %d host body requests, want 1", src.bodyN)
	}

	r = NewResponseValue()
	r.Reset(src, Limits{MaxBodyBytes: 3})
	_, err = exec(t, "a = resp.body()", starlark.StringDict{"resp": r})
	if want := "body: the response body of 8 bytes exceeds the limit of 3 bytes (max_body_bytes)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one containing %q", err, want)
	}
}

func TestCheckHeaderList(t *testing.T) {
	tests := []struct {
		name     string
		upstream fakeEntries
		src      string
		wantErr  string
	}{
		{name: "unchanged", upstream: fakeEntries{kv("X-A", "1")}, src: "pass"},
		{name: "one left", upstream: fakeEntries{kv("X-A", "1"), kv("X-B", "2")}, src: `resp.headers.delete("x-a")`},
		{name: "all deleted", upstream: fakeEntries{kv("X-A", "1"), kv("X-B", "2")}, src: "resp.headers.delete(\"x-a\")\nresp.headers.delete(\"X-B\")",
			wantErr: `would still send "X-A"`},
		{name: "replaced by a hop-by-hop header", upstream: fakeEntries{kv("X-A", "1")}, src: "resp.headers.delete(\"x-a\")\nresp.headers.set(\"Connection\", \"close\")",
			wantErr: `would still send "X-A"`},
		{name: "only dropped anyway", upstream: fakeEntries{kv("Location", "/"), kv("Content-Encoding", "gzip"), kv("transfer-encoding", "chunked")},
			src: "resp.headers.delete(\"location\")\nresp.headers.delete(\"content-encoding\")"},
		{name: "no upstream headers", src: `resp.headers.delete("x-a")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeResponse()
			src.headers = tc.upstream
			r := newResp(src)
			if _, err := exec(t, tc.src, starlark.StringDict{"resp": r}); err != nil {
				t.Fatal(err)
			}
			var d Decision
			r.Finish(&d)
			err := r.CheckHeaderList(&d)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHeaderEdits(t *testing.T) {
	r := newResp(newFakeResponse())
	if got := r.HeaderEdits(); got != 0 {
		t.Fatalf("got %d edits before any, want 0", got)
	}
	if _, err := exec(t, "a = resp.headers.get(\"x-up\")\nresp.headers.add(\"x\", \"1\")\nresp.headers.delete(\"x-up\")", starlark.StringDict{"resp": r}); err != nil {
		t.Fatal(err)
	}
	if got := r.HeaderEdits(); got != 2 {
		t.Errorf("got %d edits, want 2", got)
	}
	r.Reset(newFakeResponse(), Limits{})
	if got := r.HeaderEdits(); got != 0 {
		t.Errorf("got %d edits after Reset, want 0", got)
	}
}
