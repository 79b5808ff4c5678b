package engine_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

var chainScripts = map[string]string{
	"a": `
def on_request(req, conf):
    req.path = "/a" + req.path
    req.headers.set("x-a", "1")
    req.args.add("page", "3")
    req.set_body("A")
`,
	"b": `
def on_request(req, conf):
    seen = "|".join([req.path, req.headers.get("x-a", "-"), ",".join(req.args.get_all("page")), req.text()])
    req.headers.set("x-b", seen)
`,
	"resp_only": `
def on_response(resp, conf):
    fail("must not run in the request phase")
`,
	"stop": `
def on_request(req, conf):
    req.set_response_header("x-trace", "t")
    if "x-deny" in req.headers:
        return respond(401, body = "denied", headers = {"www-authenticate": "Bearer"})
`,
	"after": `
def on_request(req, conf):
    req.headers.set("x-after", "1")
`,
	"noop": `
def on_request(req, conf):
    x = req.headers.get("host")
`,
}

func TestRunRequestChain(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, chainScripts)
	kv := func(name, value string) bindings.KV { return bindings.KV{Name: name, Value: value, HasValue: true} }
	tests := []struct {
		name        string
		chain       []string
		deny        bool
		wantOutcome engine.Outcome
		wantDec     bindings.Decision
	}{
		{name: "empty chain", wantOutcome: engine.Continue},
		{name: "no change", chain: []string{"noop", "resp_only"}, wantOutcome: engine.Continue},
		{
			name: "later scripts see earlier changes", chain: []string{"a", "resp_only", "b"}, wantOutcome: engine.Rewrite,
			wantDec: bindings.Decision{
				Path: "/a/api/items", PathSet: true,
				ReqHeaders: []bindings.KV{kv("x-a", "1"), kv("x-b", "/a/api/items|1|2,3|A")},
				Args:       []bindings.KV{kv("page", "2"), kv("page", "3")},
				Body:       []byte("A"), BodySet: true,
			},
		},
		{
			name: "order matters", chain: []string{"b", "a"}, wantOutcome: engine.Rewrite,
			wantDec: bindings.Decision{
				Path: "/a/api/items", PathSet: true,
				ReqHeaders: []bindings.KV{kv("x-b", "/api/items|-|2|"), kv("x-a", "1")},
				Args:       []bindings.KV{kv("page", "2"), kv("page", "3")},
				Body:       []byte("A"), BodySet: true,
			},
		},
		{
			name: "stop ends the chain", chain: []string{"a", "stop", "after"}, deny: true, wantOutcome: engine.Stopped,
			wantDec: bindings.Decision{Stop: true, Status: 401, Body: []byte("denied"),
				Headers: []bindings.KV{kv("x-trace", "t"), kv("www-authenticate", "Bearer")}},
		},
		{
			name: "allowed continues", chain: []string{"stop", "after"}, wantOutcome: engine.Rewrite,
			wantDec: bindings.Decision{ReqHeaders: []bindings.KV{kv("x-after", "1")}, RespHeaders: []bindings.KV{kv("x-trace", "t")}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chain := newChain(t, e, tc.chain, nil)
			req := newRequest(9)
			if tc.deny {
				req.headers.list = append(req.headers.list, entry{name: []byte("x-deny"), value: []byte("1"), hasValue: true})
			}
			var d bindings.Decision
			res := e.RunRequest(chain, req, &d)
			if res.Outcome != tc.wantOutcome {
				t.Fatalf("got outcome %v (%v), want %v", res.Outcome, res.Err, tc.wantOutcome)
			}
			if res.Err != nil {
				t.Errorf("got error %v, want none", res.Err)
			}
			if !decisionEqual(&d, &tc.wantDec) {
				t.Errorf("got decision %+v, want %+v", d, tc.wantDec)
			}
		})
	}
}

