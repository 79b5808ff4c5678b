package bindings

import (
	"reflect"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestRespond(t *testing.T) {
	ct := func(v string) KV { return KV{Name: "content-type", Value: v, HasValue: true} }
	tests := []struct {
		name    string
		expr    string
		want    Stop
		wantErr string
	}{
		{name: "status only", expr: `respond(204)`, want: Stop{Status: 204}},
		{name: "lowest status", expr: `respond(100)`, want: Stop{Status: 100}},
		{name: "highest status", expr: `respond(599)`, want: Stop{Status: 599}},
		{name: "status too low", expr: `respond(99)`, wantErr: "respond: got status 99, want 100..599"},
		{name: "status too high", expr: `respond(600)`, wantErr: "respond: got status 600, want 100..599"},
		{name: "status not int", expr: `respond("200")`, wantErr: "respond: for parameter status: got string, want int"},
		{name: "status missing", expr: `respond()`, wantErr: "respond: missing argument for status"},
		{name: "body str", expr: `respond(403, body = "forbidden")`, want: Stop{Status: 403, Body: []byte("forbidden")}},
		{name: "body positional", expr: `respond(403, "forbidden")`, want: Stop{Status: 403, Body: []byte("forbidden")}},
		{name: "body bytes", expr: `respond(200, body = b"\x00\xff")`, want: Stop{Status: 200, Body: []byte{0, 0xff}}},
		{name: "body None", expr: `respond(200, body = None)`, want: Stop{Status: 200}},
		{name: "body int", expr: `respond(200, body = 1)`, wantErr: "respond: got body of type int, want str or bytes"},
		{name: "json", expr: `respond(200, json = {"ok": True, "n": [1, None]})`,
			want: Stop{Status: 200, Body: []byte(`{"n":[1,null],"ok":true}`), Headers: []KV{ct("application/json")}}},
		{name: "json keeps given content-type", expr: `respond(200, json = [1], headers = {"Content-Type": "application/problem+json"})`,
			want: Stop{Status: 200, Body: []byte(`[1]`), Headers: []KV{{Name: "Content-Type", Value: "application/problem+json", HasValue: true}}}},
		{name: "json string", expr: `respond(200, json = "x")`, want: Stop{Status: 200, Body: []byte(`"x"`), Headers: []KV{ct("application/json")}}},
		{name: "json unencodable", expr: `respond(200, json = len)`, wantErr: "respond: json: "},
		{name: "body and json exclusive", expr: `respond(200, body = "x", json = {})`, wantErr: "respond: body and json are exclusive"},
		{name: "headers sorted by name", expr: `respond(302, headers = {"x-b": "2", "Location": "/login", "x-a": ["1", "1b"]})`,
			want: Stop{Status: 302, Headers: []KV{
				{Name: "Location", Value: "/login", HasValue: true},
				{Name: "x-a", Value: "1", HasValue: true},
				{Name: "x-a", Value: "1b", HasValue: true},
				{Name: "x-b", Value: "2", HasValue: true},
			}}},
		{name: "headers tuple value", expr: `respond(200, headers = {"Set-Cookie": ("a=1", "b=2")})`,
			want: Stop{Status: 200, Headers: []KV{{Name: "Set-Cookie", Value: "a=1", HasValue: true}, {Name: "Set-Cookie", Value: "b=2", HasValue: true}}}},
		{name: "headers not a dict", expr: `respond(200, headers = [("a", "b")])`, wantErr: "respond: got headers of type list, want dict"},
		{name: "header value int", expr: `respond(200, headers = {"a": 1})`, wantErr: `respond: header "a": got value of type int, want str`},
		{name: "header list element int", expr: `respond(200, headers = {"a": ["x", 1]})`, wantErr: `respond: header "a": got value of type int, want str`},
		{name: "header name int", expr: `respond(200, headers = {1: "a"})`, wantErr: "respond: got header name of type int, want str"},
		{name: "header name invalid", expr: `respond(200, headers = {"a b": "x"})`, wantErr: `respond: invalid character ' ' in header name`},
		{name: "header value CRLF", expr: `respond(200, headers = {"a": "x\r\nb: c"})`, wantErr: `respond: invalid character '\r' in the value of header "a"`},
		{name: "unknown keyword", expr: `respond(200, status_text = "OK")`, wantErr: "respond: unexpected keyword argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			globals, err := exec(t, "got = "+tc.expr, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got, ok := globals["got"].(*Stop)
			if !ok {
				t.Fatalf("got %s, want a *Stop", globals["got"].Type())
			}
			if len(got.Body) == 0 {
				got.Body = nil
			}
			if len(got.Headers) == 0 {
				got.Headers = nil
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestStopAttrs(t *testing.T) {
	runEvalCases(t, "x", func() starlark.Value { return starlark.None }, []evalCase{
		{name: "status", setup: `r = respond(401, body = "no", headers = {"a": "1"})`, expr: `(r.status, r.body, r.headers, type(r), str(r))`,
			want: `(401, "no", {"a": "1"}, "response", "respond(401)")`},
		{name: "headers frozen", setup: "r = respond(200, headers = {\"a\": \"1\"})\nh = r.headers\nh[\"b\"] = \"2\"", wantErr: "frozen"},
	})
}
