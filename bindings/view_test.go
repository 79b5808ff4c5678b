package bindings

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func reqValue() starlark.Value { return newReq(newFakeRequest(), Limits{}) }

func TestRequestHeaders(t *testing.T) {
	h := "h = req.headers\n"
	runEvalCases(t, "req", reqValue, []evalCase{
		{name: "get", setup: h, expr: `h.get("accept")`, want: `"text/html"`},
		{name: "get/case-insensitive", setup: h, expr: `h.get("ACCEPT")`, want: `"text/html"`},
		{name: "get/host spelling ignored", setup: h, expr: `h.get("host")`, want: `"example.com"`},
		{name: "get/absent", setup: h, expr: `h.get("x-none")`, want: `None`},
		{name: "get/absent default", setup: h, expr: `h.get("x-none", "d")`, want: `"d"`},
		{name: "get/default keyword", setup: h, expr: `h.get("x-none", default = 1)`, want: `1`},
		{name: "get/first of repeated", setup: h, expr: `h.get("X-MULTI")`, want: `"1"`},
		{name: "get/non-string name", setup: h, expr: `h.get(1)`, wantErr: "get: for parameter name: got int, want string"},
		{name: "get_all/repeated kept", setup: h, expr: `h.get_all("x-multi")`, want: `["1", "2"]`},
		{name: "get_all/absent", setup: h, expr: `h.get_all("x-none")`, want: `[]`},
		{name: "in", setup: h, expr: `"CONTENT-type" in h`, want: `True`},
		{name: "not in", setup: h, expr: `"x-none" in h`, want: `False`},
		{name: "len counts distinct names", setup: h, expr: `len(h)`, want: `4`},
		{name: "keys", setup: h, expr: `h.keys()`, want: `["Host", "accept", "X-Multi", "Content-Type"]`},
		{name: "items one per value", setup: h, expr: `h.items()`,
			want: `[("Host", "example.com"), ("accept", "text/html"), ("X-Multi", "1"), ("x-multi", "2"), ("Content-Type", "text/plain")]`},
		{name: "index", setup: h, expr: `h["Accept"]`, want: `"text/html"`},
		{name: "index/absent", setup: h, expr: `h["x-none"]`, wantErr: `key "x-none" not in headers`},
		{name: "index/non-string", setup: h, expr: `h[1]`, wantErr: "headers: got int key, want string"},
		{name: "iterate", setup: h, expr: `[k for k in h]`, want: `["Host", "accept", "X-Multi", "Content-Type"]`},
		{name: "truth", setup: h, expr: `bool(h)`, want: `True`},
		{name: "type", setup: h, expr: `type(h)`, want: `"headers"`},
		{name: "set replaces every value", setup: h + `h.set("X-Multi", "3")`, expr: `(h.get_all("x-multi"), len(h))`, want: `(["3"], 4)`},
		{name: "set int value", setup: h + `h.set("x-n", 5)`, expr: `h.get("x-n")`, want: `"5"`},
		{name: "set new name appended", setup: h + `h.set("X-New", "v")`, expr: `h.keys()`, want: `["Host", "accept", "X-Multi", "Content-Type", "X-New"]`},
		{name: "set keyword arguments", setup: h + `h.set(name = "x-k", value = "v")`, expr: `h["X-K"]`, want: `"v"`},
		{name: "add behaves like set", setup: h + `h.add("x-multi", "3")`, expr: `h.get_all("X-Multi")`, want: `["3"]`},
		{name: "add new name", setup: h + `h.add("x-new", "v")`, expr: `h.get_all("x-new")`, want: `["v"]`},
		{name: "delete", setup: h + `h.delete("X-MULTI")`, expr: `(h.get("x-multi"), "x-multi" in h, len(h), h.get_all("x-multi"))`, want: `(None, False, 3, [])`},
		{name: "delete then keys", setup: h + `h.delete("accept")`, expr: `h.keys()`, want: `["Host", "X-Multi", "Content-Type"]`},
		{name: "delete then set", setup: h + "h.delete(\"accept\")\nh.set(\"Accept\", \"x\")", expr: `h.items()[1]`, want: `("Accept", "x")`},
		{name: "delete absent", setup: h + `h.delete("x-none")`, expr: `len(h)`, want: `4`},
		{name: "set list rejected", setup: h + `h.set("x-l", ["a", "b"])`, wantErr: "a request header carries one value"},
		{name: "set None rejected", setup: h + `h.set("x-l", None)`, wantErr: "set: got value of type NoneType, want string"},
		{name: "name with space", setup: h + `h.set("bad name", "x")`, wantErr: `invalid character ' ' in header name`},
		{name: "name with CRLF", setup: h + `h.set("x\r\ny", "x")`, wantErr: `invalid character '\r' in header name`},
		{name: "name with colon", setup: h + `h.add("x:y", "x")`, wantErr: `invalid character ':' in header name`},
		{name: "empty name", setup: h + `h.set("", "x")`, wantErr: "set: empty name"},
		{name: "value with CR", setup: h + `h.set("x-a", "a\rb")`, wantErr: `invalid character '\r' in the value of header "x-a"`},
		{name: "value with LF", setup: h + `h.add("x-a", "a\nb")`, wantErr: `invalid character '\n' in the value of header "x-a"`},
		{name: "value with NUL", setup: h + `h.set("x-a", "a\x00b")`, wantErr: `invalid character '\x00' in the value`},
		{name: "delete name with LF", setup: h + `h.delete("x\ny")`, wantErr: `delete: invalid character '\n' in header name`},
		{name: "delete empty name", setup: h + `h.delete("")`, wantErr: "delete: empty name"},
		{name: "only ASCII letters fold", setup: h + `h.set("k", "v")`, expr: `(h.get("\u212a"), "\u212a" in h, h.get("K"))`, want: `(None, False, "v")`},
		{name: "no such method", setup: h, expr: `h.gett`, wantErr: "has no .gett field or method (did you mean .get?)"},
		{name: "unhashable", setup: h, expr: `{h: 1}`, wantErr: "unhashable"},
	})
}

