package bindings

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

func TestReMatchSearch(t *testing.T) {
	const email = `m = re.search(r"(?P<user>\w+)@(?P<host>[\w.]+)", "mail: bob@example.com!")`
	runModCases(t, modNow, nil, []modCase{
		{name: "match anchored at start", expr: `re.match("a+", "aaab").group()`, want: `"aaa"`},
		{name: "match not at start", expr: `re.match("b", "ab")`, want: `None`},
		{name: "match does not anchor the end", expr: `re.match("a", "ab").span()`, want: `(0, 1)`},
		{name: "match leftmost-first like Python", expr: `re.match("a|ab", "ab").group()`, want: `"a"`},
		{name: "search anywhere", expr: `re.search("b+", "abbc").span()`, want: `(1, 3)`},
		{name: "search no match", expr: `re.search("z", "abc")`, want: `None`},
		{name: "fullmatch whole string", expr: `re.fullmatch("a|ab", "ab").group()`, want: `"ab"`},
		{name: "fullmatch partial", expr: `re.fullmatch("a", "ab")`, want: `None`},
		{name: "group by name", setup: email, expr: `m.group("host")`, want: `"example.com"`},
		{name: "group default 0", setup: email, expr: `m.group()`, want: `"bob@example.com"`},
		{name: "several groups", setup: email, expr: `m.group(2, "user", 0)`, want: `("example.com", "bob", "bob@example.com")`},
		{name: "groups", setup: email, expr: `m.groups()`, want: `("bob", "example.com")`},
		{name: "groupdict", setup: email, expr: `m.groupdict()`, want: `{"user": "bob", "host": "example.com"}`},
		{name: "index", setup: email, expr: `(m[0], m[1], m["host"])`, want: `("bob@example.com", "bob", "example.com")`},
		{name: "start end span", setup: email, expr: `(m.start(), m.end(), m.span("host"), m.start(1))`, want: `(6, 21, (10, 21), 6)`},
		{name: "string and re", setup: email, expr: `(m.string, m.re.groups)`, want: `("mail: bob@example.com!", 2)`},
		{name: "unmatched group is None", expr: `re.match("(a)|(b)", "b").groups()`, want: `(None, "b")`},
		{name: "groups default", expr: `re.match("(a)|(b)", "b").groups(default = "")`, want: `("", "b")`},
		{name: "unmatched group offsets", expr: `re.match("(a)|(b)", "b").span(1)`, want: `(-1, -1)`},
		{name: "truthy", expr: `bool(re.match("", ""))`, want: `True`},
		{name: "match repr", expr: `str(re.search("b", "abc"))`, want: `"<re.match span=(1, 2) match=\"b\">"`},
		{name: "inline flag", expr: `re.match("(?i)abc", "ABC").group()`, want: `"ABC"`},
		{name: "byte offsets", expr: `re.search("b", "üb").start()`, want: `2`},
		{name: "quoted tail", expr: `(re.match(r"\Qa.b", "a.bc").group(), re.fullmatch(r"\Qa.b", "a.b") != None)`, want: `("a.b", True)`},
		{name: "keyword arguments", expr: `re.search(string = "ba", pattern = "a").start()`, want: `1`},
		{name: "no such group", expr: `re.match("a", "a").group(1)`, wantErr: "re.match.group: no such group 1, want 0 to 0"},
		{name: "no such group name", expr: `re.match("a", "a").group("x")`, wantErr: `no such group "x"`},
		{name: "group of wrong type", expr: `re.match("a", "a").group(1.0)`, wantErr: "got float, want int or str group"},
		{name: "missing string", expr: `re.match("a")`, wantErr: "re.match: missing argument for string"},
		{name: "missing pattern", expr: `re.match()`, wantErr: "re.match: missing argument for pattern"},
		{name: "pattern of wrong type", expr: `re.match(1, "a")`, wantErr: "re.match: for parameter pattern: got int, want str or re.pattern"},
		{name: "match unhashable", expr: `{re.match("a", "a"): 1}`, wantErr: "unhashable type: re.match"},
	})
}

