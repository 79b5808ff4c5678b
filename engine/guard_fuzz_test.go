package engine

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// FuzzMetered runs a function body compiled as is and compiled with the
// metering rewrite (guard.go), and checks that both mean the same: equal
// results, or both failing. Runs the rewrite refuses for its limits are
// not compared; they never run unmetered, so no input allocates much.
func FuzzMetered(f *testing.F) {
	for _, body := range []string{
		`return "a" + "b" * 3`,
		`l = [1]
m = l
m += [2]
return l, m`,
		`t = (1,)
u = t
u += (2,)
return t, u`,
		`d = {"a": [1], "s": "x"}
d["a"] += [2]
d["s"] *= 2
l = [1, 2]
l[-1] %= 2
return d, l`,
		`calls = []
def k():
    calls.append(1)
    return 0
l = ["x"]
l[k()] += "y"
return l, len(calls)`,
		`return "%s-%d" % ("a", 1), "{}{x}".format(1, x = 2), ",".join(["a", "b"]), "aXb".replace("X", "yy")`,
		`l = [1, 2]
l.extend(l)
l += l
return l`,
		`n = 1 << 70
return n * n, n + n, 3 * n, str(n), repr([n])`,
		`return sorted([3, 1, 2]), list(range(5)), json.encode({"a": [1]}), json.decode("[[1]]")`,
		`s = "x"
for i in range(10):
    s = s + s
return len(s)`,
		`return [a + b for a in ["x", "y"] for b in "pq".elems() if a + b != "yq"]`,
		`f = lambda x, y = "d" + "e": x * 2 + y
return f("ab")`,
		`x = 1
x += 2
x *= 3
x %= 5
return x`,
		`return "a" + 1`,
		`l = [1]
l[5] += 1`,
		`return {}["k"]`,
	} {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > 4096 {
			return
		}
		src := "def f():\n"
		for _, line := range strings.Split(body, "\n") {
			src += "    " + line + "\n"
		}
		src += "X = f()\n"
		pre := starlark.StringDict{"json": json.Module}

		gv, gerr := runFuzzProgram(src, guardedPredeclared(pre), true)
		if gerr != nil && (errors.Is(gerr, bindings.ErrBuildLimit) || errors.Is(gerr, bindings.ErrDepthLimit) ||
			errors.Is(gerr, bindings.ErrStepLimit) || strings.Contains(gerr.Error(), "too many steps") ||
			strings.Contains(gerr.Error(), "range: ")) {
			return
		}
		pv, perr := runFuzzProgram(src, pre, false)
		if perr != nil && strings.Contains(perr.Error(), "too many steps") {
			return
		}
		if errParse := (gerr != nil && strings.HasPrefix(gerr.Error(), "parse: ")); errParse {
			return
		}
		switch {
		case (gerr == nil) != (perr == nil):
			t.Fatalf("metered: %v, %v\nplain: %v, %v\nsource:\n%s", gv, gerr, pv, perr, src)
		case gerr == nil && gv != pv:
			t.Fatalf("metered result %s, plain result %s\nsource:\n%s", gv, pv, src)
		}
	})
}

// runFuzzProgram compiles and runs src and returns repr(X).
func runFuzzProgram(src string, pre starlark.StringDict, guard bool) (string, error) {
	file, err := fileOptions.Parse("f.star", src, 0)
	if err != nil {
		return "", errors.New("parse: " + err.Error())
	}
	if guard {
		guardFile(file)
	}
	prog, err := starlark.FileProgram(file, pre.Has)
	if err != nil {
		return "", errors.New("parse: " + err.Error())
	}
	thread := &starlark.Thread{Name: "fuzz"}
	const steps = 20000
	thread.SetMaxExecutionSteps(steps)
	bindings.BindBudget(thread, &bindings.Budget{MaxBuild: 1 << 20, MaxDepth: 100, StepLimit: steps})
	globals, err := prog.Init(thread, pre)
	if err != nil {
		return "", err
	}
	x, ok := globals["X"]
	if !ok { // a NUL ends the source early
		return "<no X>", nil
	}
	return x.String(), nil
}
