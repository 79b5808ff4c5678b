package engine_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

func libFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

func TestLoad(t *testing.T) {
	fsys := libFS(map[string]string{
		"lib/strings.star": `
load("lib/prefix.star", "PREFIX")
def tag(s):
    return PREFIX + s
NAMES = ["a"]
`,
		"lib/prefix.star": `PREFIX = "v1:"`,
		"lib/sub/deep.star": `
load("strings.star", "tag")
def deep(s):
    return tag(s) + "!"
`,
		"a.star": `
load("lib/strings.star", "tag", t = "tag")
load("sub/deep.star", "deep")
def on_request(req, conf):
    req.headers.set("x-tag", tag(req.method) + t("") + deep("d"))
`,
		"lib/other.star": `OTHER = 1`,
		"c.star": `
load("other.star", "OTHER")
def on_request(req, conf):
    pass
`,
		"b.star": `
load("strings.star", "tag", "NAMES")
def on_request(req, conf):
    NAMES.append("b")
`,
	})
	e := engine.New(engine.Config{FS: fsys}, nil)
	a, err := e.Script("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Script("b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Globals()["tag"] != b.Globals()["tag"] {
		t.Errorf("lib/strings.star loaded twice: want its frozen module shared by both scripts")
	}
	c, err := e.Script("c")
	if err != nil {
		t.Fatal(err)
	}
	var d bindings.Decision
	res := e.RunRequest(newChain(t, e, []string{"a"}, nil), newRequest(1), &d)
	if res.Err != nil || changedHeader(&d, "x-tag") != "v1:GETv1:v1:d!" {
		t.Fatalf("got %v, x-tag %q", res.Err, changedHeader(&d, "x-tag"))
	}
	res = e.RunRequest(newChain(t, e, []string{"b"}, nil), newRequest(2), &d)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "frozen") {
		t.Errorf("got %v, want lib globals frozen", res.Err)
	}

	// A lib change, even two loads away, is a new version of a (and b);
	// c does not load it and keeps its version.
	fsys["lib/prefix.star"] = &fstest.MapFile{Data: []byte(`PREFIX = "v2:"`)}
	a2, err := e.Load("a")
	if err != nil {
		t.Fatal(err)
	}
	if a2.Version == a.Version {
		t.Fatalf("got version %s again, want a new one after lib/prefix.star changed", a.Version)
	}
	e.Install(a2)
	res = e.RunRequest(newChain(t, e, []string{"a"}, nil), newRequest(3), &d)
	if res.Err != nil || changedHeader(&d, "x-tag") != "v2:GETv2:v2:d!" {
		t.Fatalf("got %v, x-tag %q after the change", res.Err, changedHeader(&d, "x-tag"))
	}
	if a3, err := e.Load("a"); err != nil || a3 != a2 {
		t.Errorf("got %v, %v; want the installed version back when nothing changed", a3, err)
	}
	if b2, err := e.Load("b"); err != nil || b2.Version == b.Version {
		t.Errorf("got %v, %v; want a new version of b", b2, err)
	}
	if c2, err := e.Load("c"); err != nil || c2 != c {
		t.Errorf("got %v, %v; want c unchanged", c2, err)
	}
	if _, digest, err := e.Source("a"); err != nil || digest != a2.SHA256 {
		t.Errorf("Source digest %s, want the version digest %s", digest, a2.SHA256)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing", map[string]string{}, `s.star:1:6: load("lib/x.star"): lib/x.star not found in the scripts directory`},
		{"dotdot", map[string]string{"x.star": "X = 1"}, `load("lib/../x.star"): invalid module path`},
		{"escape", map[string]string{}, `load("../x.star"): invalid module path`},
		{"absolute", map[string]string{}, `load("/etc/x.star"): want a path under lib/`},
		{"not star", map[string]string{"lib/x.py": "X = 1"}, `want a file name ending in .star`},
		{"cycle", map[string]string{
			"lib/x.star": "load(\"y.star\", \"Y\")\nX = 1",
			"lib/y.star": "load(\"x.star\", \"X\")\nY = 1",
		}, "load cycle: lib/x.star -> lib/y.star -> lib/x.star"},
		{"error in lib", map[string]string{"lib/x.star": "X = 1\nfail(\"broken lib\")"}, "lib/x.star: top level:"},
		{"syntax error in lib", map[string]string{"lib/x.star": "X = (\n"}, "lib/x.star:2:1:"},
		{"nested position", map[string]string{"lib/x.star": "\n\nload(\"y.star\", \"Y\")\nX = 1"}, `lib/x.star:3:6: load("y.star"): lib/y.star not found`},
		{"unknown name", map[string]string{"lib/x.star": "Y = 1"}, "load: name X not found in module x.star"},
		{"private name", map[string]string{"lib/x.star": "_X = 1"}, "load: names with leading underscores are not exported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := map[string]string{
				"missing": "lib/x.star", "dotdot": "lib/../x.star", "escape": "../x.star", "absolute": "/etc/x.star",
				"not star": "lib/x.py", "private name": "lib/x.star",
			}[tc.name]
			if module == "" {
				module = "x.star"
			}
			name := "X"
			if tc.name == "private name" {
				name = "_X"
			}
			files := map[string]string{"s.star": "load(\"" + module + "\", \"" + name + "\")\ndef on_request(req, conf):\n    pass\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			e := engine.New(engine.Config{FS: libFS(files)}, nil)
			_, err := e.Script("s")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
