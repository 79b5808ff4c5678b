package bindings

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// modNow is the mocked call time of module tests: 2024-05-06T07:08:09Z.
var modNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// modCase is one snippet run with the predeclared names: setup
// statements, then got = expr.
type modCase struct {
	name    string
	setup   string
	expr    string
	want    string // Starlark repr of got
	wantErr string // substring of the error, when the snippet must fail
}

// modExec runs src on a thread whose CallInfo clock is now, with the
// predeclared names plus extra, and returns the globals.
func modExec(t *testing.T, now time.Time, src string, extra starlark.StringDict) (starlark.StringDict, error) {
	t.Helper()
	thread := &starlark.Thread{Name: t.Name(), Print: func(_ *starlark.Thread, msg string) { t.Log(msg) }}
	BindCallInfo(thread, &CallInfo{Script: "test", Phase: "test", Now: now})
	pre := Predeclared()
	maps.Copy(pre, extra)
	return starlark.ExecFileOptions(&syntax.FileOptions{Set: true, While: true}, thread, "test.star", src, pre)
}

// runModCases runs each case at time now.
func runModCases(t *testing.T, now time.Time, extra starlark.StringDict, cases []modCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.setup + "\ngot = " + tc.expr + "\n"
			globals, err := modExec(t, now, src, extra)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v (value %v), want one containing %q", err, globals["got"], tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := globals["got"].String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPredeclaredWith(t *testing.T) {
	a, b := PredeclaredWith(Options{}), Predeclared()
	for _, name := range []string{"respond", "json", "re", "base64", "hashlib", "time", "url", "net", "jwt"} {
		if !a.Has(name) {
			t.Errorf("got no %s, want it predeclared", name)
		}
	}
	if a["re"] == b["re"] {
		t.Errorf("got the same re module from two calls, want one (and one compile cache) per call")
	}
	if len(a) != len(b) {
		t.Errorf("got %d names and %d names, want the same", len(a), len(b))
	}
}

func TestModulesImmutable(t *testing.T) {
	for _, name := range []string{"re", "base64", "hashlib", "time", "url", "net", "jwt"} {
		t.Run(name, func(t *testing.T) {
			_, err := modExec(t, modNow, name+".extra = 1\n", nil)
			if err == nil {
				t.Fatalf("got no error assigning %s.extra, want one", name)
			}
		})
	}
}

// TestModuleFunctionNames checks that every module builtin is named
// "<module>.<member>", the prefix of its error messages.
func TestModuleFunctionNames(t *testing.T) {
	pre := Predeclared()
	for _, name := range []string{"re", "base64", "hashlib", "time", "url", "net", "jwt"} {
		mod := pre[name].(*starlarkstruct.Module)
		for member, mv := range mod.Members {
			b, ok := mv.(*starlark.Builtin)
			if !ok {
				continue
			}
			if want := name + "." + member; b.Name() != want {
				t.Errorf("got builtin name %q, want %q", b.Name(), want)
			}
		}
	}
}

func TestBoundedCache(t *testing.T) {
	tests := []struct {
		name string
		max  int
		adds int
		want int
	}{
		{name: "below max", max: 4, adds: 3, want: 3},
		{name: "at max", max: 4, adds: 4, want: 4},
		{name: "evicts past max", max: 4, adds: 100, want: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newBoundedCache[int](tc.max)
			for i := range tc.adds {
				c.add(fmt.Sprint(i), i)
			}
			if got := c.len(); got != tc.want {
				t.Errorf("got %d entries, want %d", got, tc.want)
			}
			last := fmt.Sprint(tc.adds - 1)
			if v, ok := c.get(last); !ok || v != tc.adds-1 {
				t.Errorf("got %d, %v for the last key, want %d, true", v, ok, tc.adds-1)
			}
		})
	}
}

func TestBoundedCacheKeepsFirstValue(t *testing.T) {
	c := newBoundedCache[string](2)
	if got := c.add("k", "first"); got != "first" {
		t.Errorf("got %q, want first", got)
	}
	if got := c.add("k", "second"); got != "first" {
		t.Errorf("got %q, want first (the value already cached)", got)
	}
}

func TestBoundedCacheConcurrent(t *testing.T) {
	const max, workers, per = 16, 8, 500
	c := newBoundedCache[int](max)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				k := fmt.Sprint((w*per + i) % 64)
				if v, ok := c.get(k); ok && fmt.Sprint(v) != k {
					t.Errorf("got %d for key %s, want %s", v, k, k)
				}
				c.add(k, (w*per+i)%64)
			}
		})
	}
	wg.Wait()
	if got := c.len(); got > max {
		t.Errorf("got %d entries after the adds, want at most %d", got, max)
	}
}