func TestRequestArgs(t *testing.T) {
	a := "a = req.args\n"
	runEvalCases(t, "req", reqValue, []evalCase{
		{name: "get first", setup: a, expr: `a.get("a")`, want: `"1"`},
		{name: "get_all multi-valued", setup: a, expr: `a.get_all("a")`, want: `["1", "2"]`},
		{name: "case-sensitive", setup: a, expr: `(a.get("A"), a.get("B"), a.get("b"), "b" in a)`, want: `(None, "3", None, False)`},
		{name: "empty value", setup: a, expr: `a.get("y")`, want: `""`},
		{name: "absent value", setup: a, expr: `(a.get("z"), a.get("z", "d"), "z" in a, a.get_all("z"))`, want: `("", "", True, [""])`},
		{name: "index", setup: a, expr: `a["B"]`, want: `"3"`},
		{name: "len", setup: a, expr: `len(a)`, want: `4`},
		{name: "keys", setup: a, expr: `a.keys()`, want: `["a", "y", "z", "B"]`},
		{name: "iterate", setup: a, expr: `sorted([k for k in a])`, want: `["B", "a", "y", "z"]`},
		{name: "items", setup: a, expr: `a.items()`, want: `[("a", "1"), ("a", "2"), ("y", ""), ("z", ""), ("B", "3")]`},
		{name: "type", setup: a, expr: `type(a)`, want: `"args"`},
		{name: "set list", setup: a + `a.set("a", ["x", "y"])`, expr: `a.get_all("a")`, want: `["x", "y"]`},
		{name: "set tuple", setup: a + `a.set("n", ("x", "y"))`, expr: `a.get_all("n")`, want: `["x", "y"]`},
		{name: "set only one case", setup: a + `a.set("b", "4")`, expr: `(a.get("B"), a.get("b"), len(a))`, want: `("3", "4", 5)`},
		{name: "add appends", setup: a + `a.add("a", "3")`, expr: `a.get_all("a")`, want: `["1", "2", "3"]`},
		{name: "add list appends", setup: a + `a.add("a", ["3", "4"])`, expr: `a.get_all("a")`, want: `["1", "2", "3", "4"]`},
		{name: "delete", setup: a + `a.delete("a")`, expr: `("a" in a, a.keys())`, want: `(False, ["y", "z", "B"])`},
		{name: "any characters in names", setup: a + `a.set("a b&c", "x y")`, expr: `a["a b&c"]`, want: `"x y"`},
		{name: "list element not string", setup: a + `a.set("a", ["x", 1])`, wantErr: "set: got list element of type int, want string"},
		{name: "empty name", setup: a + `a.add("", "x")`, wantErr: "add: empty name"},
	})
}