func decisionEqual(a, b *bindings.Decision) bool {
	return a.Stop == b.Stop && a.Status == b.Status && string(a.Body) == string(b.Body) &&
		a.Path == b.Path && a.PathSet == b.PathSet && a.BodySet == b.BodySet &&
		kvsEqual(a.Headers, b.Headers) && kvsEqual(a.ReqHeaders, b.ReqHeaders) &&
		kvsEqual(a.Args, b.Args) && kvsEqual(a.RespHeaders, b.RespHeaders)
}

// checkErrorStop checks the Stop a failed call answers with: the error
// status and a short body that names the request but no internals.
func checkErrorStop(t *testing.T, d *bindings.Decision, status int, id uint32) {
	t.Helper()
	if !d.Stop || d.Status != status {
		t.Errorf("got stop=%v status %d, want a stop with %d", d.Stop, d.Status, status)
	}
	body := string(d.Body)
	if len(body) > 256 {
		t.Errorf("got a body of %d bytes, want at most 256", len(body))
	}
	if !strings.Contains(body, strconv.FormatUint(uint64(id), 10)) {
		t.Errorf("got body %q, want it to name request %d", body, id)
	}
	for _, leak := range []string{"bad", ".star", "on_request", "on_response", "Traceback", "goroutine", "panic", "secret", "\tat "} {
		if strings.Contains(body, leak) {
			t.Errorf("got body %q, want no %q in it", body, leak)
		}
	}
	if d.PathSet || d.BodySet || len(d.ReqHeaders) > 0 || len(d.Args) > 0 || len(d.RespHeaders) > 0 {
		t.Errorf("got rewrite fields in an error stop: %+v", d)
	}
}

func TestRunRequestErrors(t *testing.T) {
	tests := []struct {
		name        string
		src         string
		wantOutcome engine.Outcome
		wantErr     string
	}{
		{name: "returns a string", src: "def on_request(req, conf):\n    return \"secret\"\n", wantOutcome: engine.Failed,
			wantErr: "bad return value: on_request returned string; want None or respond(...)"},
		{name: "returns a dict", src: "def on_request(req, conf):\n    return {\"status\": 403}\n", wantOutcome: engine.Failed, wantErr: "on_request returned dict"},
		{name: "fail", src: "def on_request(req, conf):\n    req.headers.set(\"x-a\", \"1\")\n    fail(\"secret detail\")\n", wantOutcome: engine.Failed, wantErr: "fail: secret detail"},
		{name: "runtime error", src: "def on_request(req, conf):\n    return 1 // 0\n", wantOutcome: engine.Failed, wantErr: "floored division by zero"},
		{name: "recursion", src: "def f(n):\n    return f(n)\ndef on_request(req, conf):\n    f(1)\n", wantOutcome: engine.Failed, wantErr: "function f called recursively"},
		{name: "frozen global", src: "SEEN = []\ndef on_request(req, conf):\n    SEEN.append(1)\n", wantOutcome: engine.Failed, wantErr: "frozen list"},
		{name: "endless loop", src: "def on_request(req, conf):\n    while True:\n        pass\n", wantOutcome: engine.Failed, wantErr: "too many steps"},
		{name: "endless loop with small budget", src: "LIMITS = {\"steps\": 1000}\ndef on_request(req, conf):\n    while True:\n        pass\n",
			wantOutcome: engine.Failed, wantErr: "too many steps"},
		{name: "dropped response header", src: "def on_request(req, conf):\n    req.set_response_header(\"Content-Type\", \"text/plain\")\n",
			wantOutcome: engine.Failed, wantErr: `APISIX drops "Content-Type"`},
		{name: "body over the cap", src: "LIMITS = {\"max_body_bytes\": 4}\ndef on_request(req, conf):\n    req.body()\n",
			wantOutcome: engine.Failed, wantErr: "exceeds the limit of 4 bytes"},
		{name: "timeout", src: "LIMITS = {\"steps\": 1000000000, \"timeout_ms\": 20}\ndef on_request(req, conf):\n    while True:\n        pass\n",
			wantOutcome: engine.TimedOut, wantErr: "cancelled: timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, engine.Config{}, map[string]string{"bad": tc.src})
			chain := newChain(t, e, []string{"bad"}, nil)
			req := newRequest(4242)
			req.body = []byte("a body of more than 4 bytes")
			var d bindings.Decision
			start := time.Now()
			res := e.RunRequest(chain, req, &d)
			elapsed := time.Since(start)
			if res.Outcome != tc.wantOutcome {
				t.Fatalf("got outcome %v (%v), want %v", res.Outcome, res.Err, tc.wantOutcome)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", res.Err, tc.wantErr)
			}
			if se := res.Err; se.Script != "bad" || se.Phase != "request" || len(se.Version) != 12 || se.Timeout != (tc.wantOutcome == engine.TimedOut) {
				t.Errorf("got script %q phase %q version %q timeout %v, want bad, request, a version, %v",
					se.Script, se.Phase, se.Version, se.Timeout, tc.wantOutcome == engine.TimedOut)
			}
			checkErrorStop(t, &d, engine.DefaultErrorStatus, req.id)
			if tc.wantOutcome == engine.Failed && elapsed > 5*time.Second {
				t.Errorf("took %v, want the step budget to stop the call quickly", elapsed)
			}
		})
	}
}

