package authoring

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPairsUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Pairs
	}{
		{"objects", `[{"name": "a", "value": "1"}, {"name": "debug"}]`,
			Pairs{{Name: "a", Value: "1"}, {Name: "debug", NoValue: true}}},
		{"pairs", `[["a", "1"], ["a", "2"], ["debug"], ["x", null]]`,
			Pairs{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}, {Name: "debug", NoValue: true}, {Name: "x", NoValue: true}}},
		{"object keeps key order", `{"z": "1", "a": ["2", "3"], "m": null, "e": ""}`,
			Pairs{{Name: "z", Value: "1"}, {Name: "a", Value: "2"}, {Name: "a", Value: "3"}, {Name: "m", NoValue: true}, {Name: "e", Value: ""}}},
		{"null", `null`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Pairs
			if err := json.Unmarshal([]byte(tc.json), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPairsUnmarshalErrors(t *testing.T) {
	for _, bad := range []string{`"a=1"`, `[1]`, `[["a", "1", "2"]]`, `[{"name": "a", "valu": "1"}]`, `{"a": 1}`, `{"a": [1]}`} {
		var p Pairs
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s: got %+v, want an error", bad, p)
		}
	}
}

func TestBodyUnmarshal(t *testing.T) {
	tests := []struct{ json, want string }{
		{`"plain text"`, "plain text"},
		{`{"b": [1, 2], "a": null}`, `{"b":[1,2],"a":null}`},
		{`[1, "x"]`, `[1,"x"]`},
		{`""`, ""},
	}
	for _, tc := range tests {
		var b Body
		if err := json.Unmarshal([]byte(tc.json), &b); err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.json, b, tc.want)
		}
	}
}

func TestDecodeRequestRejectsUnknownFields(t *testing.T) {
	_, err := DecodeRequest(strings.NewReader(`{"pth": "/"}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "pth"`) {
		t.Errorf("got %v, want an unknown field error", err)
	}
	r, err := DecodeRequest(strings.NewReader(""))
	if err != nil || r.Method != "" {
		t.Errorf("empty input: got %+v, %v, want the zero request", r, err)
	}
	if _, err := DecodeResponse(strings.NewReader(`{"status": 200, "path": "/"}`)); err == nil {
		t.Error("a response with a path: got no error")
	}
}

func TestRequestHost(t *testing.T) {
	h, err := (&Request{}).host()
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != 1 || h.Method() != "GET" || string(h.Path()) != "/" || len(h.SrcIP()) != 4 || h.Headers().Len() != 0 {
		t.Errorf("defaults: got id %d %s %s ip %v", h.ID(), h.Method(), h.Path(), h.SrcIP())
	}

	h, err = (&Request{Method: "post", Path: "/a%20b?q=a%2Bb&flag&e=", SrcIP: "2001:db8::1"}).host()
	if err != nil {
		t.Fatal(err)
	}
	if h.Method() != "POST" || string(h.Path()) != "/a%20b" || len(h.SrcIP()) != 16 {
		t.Errorf("got %s %s ip %v", h.Method(), h.Path(), h.SrcIP())
	}
	want := entries{{Name: "q", Value: "a+b"}, {Name: "flag", NoValue: true}, {Name: "e", Value: ""}}
	if got := h.Args().(entries); !reflect.DeepEqual(got, want) {
		t.Errorf("args from the query: got %+v, want %+v", got, want)
	}

	for _, bad := range []Request{
		{Path: "no-slash"},
		{SrcIP: "localhost"},
		{Path: "/?a=1", Args: Pairs{{Name: "b", Value: "2"}}},
		{Path: "/?a=%zz"},
	} {
		if _, err := bad.host(); err == nil {
			t.Errorf("%+v: got no error", bad)
		}
	}
	if _, err := (&Response{Status: 700}).host(); err == nil {
		t.Error("status 700: got no error")
	}
}

func TestFetcherRecordsLookups(t *testing.T) {
	body := Body("hi")
	f := &fetcher{vars: map[string]string{"a": "1"}, body: &body, bodyKind: KindReqBody}
	if v, ok, _ := f.Var("a"); !ok || string(v) != "1" {
		t.Errorf("Var(a): got %q %v", v, ok)
	}
	if _, ok, _ := f.Var("b"); ok {
		t.Error("Var(b): got a value, want absent")
	}
	if b, ok, _ := f.Body(); !ok || string(b) != "hi" {
		t.Errorf("Body: got %q %v", b, ok)
	}
	want := []Lookup{{KindVar, "a"}, {KindVar, "b"}, {KindReqBody, ""}}
	if !reflect.DeepEqual(f.lookups, want) {
		t.Errorf("got %+v, want %+v", f.lookups, want)
	}
}

func TestKVJSON(t *testing.T) {
	out, err := json.Marshal([]KV{{Name: "a", Value: ""}, {Name: "b", NoValue: true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"name":"a","value":""},{"name":"b"}]`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
