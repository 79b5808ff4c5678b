package runner_test

import (
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// noLeaks fails t if goroutines started during the test outlive it. Call
// it first, so that its cleanup runs after every other (server shutdown,
// runner close).
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// bounded fails t if f allocates more than maxAlloc bytes or leaves the
// heap more than 32 MiB larger.
func bounded(t *testing.T, maxAlloc uint64, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
		t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
	}
	if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > 32<<20 {
		t.Errorf("heap grew by %d MiB, want at most 32 MiB", (after.HeapAlloc-before.HeapAlloc)>>20)
	}
}

// TestHostileScripts runs scripts that try to exhaust the runner through
// the real server, socket and fake APISIX: each ends as its own call's
// 500 with a log line naming the script, the runner's memory stays
// bounded, the next call succeeds, and no goroutine is left behind.
func TestHostileScripts(t *testing.T) {
	noLeaks(t)
	cases := []struct {
		name, src string
		body      string // request body APISIX answers with, if any
		want      string // in the logged error; alternatives split by |
	}{
		{name: "while true", src: "def on_request(req, conf):\n    while True:\n        pass\n", want: "too many steps"},
		{name: "string doubling", src: "def on_request(req, conf):\n    s = \"x\"\n    while True:\n        s = s + s\n", want: "max_build_bytes|cancelled: timeout"},
		{name: "recursion", src: "def f():\n    return f()\ndef on_request(req, conf):\n    f()\n", want: "called recursively"},
		{name: "huge comprehension", src: "def on_request(req, conf):\n    [i for i in range(1000000000)]\n", want: "range: 1000000000 elements"},
		{name: "2 GB repetition", src: "def on_request(req, conf):\n    \"x\" * 2000000000\n", want: "would build 2000000000 bytes"},
		{name: "1 GiB repetition", src: "def on_request(req, conf):\n    \"x\" * 1000000000\n", want: "would build 1000000000 bytes"},
		{name: "json.decode of deep nesting", src: "def on_request(req, conf):\n    json.decode(\"[\" * 5000000)\n", want: "JSON nests deeper than max_depth"},
		// 4 MiB of '[' from the client: before max_depth this overflowed
		// the Go stack, which kills the process.
		{name: "req.json of a deeply nested body", src: "def on_request(req, conf):\n    req.json()\n", body: strings.Repeat("[", 4<<20), want: "JSON nests deeper than max_depth"},
		{name: "sorted of a huge list", src: "def on_request(req, conf):\n    sorted([3, 1, 2] * 1000000)\n", want: "sorted|cancelled: timeout"},
		{name: "dict growth", src: "def on_request(req, conf):\n    d = {}\n    i = 0\n    while True:\n        d[i] = i\n        i += 1\n", want: "too many steps"},
		{name: "str amplification", src: "def on_request(req, conf):\n    s = \"x\" * 1000000\n    str([s] * 100000)\n", want: "max_build_bytes|cancelled: timeout"},
		{name: "oversized response", src: "def on_request(req, conf):\n    req.set_body(\"x\" * (13 << 20))\n", want: "max_response_bytes"},
		{name: "timeout", src: "LIMITS = {\"steps\": 1000000000000, \"timeout_ms\": 30}\ndef on_request(req, conf):\n    while True:\n        pass\n", want: "cancelled: timeout"},
	}
	scripts := map[string][]byte{"ok.star": []byte("def on_request(req, conf):\n    req.headers.set(\"x-ok\", \"1\")\n")}
	for i, c := range cases {
		scripts["h"+string(rune('a'+i))+".star"] = []byte(c.src)
	}
	h := runnertest.Start(t, scripts, engine.Config{})
	ok := func(t *testing.T) {
		t.Helper()
		got := h.Run(t, runnertest.Exchange{Confs: []runnertest.Conf{{Name: "ok", Value: []byte(`{}`)}},
			Request: &protocoltest.ReqCall{ID: 2, Path: "/"}})
		if got.Reply == nil || got.Reply.Rewrite == nil || len(got.Reply.Rewrite.Headers) != 1 {
			t.Fatalf("the next call: got %+v, want a rewrite", got.Reply)
		}
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "h" + string(rune('a'+i))
			x := runnertest.Exchange{Confs: []runnertest.Conf{{Name: name, Value: []byte(`{}`)}},
				Request: &protocoltest.ReqCall{ID: uint32(1000 + i), Method: "POST", Path: "/"}}
			if c.body != "" {
				x.Answers = &protocoltest.Answers{ReqBody: &c.body}
			}
			var got runnertest.Outcome
			bounded(t, 512<<20, func() { got = h.Run(t, x) })
			if got.Prepare != "ok" || got.Reply == nil || got.Reply.Stop == nil || got.Reply.Stop.Status != 500 {
				t.Fatalf("got %+v, want a 500 stop", got.Reply)
			}
			logs := h.LogText()
			found := false
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "script failed; answered with the error status") &&
					strings.Contains(line, `"script":"`+name+`"`) && containsAny(line, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("log has no failure of %s containing %q:\n%s", name, c.want, logs)
			}
			ok(t)
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
