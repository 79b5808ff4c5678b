package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// runHandler compiles body as the indented body of on_request(req, conf)
// (after prelude at the top level) and runs it once on newRequest(1).
func runHandler(t *testing.T, cfg engine.Config, prelude, body string) (engine.Result, *bindings.Decision) {
	t.Helper()
	src := prelude + "\ndef on_request(req, conf):\n"
	for _, line := range strings.Split(strings.Trim(body, "\n"), "\n") {
		src += "    " + line + "\n"
	}
	e, _ := newEngine(t, cfg, map[string]string{"s": src})
	chain := newChain(t, e, []string{"s"}, nil)
	var d bindings.Decision
	res := e.RunRequest(chain, newRequest(1), &d)
	return res, &d
}

// changedHeader returns the value of the request header change name in d.
func changedHeader(d *bindings.Decision, name string) string {
	for _, kv := range d.ReqHeaders {
		if kv.Name == name {
			return kv.Value
		}
	}
	return "<none>"
}

// TestMeteredSemantics: the rewritten operations mean what the bytecode
// meant.
func TestMeteredSemantics(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"str concat", `x = "a" + req.method`, "aGET"},
		{"int add", `x = str(len(req.path) + len(req.method))`, "13"},
		{"list concat", `x = str([1] + [2, 3])`, "[1, 2, 3]"},
		{"tuple concat", `x = str((1,) + (2,))`, "(1, 2)"},
		{"repeat", `x = "ab" * 3 + "-" + str([0] * 2) + str(3 * (1,))`, "ababab-[0, 0](1, 1, 1)"},
		{"int mul", `n = 7
x = str(n * 6)`, "42"},
		{"big int mul", `n = 1 << 100
x = str(n * n == 1 << 200)`, "True"},
		{"format percent", `x = "%s-%d-%r" % ("a", 1, "q")`, `a-1-"q"`},
		{"format single", `f = "<%s>"
x = f % req.method`, "<GET>"},
		{"int modulo", `n = 17
x = str(n % 5)`, "2"},
		{"+= list in place", `l = [1]
m = l
m += [2]
x = str(l)`, "[1, 2]"},
		{"+= list extends with any iterable", `l = [1]
l += (2, 3)
x = str(l)`, "[1, 2, 3]"},
		{"+= tuple makes a new one", `t = (1,)
u = t
u += (2,)
x = str(t) + str(u)`, "(1,)(1, 2)"},
		{"+= string", `s = "a"
s += req.method
x = s`, "aGET"},
		{"*= and %=", `s = "ab"
s *= 2
f = "<%s>"
f %= s
x = f`, "<abab>"},
		{"+= int", `n = 1
n += 41
x = str(n)`, "42"},
		{"+= on an index", `d = {"a": [1], "s": "x"}
d["a"] += [2]
d["s"] += "y"
l = [1, 2]
l[-1] *= 3
x = str(d) + str(l)`, `{"a": [1, 2], "s": "xy"}[1, 6]`},
		{"+= on an index evaluates once", `calls = []
def k():
    calls.append(1)
    return "a"
d = {"a": "x"}
d[k()] += "y"
x = d["a"] + str(len(calls))`, "xy1"},
		{"+= on a field", `req.path += "/more"
x = req.path`, "/api/items/more"},
		{"join replace format extend", `l = [1]
l.extend([2])
x = ",".join(["a", "b"]) + "aXbX".replace("X", "yy") + "{}{b}".format(1, b = 2) + str(l)`, "a,bayybyy12[1, 2]"},
		{"list += itself", `l = [1, 2]
l += l
x = str(l)`, "[1, 2, 1, 2]"},
		{"extend itself", `l = [1, 2]
l.extend(l)
x = str(l)`, "[1, 2, 1, 2]"},
		{"bound metered methods", `j = ",".join
l = [1]
e = l.extend
e([2])
x = j(["a", "b"]) + getattr("a-b", "replace")("-", "+") + str(l) + str(hasattr("", "join"))`, "a,ba+b[1, 2]True"},
		{"str repr range sorted", `x = str(1) + repr("a") + str(list(range(3))) + str(sorted([3, 1, 2], reverse = True))`, `1"a"[0, 1, 2][3, 2, 1]`},
		{"json", `x = json.encode(json.decode('{"a": [1, 2]}')) + json.indent('[1]', indent = "").replace("\n", "|")`, `{"a":[1,2]}[|1|]`},
		{"comprehension and lambda", `f = lambda a, b = "x" + "y": a + b
x = "".join([f(c) for c in ["1", "2"] if c + "" != "3"])`, "1xy2xy"},
		{"kwargs and star args", `args = ["a"] + ["b"]
kw = {"sep": "-"}
x = "{}{}".format(*args) + str(dict(**kw))`, `ab{"sep": "-"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, d := runHandler(t, engine.Config{}, "", tc.body+"\nreq.headers.set(\"x\", x)")
			if res.Err != nil {
				t.Fatalf("got error %v\n%s", res.Err, res.Err.Backtrace)
			}
			if got := changedHeader(d, "x"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMeteredErrors: errors of rewritten operations read as before.
func TestMeteredErrors(t *testing.T) {
	tests := []struct{ name, prelude, body, want string }{
		{"bad operands", "", `x = "a" + len(req.path)`, "unknown binary op: string + int"},
		{"bad repeat", "", `x = "a" * "b"`, "unknown binary op: string * string"},
		{"frozen list +=", "L = [1]", `l = L
l += [2]`, "cannot apply += to frozen list"},
		{"frozen dict item", "D = {\"a\": \"x\"}", `d = D
d["a"] += "y"`, "frozen"},
		{"missing key", "", `d = {}
d["a"] += "y"`, `key "a" not in dict`},
		{"index out of range", "", `l = []
l[0] += "y"`, "out of range"},
		{"read-only field", "", `req.method += "x"`, "request.method is read-only"},
		{"missing method", "", `x = req.headers.join(["a"])`, "has no .join field or method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := runHandler(t, engine.Config{}, tc.prelude, tc.body)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", res.Err, tc.want)
			}
		})
	}
}

// TestBuildLimit: each way of building much from little fails the call
// before the memory is allocated.
func TestBuildLimit(t *testing.T) {
	const limit = 1 << 20
	tests := []struct{ name, body, want string }{
		{"doubling", `s = "x"
while True:
    s = s + s`, "+: would build"},
		{"doubling +=", `s = "x"
while True:
    s += s`, "+: would build"},
		{"repetition", `s = "x" * 1000000000`, "*: would build 1000000000 bytes"},
		{"repetition too large for starlark", `s = "x" * 2000000000`, "*: would build 2000000000 bytes"},
		{"list repetition", `l = [0] * 1000000`, "*: would build 16000000 bytes"},
		{"list doubling", `l = [0]
while True:
    l += l`, "+=: would build"},
		{"extend doubling", `l = [0]
while True:
    l.extend(l)`, "list.extend: would build"},
		{"index doubling", `d = {"a": "x"}
while True:
    d["a"] += d["a"]`, "+: would build"},
		{"big int squaring", `n = 1 << 500
while True:
    n = n * n`, "*: needs about"},
		{"join amplification", `s = "x" * 100000
x = s.join([""] * 100)`, "string.join: would build 9900000 bytes"},
		{"replace amplification", `s = "x" * 100000
x = ("a" * 1000).replace("a", s)`, "string.replace: would build"},
		{"join through a bound method", `s = "x" * 100000
j = s.join
x = j([""] * 100)`, "string.join: would build 9900000 bytes"},
		{"join through getattr", `s = "x" * 100000
x = getattr(s, "join")([""] * 100)`, "string.join: would build 9900000 bytes"},
		{"extend through a bound method", `l = [0]
while True:
    e = l.extend
    e(l)`, "list.extend: would build"},
		{"format amplification", `s = "x" * 100000
x = ("{0}" * 100).format(s)`, "string.format: would build"},
		{"percent amplification", `s = "x" * 10000
x = "%s" % ([s] * 1000,)`, "%: would build"},
		{"str of shared references", `s = "x" * 10000
x = str([s] * 1000)`, "str: would build"},
		{"json.encode of shared references", `s = "x" * 10000
x = json.encode([s] * 1000)`, "json.encode: would build"},
		{"respond json of shared references", `s = "x" * 10000
return respond(200, json = [s] * 1000)`, "json.encode: would build"},
		{"range materialized", `l = list(range(1000000000))`, "range: 1000000000 elements are more than max_build_bytes allows"},
		{"huge comprehension", `l = [i for i in range(1000000000)]`, "range: 1000000000 elements"},
		{"cumulative", `parts = []
for i in range(20):
    parts.append("x" * 100000)`, "*: would build 100000 bytes, but only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A generous timeout: the cap, not the clock, must stop these.
			res, d := runHandler(t, engine.Config{MaxBuildBytes: limit, Timeout: 20 * time.Second}, "", tc.body)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", res.Err, tc.want)
			}
			if !errors.Is(res.Err, bindings.ErrBuildLimit) && !strings.Contains(tc.want, "range") && !errors.Is(res.Err, bindings.ErrStepLimit) {
				t.Errorf("got error %v, want it to wrap ErrBuildLimit", res.Err)
			}
			checkErrorStop(t, d, 500, 1)
		})
	}
}

// TestDepthLimit: values nested deeper than max_depth never reach a
// recursive builtin, and the call depth is checked at metered
// operations.
func TestDepthLimit(t *testing.T) {
	tests := []struct{ name, prelude, body, want string }{
		{"json.decode", "", `x = json.decode("[" * 100 + "]" * 100)`, "json.decode: JSON nests deeper than max_depth (50)"},
		{"json.decode huge", "", `x = json.decode("[" * 5000000)`, "JSON nests deeper than max_depth"},
		{"req.json", "", `x = req.json()`, "JSON nests deeper than max_depth"},
		{"json.encode", "", `l = []
for i in range(100):
    l = [l]
x = json.encode(l)`, "json.encode: value nests deeper than max_depth (50)"},
		{"str", "", `l = []
for i in range(100):
    l = [l]
x = str(l)`, "str: value nests deeper than max_depth"},
		{"call depth", gen60Calls(), `f0()`, "call depth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.prelude + "\nLIMITS = {\"max_depth\": 50}\ndef on_request(req, conf):\n"
			for _, line := range strings.Split(tc.body, "\n") {
				src += "    " + line + "\n"
			}
			e, _ := newEngine(t, engine.Config{}, map[string]string{"s": src})
			chain := newChain(t, e, []string{"s"}, nil)
			req := newRequest(1)
			req.body = []byte(strings.Repeat("[", 1<<20))
			var d bindings.Decision
			res := e.RunRequest(chain, req, &d)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", res.Err, tc.want)
			}
			if !errors.Is(res.Err, bindings.ErrDepthLimit) {
				t.Errorf("got error %v, want it to wrap ErrDepthLimit", res.Err)
			}
		})
	}
}

// gen60Calls defines f0 … f59, each calling the next; f59 does a
// metered operation.
func gen60Calls() string {
	var b strings.Builder
	for i := range 60 {
		b.WriteString("def f" + itoa(i) + "():\n")
		if i == 59 {
			b.WriteString("    return \"a\" + str(1)\n")
		} else {
			b.WriteString("    return f" + itoa(i+1) + "()\n")
		}
	}
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestSortedSteps: sorted() charges n·log2(n) steps before sorting.
func TestSortedSteps(t *testing.T) {
	res, _ := runHandler(t, engine.Config{}, "", `x = sorted([3, 1, 2] * 100000)`)
	if res.Err == nil || !errors.Is(res.Err, bindings.ErrStepLimit) {
		t.Fatalf("got error %v, want the step budget exceeded", res.Err)
	}
	res, _ = runHandler(t, engine.Config{}, "", `x = sorted([3, 1, 2] * 100)`)
	if res.Err != nil {
		t.Fatalf("got error %v, want sorting 300 elements to fit", res.Err)
	}
	if res.Steps < 300*9 {
		t.Errorf("got %d steps, want sorted's n·log2(n) charged", res.Steps)
	}
}

// TestResponseLimit: max_response_bytes applies to what a handler leaves
// to send, in both phases, and to a Stop.
func TestResponseLimit(t *testing.T) {
	res, _ := runHandler(t, engine.Config{MaxResponseBytes: 100}, "", `req.set_body("x" * 101)`)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "more than max_response_bytes (100)") {
		t.Fatalf("got error %v, want max_response_bytes exceeded", res.Err)
	}
	res, _ = runHandler(t, engine.Config{MaxResponseBytes: 100}, "", `return respond(200, body = "x" * 99, headers = {"a": "b"})`)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "101 bytes") {
		t.Fatalf("got error %v, want a 101-byte Stop refused", res.Err)
	}
	res, _ = runHandler(t, engine.Config{MaxResponseBytes: 100}, "LIMITS = {\"max_response_bytes\": 1000}", `req.headers.set("x", "y" * 500)`)
	if res.Err != nil {
		t.Fatalf("got error %v, want the script's LIMITS to raise the cap", res.Err)
	}

	e, _ := newEngine(t, engine.Config{MaxResponseBytes: 100}, map[string]string{
		"big": "def on_response(resp, conf):\n    resp.headers.set(\"x-big\", \"y\" * 100)\n",
	})
	chain := newChain(t, e, []string{"big"}, nil)
	var d bindings.Decision
	res = e.RunResponse(chain, newResponse(2), &d)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "max_response_bytes") {
		t.Fatalf("response phase: got error %v, want max_response_bytes exceeded", res.Err)
	}
}