// TestStepBudget checks that an endless loop ends on its step budget:
// the steps reported are the budget, not more.
func TestStepBudget(t *testing.T) {
	src := "LIMITS = {\"steps\": 5000}\ndef on_request(req, conf):\n    while True:\n        pass\n"
	e, _ := newEngine(t, engine.Config{}, map[string]string{"loop": src})
	chain := newChain(t, e, []string{"loop"}, nil)
	var d bindings.Decision
	for i := range 3 { // the budget is per call on a reused thread
		res := e.RunRequest(chain, newRequest(1), &d)
		if res.Outcome != engine.Failed {
			t.Fatalf("call %d: got outcome %v, want error", i, res.Outcome)
		}
		if res.Steps < 4990 || res.Steps > 5000 {
			t.Errorf("call %d: got %d steps, want the budget of 5000", i, res.Steps)
		}
	}
}

func TestRunRequestErrorStatus(t *testing.T) {
	e, _ := newEngine(t, engine.Config{ErrorStatus: 503}, map[string]string{"bad": "def on_request(req, conf):\n    fail(\"x\")\n"})
	var d bindings.Decision
	res := e.RunRequest(newChain(t, e, []string{"bad"}, nil), newRequest(77), &d)
	if res.Outcome != engine.Failed {
		t.Fatalf("got outcome %v, want error", res.Outcome)
	}
	checkErrorStop(t, &d, 503, 77)
}

// TestErrorBacktrace checks that the log-only error keeps the Starlark
// backtrace.
func TestErrorBacktrace(t *testing.T) {
	src := "def helper(x):\n    fail(\"boom\")\n\ndef on_request(req, conf):\n    helper(1)\n"
	e, _ := newEngine(t, engine.Config{}, map[string]string{"bt": src})
	var d bindings.Decision
	res := e.RunRequest(newChain(t, e, []string{"bt"}, nil), newRequest(1), &d)
	if res.Err == nil {
		t.Fatalf("got no error, want one")
	}
	for _, want := range []string{"bt.star:5:11: in on_request", "bt.star:2:9: in helper"} {
		if !strings.Contains(res.Err.Backtrace, want) {
			t.Errorf("got backtrace %q, want it to contain %q", res.Err.Backtrace, want)
		}
	}
}

func TestResultSteps(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, chainScripts)
	var d bindings.Decision
	one := e.RunRequest(newChain(t, e, []string{"a"}, nil), newRequest(1), &d)
	two := e.RunRequest(newChain(t, e, []string{"a", "b"}, nil), newRequest(1), &d)
	if one.Steps == 0 {
		t.Errorf("got 0 steps, want more")
	}
	if two.Steps <= one.Steps {
		t.Errorf("got %d steps for two scripts and %d for one, want more for two", two.Steps, one.Steps)
	}
}

// slowFetcher is a host whose var() answer takes a while, like a slow
// ExtraInfo round trip. A builtin cannot be interrupted, but the call
// must still end as a timeout once it returns.
type slowFetcher struct {
	request
	delay time.Duration
}