func TestReFindall(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "whole matches", expr: `re.findall(r"\d+", "a1b22c333")`, want: `["1", "22", "333"]`},
		{name: "one group", expr: `re.findall(r"(\w)=\d", "a=1, b=2")`, want: `["a", "b"]`},
		{name: "several groups", expr: `re.findall(r"(\w)=(\d)?", "a=1, b=")`, want: `[("a", "1"), ("b", "")]`},
		{name: "no match", expr: `re.findall("z", "abc")`, want: `[]`},
		{name: "empty matches", expr: `re.findall("", "ab")`, want: `["", "", ""]`},
		{name: "too many matches", expr: `re.findall("", "x" * 100000)`, wantErr: "re.findall: more than 100000 matches"},
	})
}

func TestReSub(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "all", expr: `re.sub("a", "b", "aaa")`, want: `"bbb"`},
		{name: "count", expr: `re.sub("a", "b", "aaa", count = 2)`, want: `"bba"`},
		{name: "no match returns input", expr: `re.sub("z", "b", "aaa")`, want: `"aaa"`},
		{name: "numbered backrefs", expr: `re.sub(r"(\w+)@(\w+)", r"\2 at \1", "bob@host")`, want: `"host at bob"`},
		{name: "two-digit backref", expr: `re.sub("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", r"\10\1", "abcdefghij")`, want: `"ja"`},
		{name: "named backref", expr: `re.sub(r"(?P<k>\w+)=(?P<v>\w+)", r"\g<v>=\g<k>", "a=1 b=2")`, want: `"1=a 2=b"`},
		{name: "whole match backref", expr: `re.sub(r"\d+", r"<\g<0>>", "a1b22")`, want: `"a<1>b<22>"`},
		{name: "dollar is literal", expr: `re.sub("(a)", "$1${1}", "a")`, want: `"$1${1}"`},
		{name: "escaped backslash", expr: `re.sub("a", r"\\", "a")`, want: `"\\"`},
		{name: "control escape", expr: `re.sub("a", r"\n", "a")`, want: `"\n"`},
		{name: "other escape kept", expr: `re.sub("a", r"\-", "a")`, want: `"\\-"`},
		{name: "unmatched group is empty", expr: `re.sub("(a)|(b)", r"[\1\2]", "ab")`, want: `"[a][b]"`},
		{name: "empty repl", expr: `re.sub(r"\s", "", " a b ")`, want: `"ab"`},
		{name: "function repl", expr: `re.sub(r"\w+", lambda m: m.group().upper(), "ab cd")`, want: `"AB CD"`},
		{name: "function repl groups", expr: `re.sub(r"(\d)", lambda m: str(int(m[1]) * 2), "a1b4")`, want: `"a2b8"`},
		{name: "compiled method", setup: `p = re.compile("o")`, expr: `p.sub("0", "foo", 1)`, want: `"f0o"`},
		{name: "bad group reference", expr: `re.sub("(a)", r"\2", "a")`, wantErr: "re.sub: invalid group reference 2 in repl, want at most 1"},
		{name: "bad group name", expr: `re.sub("(a)", r"\g<x>", "a")`, wantErr: `re.sub: unknown group name "x" in repl`},
		{name: "bad g escape", expr: `re.sub("(a)", r"\g1", "a")`, wantErr: `bad \g escape`},
		{name: "bad letter escape", expr: `re.sub("a", r"\q", "a")`, wantErr: `re.sub: bad escape \q in repl`},
		{name: "trailing backslash", expr: `re.sub("a", "x\\", "a")`, wantErr: "bad escape (end of pattern)"},
		{name: "function returns non-str", expr: `re.sub("a", lambda m: 1, "a")`, wantErr: "re.sub: repl returned int, want str"},
		{name: "repl of wrong type", expr: `re.sub("a", 1, "a")`, wantErr: "re.sub: for parameter repl: got int, want str or function"},
		{name: "negative count", expr: `re.sub("a", "b", "a", count = -1)`, wantErr: "re.sub: got count -1, want >= 0"},
		{name: "result too long", expr: `re.sub("", "x" * 100, "y" * 50000)`, wantErr: "re.sub: result longer than 4194304 bytes"},
	})
}

func TestReSplit(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "all", expr: `re.split(r",\s*", "a, b,c")`, want: `["a", "b", "c"]`},
		{name: "maxsplit", expr: `re.split(r",\s*", "a, b,c", maxsplit = 1)`, want: `["a", "b,c"]`},
		{name: "groups kept", expr: `re.split("(,)", "a,b")`, want: `["a", ",", "b"]`},
		{name: "unmatched group is None", expr: `re.split("(,)|(;)", "a,b")`, want: `["a", ",", None, "b"]`},
		{name: "no match", expr: `re.split(",", "abc")`, want: `["abc"]`},
		{name: "separators at the ends", expr: `re.split(",", ",a,")`, want: `["", "a", ""]`},
		{name: "negative maxsplit", expr: `re.split(",", "a", -1)`, wantErr: "re.split: got maxsplit -1, want >= 0"},
	})
}

