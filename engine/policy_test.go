package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

var policyScripts = map[string]string{
	"first": `
def on_request(req, conf):
    req.headers.set("x-first", "1")

def on_response(resp, conf):
    resp.headers.set("x-first", "1")
`,
	// changes everything it can, then fails
	"broken": `
ON_ERROR = "continue"

def on_request(req, conf):
    req.path = "/broken"
    req.headers.set("x-first", "overwritten")
    req.headers.delete("host")
    req.args.set("page", "9")
    req.set_body("broken")
    req.set_response_header("x-broken", "1")
    fail("boom")

def on_response(resp, conf):
    resp.status = 599
    resp.headers.delete("set-cookie")
    resp.headers.set("x-first", "overwritten")
    resp.set_body("broken")
    fail("boom")
`,
	"looping": `
ON_ERROR = "continue"
LIMITS = {"timeout_ms": 20, "steps": 1000000000}

def on_request(req, conf):
    req.headers.set("x-looping", "1")
    while True:
        pass
`,
	"stopper": `
ON_ERROR = "continue"

def on_request(req, conf):
    return respond(403, body = "x" * 200)
`,
	"last": `
def on_request(req, conf):
    req.headers.set("x-last", req.headers.get("x-first", "-") + "|" + req.path + "|" + req.text())

def on_response(resp, conf):
    resp.headers.set("x-last", str(resp.status))
`,
	"closed": `
ON_ERROR = "closed"

def on_request(req, conf):
    fail("boom")
`,
	"plain_fail": `
def on_request(req, conf):
    req.headers.set("x-plain", "1")
    fail("boom")
`,
}

func TestOnErrorContinueRequest(t *testing.T) {
	e, _ := newEngine(t, engine.Config{MaxResponseBytes: 100}, policyScripts)
	chain := newChain(t, e, []string{"first", "broken", "looping", "stopper", "last"}, nil)
	req := newRequest(5)
	req.body = []byte("original")
	var d bindings.Decision
	res := e.RunRequest(chain, req, &d)
	if res.Err != nil || res.Outcome != engine.Rewrite {
		t.Fatalf("got outcome %v (%v), want a rewrite", res.Outcome, res.Err)
	}
	if len(res.Continued) != 3 {
		t.Fatalf("got %d continued failures, want 3 (broken, looping, stopper): %v", len(res.Continued), res.Continued)
	}
	for i, want := range []struct {
		script, err string
		timeout     bool
	}{{"broken", "boom", false}, {"looping", "cancelled", true}, {"stopper", "max_response_bytes", false}} {
		got := res.Continued[i]
		if got.Script != want.script || !strings.Contains(got.Error(), want.err) || got.Timeout != want.timeout || got.Policy != engine.OnErrorContinue {
			t.Errorf("continued[%d]: got %s %v timeout=%v policy=%v, want %s with %q timeout=%v", i, got.Script, got.Err, got.Timeout, got.Policy, want.script, want.err, want.timeout)
		}
		if got.Version == "" || got.Phase != "request" {
			t.Errorf("continued[%d]: got version %q phase %q", i, got.Version, got.Phase)
		}
	}
	// Nothing of broken, looping or stopper survives; "last" saw the
	// request as "first" left it.
	want := &bindings.Decision{ReqHeaders: []bindings.KV{
		{Name: "x-first", Value: "1", HasValue: true},
		{Name: "x-last", Value: "1|/api/items|original", HasValue: true},
	}}
	if !decisionEqual(&d, want) {
		t.Errorf("got decision %+v, want %+v", d, *want)
	}
}