// TestHeaderByteClasses checks every byte against the definitions the
// lookup tables encode: RFC 9110 tchar for names; CR, LF and NUL for
// values.
func TestHeaderByteClasses(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		isAlnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		wantToken := isAlnum || b != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		if got := isTokenChar(b); got != wantToken {
			t.Errorf("isTokenChar(%q) = %v, want %v", b, got, wantToken)
		}
		wantErr := b == '\r' || b == '\n' || b == 0
		if err := checkHeaderValue("set", "x", string([]byte{'a', b})); (err != nil) != wantErr {
			t.Errorf("checkHeaderValue with byte %#x: err = %v, want error %v", b, err, wantErr)
		}
	}
}

// TestViewAttrNames checks that every listed method name resolves to the
// builtin of that name, and nothing else does.
func TestViewAttrNames(t *testing.T) {
	v := newView(reqHeaders)
	for _, name := range v.AttrNames() {
		m, err := v.Attr(name)
		b, ok := m.(*starlark.Builtin)
		if err != nil || !ok || b.Name() != name {
			t.Errorf("Attr(%q) = %v, %v; want the builtin %s", name, m, err, name)
		}
	}
	for _, name := range []string{"", "Get", "getall", "methods", "len"} {
		if m, err := v.Attr(name); m != nil || err != nil {
			t.Errorf("Attr(%q) = %v, %v; want nil, nil", name, m, err)
		}
	}
}

func TestStringCache(t *testing.T) {
	var c stringCache
	key := []byte("secret")
	first := c.value(key)
	if got := c.value([]byte("secret")); got != first {
		t.Errorf("equal content: got a new value %v, want the cached one", got)
	}
	// The cached string is a copy: the caller's buffer is reused.
	copy(key, "SECRET")
	if first != starlark.String("secret") {
		t.Errorf("cached value changed with its source buffer: %v", first)
	}
	if got := c.value(key); got != starlark.String("SECRET") {
		t.Errorf("got %v, want \"SECRET\"", got)
	}
	// Eight other values evict it; a later read still gets its content.
	for i := range stringCacheSize {
		c.value([]byte{'v', byte('0' + i)})
	}
	if got := c.value([]byte("secret")); got != starlark.String("secret") {
		t.Errorf("after eviction: got %v, want \"secret\"", got)
	}
	long := strings.Repeat("x", maxCachedString+1)
	before := c.ents
	if got := c.value([]byte(long)); got != starlark.String(long) {
		t.Errorf("long value: got %d bytes, want %d", len(got.(starlark.String)), len(long))
	}
	if c.ents != before {
		t.Error("a value longer than maxCachedString was cached")
	}
}

// TestViewStringCacheAcrossCalls checks that the strings a pooled view
// keeps between calls never stand for another call's value.
func TestViewStringCacheAcrossCalls(t *testing.T) {
	r := NewRequestValue()
	get := func(key string, hdrs ...entry) starlark.Value {
		t.Helper()
		src := newFakeRequest()
		src.headers = fakeEntries(hdrs)
		r.Reset(src, Limits{})
		defer r.Release()
		v, found, err := r.headers.Get(starlark.String(key))
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return starlark.None
		}
		return v
	}
	tests := []struct {
		hdrs []entry
		key  string
		want starlark.Value
	}{
		{[]entry{kv("X-Api-Key", "alpha")}, "x-api-key", starlark.String("alpha")},
		{[]entry{kv("X-Api-Key", "alpha")}, "x-api-key", starlark.String("alpha")},
		{[]entry{kv("X-Api-Key", "omega")}, "x-api-key", starlark.String("omega")},
		{[]entry{kv("X-Api-Key", "alph")}, "x-api-key", starlark.String("alph")},
		{[]entry{kv("X-Api-Key", "")}, "x-api-key", starlark.String("")},
		{[]entry{kv("Accept", "alpha")}, "x-api-key", starlark.None},
		{[]entry{kv("Accept", "alpha")}, "accept", starlark.String("alpha")},
	}
	for i, tc := range tests {
		if got := get(tc.key, tc.hdrs...); got != tc.want {
			t.Errorf("call %d: %s = %v, want %v", i, tc.key, got, tc.want)
		}
	}
}
