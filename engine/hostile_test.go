package engine_test

import (
	"runtime"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// hostileScripts are handlers that try to take the runner down: each
// must end as its own call's 500, within the limits, with the engine's
// memory bounded. want is a substring of the error.
var hostileScripts = []struct {
	name, src, want string
}{
	{"while true", "def on_request(req, conf):\n    while True:\n        pass\n", "too many steps"},
	// Doubling to 64 MiB allocates 128 MiB: on a slow machine the time
	// limit may end it first. TestBuildLimit checks the cap alone.
	{"string doubling", "def on_request(req, conf):\n    s = \"x\"\n    while True:\n        s = s + s\n", "max_build_bytes|cancelled: timeout"},
	{"string doubling +=", "def on_request(req, conf):\n    s = \"x\"\n    while True:\n        s += s\n", "max_build_bytes|cancelled: timeout"},
	{"list doubling", "def on_request(req, conf):\n    l = [0]\n    while True:\n        l.extend(l)\n", "max_build_bytes|cancelled: timeout"},
	{"big int squaring", "def on_request(req, conf):\n    n = 3\n    while True:\n        n = n * n\n", "step budget"},
	{"recursion", "def f():\n    return f()\ndef on_request(req, conf):\n    f()\n", "called recursively"},
	{"mutual recursion", "def f():\n    return g()\ndef g():\n    return f()\ndef on_request(req, conf):\n    f()\n", "called recursively"},
	{"huge comprehension", "def on_request(req, conf):\n    l = [i for i in range(1000000000)]\n", "range: 1000000000 elements"},
	{"1 GiB repetition", "def on_request(req, conf):\n    s = \"x\" * 1000000000\n", "would build 1000000000 bytes"},
	{"2 GB repetition", "def on_request(req, conf):\n    s = \"x\" * 2000000000\n", "would build 2000000000 bytes"},
	{"list repetition", "def on_request(req, conf):\n    l = [0] * 1000000000\n", "would build 16000000000 bytes"},
	{"json.decode of deep nesting", "def on_request(req, conf):\n    json.decode(\"[\" * 5000000)\n", "JSON nests deeper than max_depth"},
	{"json.encode of deep nesting", "def on_request(req, conf):\n    l = []\n    for i in range(10000):\n        l = [l]\n    json.encode(l)\n", "nests deeper than max_depth"},
	{"sorted of a huge list", "def on_request(req, conf):\n    sorted([3, 1, 2] * 1000000)\n", "sorted|cancelled: timeout"},
	{"sorted of a long list", "def on_request(req, conf):\n    sorted([3, 1, 2] * 300000)\n", "step budget|cancelled: timeout"},
	{"dict growth", "def on_request(req, conf):\n    d = {}\n    i = 0\n    while True:\n        d[i] = i\n        i += 1\n", "too many steps"},
	{"dict of big values", "def on_request(req, conf):\n    d = {}\n    s = \"x\" * 1000000\n    i = 0\n    while True:\n        d[i] = s + str(i)\n        i += 1\n", "max_build_bytes|cancelled: timeout"},
	{"join amplification", "def on_request(req, conf):\n    s = \"x\" * 1000000\n    s.join([\"\"] * 100000)\n", "max_build_bytes"},
	{"str amplification", "def on_request(req, conf):\n    s = \"x\" * 1000000\n    str([s] * 100000)\n", "max_build_bytes"},
	{"timeout", "LIMITS = {\"steps\": 1000000000000, \"timeout_ms\": 30}\ndef on_request(req, conf):\n    while True:\n        pass\n", "cancelled"},
	{"panic in a builtin", "def on_request(req, conf):\n    explode()\n", "internal error: panic: hostile builtin"},
}

// memCheck measures what f allocates and what it leaves on the heap.
func memCheck(t *testing.T, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	const maxAlloc, maxRetained = 512 << 20, 32 << 20
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
		t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
	}
	if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > maxRetained {
		t.Errorf("heap grew by %d MiB, want at most %d MiB", (after.HeapAlloc-before.HeapAlloc)>>20, maxRetained>>20)
	}
}

func TestHostileScripts(t *testing.T) {
	files := map[string]string{"ok": "def on_request(req, conf):\n    req.headers.set(\"x-ok\", \"1\")\n"}
	for i, h := range hostileScripts {
		files["h"+itoa(i)] = h.src
	}
	e, _ := newEngine(t, engine.Config{}, files)
	engine.AddBuiltin(e, "explode", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		panic("hostile builtin")
	})
	ok := newChain(t, e, []string{"ok"}, nil)
	for i, h := range hostileScripts {
		t.Run(h.name, func(t *testing.T) {
			chain := newChain(t, e, []string{"h" + itoa(i)}, nil)
			var d bindings.Decision
			var res engine.Result
			memCheck(t, func() { res = e.RunRequest(chain, newRequest(uint32(100+i)), &d) })
			if res.Err == nil || !containsAny(res.Err.Error(), h.want) {
				t.Fatalf("got outcome %v (%v), want an error containing %q", res.Outcome, res.Err, h.want)
			}
			checkErrorStop(t, &d, 500, uint32(100+i))
			if res := e.RunRequest(ok, newRequest(1), &d); res.Err != nil || changedHeader(&d, "x-ok") != "1" {
				t.Fatalf("the next call: got %v, want it to succeed", res.Err)
			}
		})
	}
}

// containsAny reports whether s contains one of the |-separated wants.
func containsAny(s, wants string) bool {
	for _, w := range strings.Split(wants, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