func TestOnErrorContinueResponse(t *testing.T) {
	e, _ := newEngine(t, engine.Config{}, policyScripts)
	chain := newChain(t, e, []string{"first", "broken", "last"}, nil)
	var d bindings.Decision
	res := e.RunResponse(chain, newResponse(6), &d)
	if res.Err != nil || res.Outcome != engine.Rewrite || len(res.Continued) != 1 || res.Continued[0].Phase != "response" {
		t.Fatalf("got outcome %v (%v), continued %v; want a rewrite past one response failure", res.Outcome, res.Err, res.Continued)
	}
	if d.Status != 0 || d.BodySet {
		t.Errorf("got status %d body set %v, want the failed handler's status and body dropped", d.Status, d.BodySet)
	}
	var cookies int
	var last string
	for _, kv := range d.Headers {
		switch strings.ToLower(kv.Name) {
		case "set-cookie":
			cookies++
		case "x-first":
			if kv.Value != "1" {
				t.Errorf("got x-first %q, want the first script's value", kv.Value)
			}
		case "x-last":
			last = kv.Value
		}
	}
	if cookies != 2 || last != "200" {
		t.Errorf("got %d set-cookie and x-last %q, want 2 and \"200\": %+v", cookies, last, d.Headers)
	}
}

// TestOnErrorGlobal: the engine's policy applies to scripts without
// ON_ERROR; a script's ON_ERROR overrides it either way.
func TestOnErrorGlobal(t *testing.T) {
	e, _ := newEngine(t, engine.Config{OnError: engine.OnErrorContinue}, policyScripts)
	var d bindings.Decision

	res := e.RunRequest(newChain(t, e, []string{"plain_fail", "last"}, nil), newRequest(7), &d)
	if res.Err != nil || len(res.Continued) != 1 || res.Continued[0].Script != "plain_fail" {
		t.Fatalf("got %v, continued %v; want plain_fail passed over", res.Err, res.Continued)
	}
	if changedHeader(&d, "x-plain") != "<none>" || !strings.HasPrefix(changedHeader(&d, "x-last"), "-|") {
		t.Errorf("got %+v, want plain_fail's change dropped and last run", d.ReqHeaders)
	}

	res = e.RunRequest(newChain(t, e, []string{"closed", "last"}, nil), newRequest(8), &d)
	if res.Err == nil || res.Err.Script != "closed" || res.Err.Policy != engine.OnErrorClosed {
		t.Fatalf("got %v, want ON_ERROR = \"closed\" to fail the call", res.Err)
	}
	checkErrorStop(t, &d, 500, 8)

	closed, _ := newEngine(t, engine.Config{}, policyScripts)
	res = closed.RunRequest(newChain(t, closed, []string{"plain_fail", "last"}, nil), newRequest(9), &d)
	if res.Err == nil || res.Err.Script != "plain_fail" {
		t.Fatalf("got %v, want the default policy to fail the call", res.Err)
	}
}

// TestOnErrorContinueKeepsFetchedBody: a failed handler's body read stays
// cached (no second ExtraInfo), but its set_body does not.
func TestOnErrorContinueKeepsFetchedBody(t *testing.T) {
	e, _ := newEngine(t, engine.Config{Timeout: time.Second}, map[string]string{
		"reader": "ON_ERROR = \"continue\"\ndef on_request(req, conf):\n    req.body()\n    fail(\"after reading\")\n",
		"setter": "ON_ERROR = \"continue\"\ndef on_request(req, conf):\n    req.set_body(\"new\")\n    fail(\"after setting\")\n",
		"last":   policyScripts["last"],
	})
	req := newRequest(10)
	req.body = []byte("original")
	counting := &countingRequest{request: req}
	var d bindings.Decision
	res := e.RunRequest(newChain(t, e, []string{"reader", "setter", "last"}, nil), counting, &d)
	if res.Err != nil || len(res.Continued) != 2 {
		t.Fatalf("got %v, continued %v", res.Err, res.Continued)
	}
	if got := changedHeader(&d, "x-last"); !strings.HasSuffix(got, "|original") || d.BodySet {
		t.Errorf("got x-last %q, body set %v; want the original body, unchanged", got, d.BodySet)
	}
	if counting.bodies != 1 {
		t.Errorf("got %d body fetches, want 1", counting.bodies)
	}
}

type countingRequest struct {
	*request
	bodies int
}

func (c *countingRequest) Body() ([]byte, bool, error) {
	c.bodies++
	return c.request.Body()
}