func (s *slowFetcher) Var(name string) ([]byte, bool, error) {
	<-time.After(s.delay)
	return []byte("v"), true, nil
}

func TestTimeoutInBuiltin(t *testing.T) {
	src := "LIMITS = {\"timeout_ms\": 5}\ndef on_request(req, conf):\n    req.headers.set(\"x-v\", req.var(\"slow\"))\n"
	e, _ := newEngine(t, engine.Config{}, map[string]string{"slow": src})
	chain := newChain(t, e, []string{"slow"}, nil)
	req := &slowFetcher{request: *newRequest(5), delay: 50 * time.Millisecond}
	var d bindings.Decision
	res := e.RunRequest(chain, req, &d)
	if res.Outcome != engine.TimedOut {
		t.Fatalf("got outcome %v (%v), want timeout", res.Outcome, res.Err)
	}
	checkErrorStop(t, &d, 500, 5)
}

// countTo is a handler that counts to the request's var "n" within a
// timeout of timeoutMS: with a calibrated n it runs for a chosen time.
func countTo(timeoutMS int) string {
	return fmt.Sprintf(`
LIMITS = {"steps": 1000000000, "timeout_ms": %d}
def on_request(req, conf):
    n = int(req.var("n"))
    i = 0
    while i < n:
        i += 1
`, timeoutMS)
}

// TestLateCancellation is the regression test for a deadline timer that
// fires just as a handler returns: it must not cancel the next handler
// of the chain, nor a later call that reuses the pooled thread.
func TestLateCancellation(t *testing.T) {
	scripts := map[string]string{
		"edge":  countTo(1),
		"calib": countTo(60000),
		"slow": `
LIMITS = {"steps": 1000000000, "timeout_ms": 2}
def on_request(req, conf):
    while True:
        pass
`,
		"work": `
LIMITS = {"timeout_ms": 60000}
def on_request(req, conf):
    i = 0
    while i < 3000:
        i += 1
    req.headers.set("x-done", "1")
`,
	}
	checkGoroutines(t, func() {
		e, _ := newEngine(t, engine.Config{}, scripts)
		var d bindings.Decision
		run := func(chain engine.Chain, n int) engine.Result {
			req := newRequest(uint32(n))
			req.vars = map[string]string{"n": strconv.Itoa(n)}
			return e.RunRequest(chain, req, &d)
		}

		t.Run("next call", func(t *testing.T) {
			slow := newChain(t, e, []string{"slow"}, nil)
			work := newChain(t, e, []string{"work"}, nil)
			for i := range 30 {
				if res := run(slow, i); res.Outcome != engine.TimedOut {
					t.Fatalf("round %d: slow: got outcome %v (%v), want timeout", i, res.Outcome, res.Err)
				}
				for j := range 5 {
					if res := run(work, j); res.Outcome != engine.Rewrite {
						t.Fatalf("round %d call %d: got outcome %v (%v), want rewrite", i, j, res.Outcome, res.Err)
					}
				}
			}
		})

		t.Run("next handler", func(t *testing.T) {
			// Loop counts sweep from 0.5 ms to two watchdog ticks past
			// the 1 ms deadline of "edge", the window in which the
			// watchdog cancels, so that it often does so as "edge"
			// returns.
			const n0 = 200_000
			calib := newChain(t, e, []string{"calib"}, nil)
			start := time.Now()
			if res := run(calib, n0); res.Outcome != engine.Continue {
				t.Fatalf("calibration: got outcome %v (%v), want continue", res.Outcome, res.Err)
			}
			perMS := int(float64(n0) / (float64(time.Since(start)) / float64(time.Millisecond)))
			chain := newChain(t, e, []string{"edge", "work"}, nil)
			const rounds = 150
			span := perMS * int((2*engine.WatchdogTick+time.Millisecond)/time.Millisecond)
			var inTime, timedOut int
			for i := range rounds {
				n := perMS/2 + span*i/rounds
				res := run(chain, n)
				switch {
				case res.Outcome == engine.Rewrite:
					inTime++
				case res.Outcome == engine.TimedOut && res.Err.Script == "edge":
					timedOut++
				default:
					t.Fatalf("n=%d: got outcome %v in script %q (%v), want rewrite or a timeout of edge",
						n, res.Outcome, res.Err.Script, res.Err)
				}
			}
			t.Logf("%d iterations per ms; %d in time, %d timed out", perMS, inTime, timedOut)
		})
	})
}