func TestReCompile(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "methods", setup: `p = re.compile(r"x(\d)")`, expr: `(p.findall("x1x2"), p.search("ax3").group(1), p.match("ax3"), p.split("ax1b"), p.fullmatch("x4").group())`, want: `(["1", "2"], "3", None, ["a", "1", "b"], "x4")`},
		{name: "attributes", setup: `p = re.compile(r"x(\d)")`, expr: `(p.pattern, p.groups, str(p), type(p))`, want: `("x(\\d)", 1, "re.compile(\"x(\\\\d)\")", "re.pattern")`},
		{name: "cached object", expr: `re.compile("a") == re.compile("a")`, want: `True`},
		{name: "hashable", expr: `len({re.compile("a"): 1, re.compile("b"): 2})`, want: `2`},
		{name: "module functions take a compiled pattern", setup: `p = re.compile(r"x(\d)")`, expr: `re.search(p, "x3").group(1)`, want: `"3"`},
		{name: "invalid pattern", expr: `re.compile("(")`, wantErr: "re.compile: error parsing regexp: missing closing ): `(`"},
		{name: "invalid pattern in module function", expr: `re.search("a**", "a")`, wantErr: "re.search: error parsing regexp: invalid nested repetition operator"},
		{name: "no backreferences in RE2", expr: `re.compile(r"(a)\1")`, wantErr: "invalid escape sequence"},
		{name: "pattern too long", expr: `re.compile("a" * 20000)`, wantErr: "re.compile: got a pattern of 20000 bytes, want at most 16384"},
		{name: "input too long", expr: `re.search("a", "x" * 1048577)`, wantErr: "re.search: got 1048577 bytes of input, want at most 1048576"},
		{name: "input too long for a method", setup: `p = re.compile("a")`, expr: `p.findall("x" * 1048577)`, wantErr: "re.pattern.findall: got 1048577 bytes of input"},
		{name: "escape", expr: `re.escape("a.b*c")`, want: `"a\\.b\\*c"`},
		{name: "escaped text matches itself", expr: `re.fullmatch(re.escape("1+1=2?"), "1+1=2?") != None`, want: `True`},
		{name: "frozen pattern still usable", setup: `P = re.compile("a")`, expr: `P.search("ba").start()`, want: `1`},
	})
}

// TestRePatternMethodsBoundOnce checks that attribute access on a compiled
// pattern returns the same builtin, without allocating one.
func TestRePatternMethodsBoundOnce(t *testing.T) {
	globals, err := modExec(t, modNow, `p = re.compile("a")`, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := globals["p"].(*rePattern)
	a, _ := p.Attr("search")
	b, _ := p.Attr("search")
	if a != b {
		t.Errorf("got two builtins for p.search, want one bound at compile")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.Attr("findall") }); n != 0 {
		t.Errorf("got %v allocations per p.findall access, want 0", n)
	}
}

func TestReCacheBounded(t *testing.T) {
	compile := newReModule().Members["compile"]
	thread := &starlark.Thread{}
	var last starlark.Value
	for i := range reCacheSize * 3 {
		v, err := starlark.Call(thread, compile, starlark.Tuple{starlark.String(fmt.Sprintf("a%d", i))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	if got := last.(*rePattern).mod.cache.len(); got > reCacheSize {
		t.Errorf("got %d cached patterns, want at most %d", got, reCacheSize)
	}
}

// TestReConcurrent shares one module (and its cache) between goroutines,
// as an engine shares frozen globals; run with -race.
func TestReConcurrent(t *testing.T) {
	fn := Predeclared()["re"].(*starlarkstruct.Module).Members["search"]
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			thread := &starlark.Thread{}
			for i := range 200 {
				pat := fmt.Sprintf("(x)%d", (w+i)%300)
				s := strings.Repeat("y", i%7) + pat[3:]
				v, err := starlark.Call(thread, fn, starlark.Tuple{starlark.String(pat[3:]), starlark.String(s)}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if v == starlark.None {
					t.Errorf("got None searching %q in %q, want a match", pat[3:], s)
					return
				}
			}
		})
	}
	wg.Wait()
}
