package authoring

import (
	"errors"
	"github.com/scriptrunner/scriptrunner/engine"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"ok.star":          "CONF_SCHEMA = {\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}}}\n\ndef init(conf):\n    if conf.get(\"n\", 0) < 0:\n        fail(\"n must not be negative\")\n    return conf\n\ndef on_request(req, conf):\n    pass\n",
		"ok_test.star":     "def test_x(t):\n    pass\n",
		"syntax.star":      "def on_request(req, conf)\n    pass\n",
		"undefined.star":   "def on_request(req, conf):\n    return respnd(403)\n",
		"nohandler.star":   "X = 1\n",
		"signature.star":   "\n\ndef on_response(resp):\n    pass\n",
		"toplevel.star":    "X = 1 // 0\n\ndef on_request(req, conf):\n    pass\n",
		"bad name.star":    "def on_request(req, conf):\n    pass\n",
		"broken_test.star": "def test_x(t):\n    t.eq(1,\n",
	})
	files, err := StarFiles([]string{dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	res := Check(files, []Conf{
		{Name: "ok", Value: `{"n": 1}`},
		{Name: "ok", Value: `{"n": "x"}`},
		{Name: "ok", Value: `{"n": -1}`},
		{Name: "syntax", Value: `{}`},
		{Name: "absent", Value: `{}`},
	}, dir, engine.Config{})
	if res.Scripts != 7 || res.Tests != 2 || res.Confs != 5 {
		t.Errorf("counts: got %d scripts, %d tests, %d confs", res.Scripts, res.Tests, res.Confs)
	}
	var got []string
	for _, d := range res.Diagnostics {
		if rel, err := filepath.Rel(dir, d.File); err == nil && !strings.HasPrefix(rel, "..") {
			d.File = rel
		}
		got = append(got, d.String())
	}
	want := []string{
		`bad name.star: invalid script name "bad name": want letters, digits, '_', '.', '-', at most 128, no '..'`,
		"nohandler.star: defines neither on_request(req, conf) nor on_response(resp, conf)",
		"signature.star:3: on_response must be defined as on_response(resp, conf)",
		"syntax.star:2:1: got newline, want ':'",
		"toplevel.star:1:7: top level: floored division by zero",
		"undefined.star:2:12: undefined: respnd (did you mean respond?)",
		"broken_test.star:3:1: got outdent, want primary expression",
		"ok.star: conf ok: CONF_SCHEMA: conf.n: got string, want integer",
		"ok.star:5:13: conf ok: init: fail: n must not be negative",
		"syntax.star: conf syntax: not checked: the script does not compile",
		"--conf absent: no script absent.star among the checked files or in " + dir,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("diagnostic %d:\ngot  %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestDiagnoseEngineMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("x.star:12: on_request must be defined as on_request(req, conf)"), "dir/x.star:12: on_request must be defined as on_request(req, conf)"},
		{errors.New("x.star: LIMITS: unknown key k"), "dir/x.star: LIMITS: unknown key k"},
		{errors.New("read x.star: permission denied"), "dir/x.star: read x.star: permission denied"},
		{Diagnostics{{File: "f", Line: 1, Col: 2, Msg: "m"}}, "f:1:2: m"},
	}
	for _, tc := range tests {
		if got := Diagnose("dir/x.star", tc.err)[0].String(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestWithHint(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"undefined: respnd", "undefined: respnd (did you mean respond?)"},
		{"undefined: jsn", "undefined: jsn (did you mean json?)"},
		{"undefined: lenn", "undefined: lenn (did you mean len?)"},
		{"undefined: respnd (did you mean resp?)", "undefined: respnd (did you mean respond?)"},
		{"undefined: reqq (did you mean req?)", "undefined: reqq (did you mean req?)"},
		{"undefined: zzzzzzz", "undefined: zzzzzzz"},
		{"something else", "something else"},
	}
	for _, tc := range tests {
		if got := withHint(tc.msg); got != tc.want {
			t.Errorf("withHint(%q): got %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"respnd", "respond", 1}, {"kitten", "sitting", 3}}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q): got %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