// panicky is a host request whose header accessor panics.
func panicky(id uint32) *request {
	r := newRequest(id)
	r.headers.panicAt = true
	return r
}

func TestPanicInHost(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"read":  "def on_request(req, conf):\n    req.headers.get(\"host\")\n",
		"blind": "def on_response(resp, conf):\n    resp.status = 201\n",
		"ok":    "def on_request(req, conf):\n    req.headers.set(\"x-ok\", req.headers.get(\"host\"))\n",
	})
	read := newChain(t, e, []string{"read"}, nil)
	blind := newChain(t, e, []string{"blind"}, nil)
	ok := newChain(t, e, []string{"ok"}, nil)
	var d bindings.Decision
	for i := range 3 {
		res := e.RunRequest(read, panicky(11), &d)
		if res.Outcome != engine.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "fake: At failed") {
			t.Fatalf("round %d: got outcome %v (%v), want an error from the panic", i, res.Outcome, res.Err)
		}
		if !strings.Contains(res.Err.Backtrace, "goroutine") {
			t.Errorf("got backtrace %q, want the Go stack of the panic", res.Err.Backtrace)
		}
		checkErrorStop(t, &d, 500, 11)

		// The response phase reads the host headers after the handler,
		// to build the complete list.
		resp := newResponse(12)
		resp.headers.panicAt = true
		res = e.RunResponse(blind, resp, &d)
		if res.Outcome != engine.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "fake: At failed") {
			t.Fatalf("round %d: response: got outcome %v (%v), want an error from the panic", i, res.Outcome, res.Err)
		}
		checkErrorStop(t, &d, 500, 12)

		res = e.RunRequest(ok, newRequest(13), &d)
		if res.Outcome != engine.Rewrite || len(d.ReqHeaders) != 1 || d.ReqHeaders[0].Value != "example.com" {
			t.Fatalf("round %d: after a panic: got outcome %v (%v) headers %v, want a rewrite", i, res.Outcome, res.Err, d.ReqHeaders)
		}
	}
}

var responseScripts = map[string]string{
	"status": `
def on_response(resp, conf):
    resp.status = 203
    resp.headers.add("Set-Cookie", "c=3")
    resp.headers.delete("x-up")
    resp.headers.set("X-New", "n")
`,
	"body": `
def on_response(resp, conf):
    resp.set_body(resp.text().upper())
`,
	"deny": `
def on_response(resp, conf):
    if resp.status == 200:
        return respond(502, json = {"error": "bad upstream"})
`,
	"req_only": `
def on_request(req, conf):
    fail("must not run in the response phase")
`,
	"bad": `
def on_response(resp, conf):
    return 1
`,
}

func TestRunResponse(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, responseScripts)
	kv := func(name, value string) bindings.KV { return bindings.KV{Name: name, Value: value, HasValue: true} }
	upstream := []bindings.KV{kv("Content-Type", "text/html"), kv("Set-Cookie", "a=1"), kv("Set-Cookie", "b=2"), kv("X-Up", "u")}
	tests := []struct {
		name        string
		chain       []string
		wantOutcome engine.Outcome
		wantDec     bindings.Decision
	}{
		{name: "empty chain sends the complete list", wantOutcome: engine.Rewrite, wantDec: bindings.Decision{Headers: upstream}},
		{name: "request-only script skipped", chain: []string{"req_only"}, wantOutcome: engine.Rewrite, wantDec: bindings.Decision{Headers: upstream}},
		{
			name: "status and headers", chain: []string{"req_only", "status"}, wantOutcome: engine.Rewrite,
			wantDec: bindings.Decision{Status: 203, Headers: []bindings.KV{
				kv("Content-Type", "text/html"), kv("Set-Cookie", "a=1"), kv("Set-Cookie", "b=2"), kv("Set-Cookie", "c=3"), kv("X-New", "n"),
			}},
		},
		{name: "body", chain: []string{"body"}, wantOutcome: engine.Rewrite,
			wantDec: bindings.Decision{Headers: upstream, Body: []byte("<P>HI</P>"), BodySet: true}},
		{
			name: "stop ends the chain", chain: []string{"deny", "status", "body"}, wantOutcome: engine.Stopped,
			wantDec: bindings.Decision{Stop: true, Status: 502, Body: []byte(`{"error":"bad upstream"}`),
				Headers: []bindings.KV{kv("content-type", "application/json")}},
		},
		{name: "bad return", chain: []string{"bad"}, wantOutcome: engine.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := newResponse(21)
			resp.body = []byte("<p>hi</p>")
			var d bindings.Decision
			res := e.RunResponse(newChain(t, e, tc.chain, nil), resp, &d)
			if res.Outcome != tc.wantOutcome {
				t.Fatalf("got outcome %v (%v), want %v", res.Outcome, res.Err, tc.wantOutcome)
			}
			if tc.wantOutcome == engine.Failed {
				if res.Err.Phase != "response" || !strings.Contains(res.Err.Error(), "on_response returned int") {
					t.Errorf("got error %v in phase %q, want a bad return in the response phase", res.Err, res.Err.Phase)
				}
				checkErrorStop(t, &d, 500, 21)
				return
			}
			if !decisionEqual(&d, &tc.wantDec) {
				t.Errorf("got decision %+v, want %+v", d, tc.wantDec)
			}
		})
	}
}

// TestConcurrentChains runs one chain from many goroutines, each with its
// own secret, and checks that no decision carries another's secret.
func TestConcurrentChains(t *testing.T) {
	scripts := map[string]string{
		"copy": `
def on_request(req, conf):
    s = req.headers.get("x-secret")
    if s.endswith("-0"):
        return respond(403, body = s)
    req.headers.set("x-copy", s)
    req.set_response_header("x-echo", s)
    req.path = "/s/" + s
`,
		"check": `
def on_request(req, conf):
    if req.headers.get("x-copy") != req.headers.get("x-secret"):
        fail("mixed up")
    req.args.set("s", req.var("secret"))
`,
	}
	checkGoroutines(t, func() {
		e, _ := newEngine(t, engine.Config{}, scripts)
		chain := newChain(t, e, []string{"copy", "check"}, nil)
		const workers, calls = 32, 60
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				var d bindings.Decision
				for c := range calls {
					secret := fmt.Sprintf("w%d-c%d-%d", w, c, c%3)
					req := newRequest(uint32(w*calls + c))
					req.headers.list = append(req.headers.list, entry{name: []byte("x-secret"), value: []byte(secret), hasValue: true})
					req.vars = map[string]string{"secret": secret}
					res := e.RunRequest(chain, req, &d)
					if err := checkSecret(res, &d, secret); err != nil {
						errs <- fmt.Errorf("worker %d call %d: %w", w, c, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func checkSecret(res engine.Result, d *bindings.Decision, secret string) error {
	if strings.HasSuffix(secret, "-0") {
		if res.Outcome != engine.Stopped || string(d.Body) != secret {
			return fmt.Errorf("got outcome %v body %q, want a stop with %q", res.Outcome, d.Body, secret)
		}
		return nil
	}
	if res.Outcome != engine.Rewrite {
		return fmt.Errorf("got outcome %v (%v), want rewrite", res.Outcome, res.Err)
	}
	want := bindings.Decision{
		Path: "/s/" + secret, PathSet: true,
		ReqHeaders:  []bindings.KV{{Name: "x-copy", Value: secret, HasValue: true}},
		Args:        []bindings.KV{{Name: "s", Value: secret, HasValue: true}},
		RespHeaders: []bindings.KV{{Name: "x-echo", Value: secret, HasValue: true}},
	}
	if !decisionEqual(d, &want) {
		return fmt.Errorf("got decision %+v, want %+v", *d, want)
	}
	return nil
}

// probe is a host request whose headers report, each time they are read,
// the state of a deadline timer held up by the engine's timer hook:
// x-fired is "yes" once the timer's function has started, x-released once
// the hook let it go on, and reading x-start tells the hook that the next
// handler runs.
type probe struct {
	request
	entered, started     chan struct{}
	enterOnce, startOnce sync.Once
	released             atomic.Bool
	probeHeaders         probeEntries
}

type probeEntries struct{ p *probe }

func (e *probeEntries) Len() int { return 3 }

func (e *probeEntries) At(i int) ([]byte, []byte, bool) {
	yes := func(b bool) []byte {
		if b {
			return []byte("yes")
		}
		return []byte("no")
	}
	switch i {
	case 0:
		select {
		case <-e.p.entered:
			return []byte("x-fired"), yes(true), true
		default:
			return []byte("x-fired"), yes(false), true
		}
	case 1:
		return []byte("x-released"), yes(e.p.released.Load()), true
	}
	e.p.startOnce.Do(func() { close(e.p.started) })
	return []byte("x-start"), []byte("1"), true
}

func (p *probe) Headers() bindings.Entries { return &p.probeHeaders }

// hook holds the timer's function until the next handler has started,
// or for at most 100 ms.
func (p *probe) hook() {
	p.enterOnce.Do(func() { close(p.entered) })
	select {
	case <-p.started:
	case <-time.After(100 * time.Millisecond):
	}
	p.released.Store(true)
}

// TestLateCancellationInChain is the deterministic regression test for a
// deadline timer whose function runs only after its handler returned: it
// must not cancel the next handler of the chain. "edge" outlives its
// 1 ms deadline while the timer's function is held up, so it returns
// successfully; "next" then runs while the function cancels the thread.
func TestLateCancellationInChain(t *testing.T) {
	scripts := map[string]string{
		"edge": `
LIMITS = {"steps": 1000000000, "timeout_ms": 1}
def on_request(req, conf):
    while req.headers.get("x-fired") != "yes":
        pass
`,
		"next": `
LIMITS = {"steps": 1000000000, "timeout_ms": 60000}
def on_request(req, conf):
    req.headers.get("x-start")
    while req.headers.get("x-released") != "yes":
        pass
    i = 0
    while i < 200000:
        i += 1
    req.headers.set("x-done", "1")
`,
	}
	checkGoroutines(t, func() {
		e, _ := newEngine(t, engine.Config{}, scripts)
		var cur atomic.Pointer[probe]
		engine.SetTimerHook(e, func() {
			if p := cur.Load(); p != nil {
				p.hook()
			}
		})
		chain := newChain(t, e, []string{"edge", "next"}, nil)
		for i := range 3 {
			p := &probe{request: *newRequest(uint32(i)), entered: make(chan struct{}), started: make(chan struct{})}
			p.probeHeaders.p = p
			cur.Store(p)
			var d bindings.Decision
			res := e.RunRequest(chain, p, &d)
			cur.Store(nil)
			if res.Outcome != engine.Rewrite {
				t.Fatalf("round %d: got outcome %v in script %q (%v), want rewrite", i, res.Outcome, scriptOf(res), res.Err)
			}
		}
	})
}

func scriptOf(res engine.Result) string {
	if res.Err == nil {
		return ""
	}
	return res.Err.Script
}

// TestDroppedHeaderCharged checks that a response header APISIX would
// drop from a Rewrite fails the call in the name of the script that set
// it, and is allowed when a later script stops.
func TestDroppedHeaderCharged(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"setter":    "def on_request(req, conf):\n    req.set_response_header(\"Location\", \"/elsewhere\")\n",
		"bystander": "def on_request(req, conf):\n    req.set_response_header(\"x-ok\", \"1\")\n",
		"stopper":   "def on_request(req, conf):\n    return respond(302)\n",
	})
	tests := []struct {
		name        string
		chain       []string
		wantOutcome engine.Outcome
		wantScript  string
	}{
		{name: "setter last", chain: []string{"bystander", "setter"}, wantOutcome: engine.Failed, wantScript: "setter"},
		{name: "setter first", chain: []string{"setter", "bystander"}, wantOutcome: engine.Failed, wantScript: "setter"},
		{name: "a later stop allows it", chain: []string{"setter", "stopper"}, wantOutcome: engine.Stopped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d bindings.Decision
			res := e.RunRequest(newChain(t, e, tc.chain, nil), newRequest(1007), &d)
			if res.Outcome != tc.wantOutcome || scriptOf(res) != tc.wantScript {
				t.Fatalf("got outcome %v in script %q (%v), want %v in %q", res.Outcome, scriptOf(res), res.Err, tc.wantOutcome, tc.wantScript)
			}
			if tc.wantOutcome == engine.Failed {
				if !strings.Contains(res.Err.Error(), `APISIX drops "Location"`) {
					t.Errorf("got error %v, want it to name Location", res.Err)
				}
				checkErrorStop(t, &d, 500, 1007)
				return
			}
			want := []bindings.KV{{Name: "Location", Value: "/elsewhere", HasValue: true}}
			if !kvsEqual(d.Headers, want) {
				t.Errorf("got stop headers %v, want %v", d.Headers, want)
			}
		})
	}
}

// TestRunResponseInexpressible checks the response-phase answers the
// protocol cannot carry: they fail instead of silently doing something
// else.
func TestRunResponseInexpressible(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, map[string]string{
		"nobody":  "def on_response(resp, conf):\n    return respond(403)\n",
		"empty":   "def on_response(resp, conf):\n    return respond(403, body = \"\")\n",
		"deleter": "def on_response(resp, conf):\n    for name in resp.headers.keys():\n        resp.headers.delete(name)\n",
		"noop":    "def on_response(resp, conf):\n    pass\n",
	})
	tests := []struct {
		name        string
		chain       []string
		upstream    []string // header name/value pairs
		wantOutcome engine.Outcome
		wantScript  string
		wantErr     string
		wantHeaders int
	}{
		{name: "respond without body", chain: []string{"nobody"}, upstream: []string{"X-A", "1"}, wantOutcome: engine.Failed, wantScript: "nobody",
			wantErr: "respond() in on_response needs a non-empty body"},
		{name: "respond with empty body", chain: []string{"empty"}, upstream: []string{"X-A", "1"}, wantOutcome: engine.Failed, wantScript: "empty",
			wantErr: "respond() in on_response needs a non-empty body"},
		{name: "every header deleted", chain: []string{"deleter", "noop"}, upstream: []string{"Set-Cookie", "tracking=1"}, wantOutcome: engine.Failed, wantScript: "deleter",
			wantErr: `would still send "Set-Cookie"`},
		{name: "only headers APISIX drops anyway deleted", chain: []string{"deleter"}, upstream: []string{"Content-Type", "text/html", "Server", "x", "Content-Length", "3"},
			wantOutcome: engine.Rewrite},
		{name: "only hop-by-hop headers", chain: []string{"noop"}, upstream: []string{"Content-Length", "3", "Keep-Alive", "timeout=5"}, wantOutcome: engine.Rewrite},
		{name: "no upstream headers", chain: []string{"deleter"}, wantOutcome: engine.Rewrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := newResponse(1211)
			resp.headers = makeEntries(tc.upstream...)
			var d bindings.Decision
			res := e.RunResponse(newChain(t, e, tc.chain, nil), resp, &d)
			if res.Outcome != tc.wantOutcome || scriptOf(res) != tc.wantScript {
				t.Fatalf("got outcome %v in script %q (%v), want %v in %q", res.Outcome, scriptOf(res), res.Err, tc.wantOutcome, tc.wantScript)
			}
			if tc.wantOutcome != engine.Failed {
				if len(d.Headers) != tc.wantHeaders {
					t.Errorf("got headers %v, want %d", d.Headers, tc.wantHeaders)
				}
				return
			}
			if !strings.Contains(res.Err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", res.Err, tc.wantErr)
			}
			checkErrorStop(t, &d, 500, 1211)
		})
	}
}
