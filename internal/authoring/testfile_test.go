package authoring

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeFiles writes name -> content into a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const echoScript = `
def on_request(req, conf):
    if conf.get("deny"):
        return respond(403, json = {"denied": req.path}, headers = {"set-cookie": ["a=1", "b=2"]})
    req.headers.set("x-method", req.method)
    req.headers.set("x-ip", req.src_ip)
    req.headers.set("x-id", str(req.id))
    req.headers.set("x-all", ",".join(req.headers.get_all("x-in")))
    req.headers.set("x-var", req.var("v", "-"))
    if "flag" in req.args:
        req.args.set("flag", "seen:" + req.args.get("flag"))
    if req.method == "POST":
        req.set_body(req.text().upper())
    req.set_response_header("x-resp", "1")
    print("ran", req.path)

def on_response(resp, conf):
    resp.headers.set("x-status", str(resp.status))
    resp.headers.set("x-var", resp.var("v", "-"))
    if conf.get("replace"):
        resp.set_body(resp.text() + "!")
`

// fixtureTests exercise the whole t API; every test must pass.
const fixtureTests = `
def test_request_defaults(t):
    res = t.run("echo")
    t.eq(res.phase, "request")
    t.eq(res.action, "rewrite")
    t.eq(res.status, None)
    t.eq(res.path, None)
    t.eq(res.body, None)
    t.eq(res.error, None)
    t.eq(res.header("X-Method"), "GET")
    t.eq(res.header("x-ip"), "127.0.0.1")
    t.eq(res.header("x-id"), "1")
    t.eq(res.header("x-var"), "-")
    t.eq(res.resp_headers, {"x-resp": "1"})
    t.eq(res.logs, ["ran /"])
    t.eq(res.extra_info, [("var", "v")])
    t.true(res.steps > 0)

def test_request_fields(t):
    req = t.request(
        method = "POST",
        path = "/p",
        headers = [("x-in", "1"), ("X-In", "2")],
        args = {"flag": None, "q": ["a", "b"]},
        body = b"abc",
        vars = {"v": "val"},
        src_ip = "2001:db8::1",
        id = 7,
    )
    t.eq(req.method, "POST")
    t.eq(req.args, [("flag", None), ("q", "a"), ("q", "b")])
    res = t.run("echo", None, req)
    t.eq(res.header("x-all"), "1,2")
    t.eq(res.header("x-ip"), "2001:db8::1")
    t.eq(res.header("x-id"), "7")
    t.eq(res.header("x-var"), "val")
    t.eq(res.args, {"flag": "seen:"})
    t.eq(res.body, "ABC")
    t.eq(res.extra_info, [("var", "v"), ("req_body", "")])

def test_query_in_path(t):
    res = t.run("echo", request = t.request(path = "/p?flag=x%20y"))
    t.eq(res.args, {"flag": "seen:x y"})

def test_stop(t):
    res = t.run("echo", {"deny": True}, t.request(path = "/secret"))
    t.eq(res.action, "stop")
    t.eq(res.status, 403)
    t.eq(res.json(), {"denied": "/secret"})
    t.eq(res.headers["set-cookie"], ["a=1", "b=2"])
    t.eq(res.header_all("Set-Cookie"), ["a=1", "b=2"])
    t.eq(res.header("content-type"), "application/json")

def test_chain_conf_list(t):
    res = t.run(["echo", "echo"], [{}, {"deny": True}])
    t.eq(res.status, 403)
    t.eq(len(res.logs), 1)

def test_response(t):
    resp = t.response(status = 201, headers = {"content-type": "text/plain"}, body = "hi", vars = {"v": "x"})
    t.eq(resp.status, 201)
    res = t.run_response("echo", {"replace": True}, resp)
    t.eq(res.phase, "response")
    t.eq(res.action, "rewrite")
    t.eq(res.status, 201)
    t.eq(res.headers, {"content-type": "text/plain", "x-status": "201", "x-var": "x"})
    t.eq(res.body, "hi!")
    t.eq(res.extra_info, [("var", "v"), ("resp_body", "")])
    t.eq(t.run_response("echo").status, 200)

def test_fails_returns_the_message(t):
    msg = t.fails(lambda: t.run(["echo"], [{}, {}]), "want a list")
    t.contains(msg, "for 1 scripts")
    t.fails(lambda: t.run("missing"), "script not found")
    t.fails(lambda: t.run("echo", "{not json"), "not valid JSON")
    t.fails(lambda: t.request(headers = {"a": None}), "want str or list of str")
    t.fails(lambda: t.request(src_ip = "nope"), "src_ip")
    t.fails(lambda: t.run("echo", request = {}), "want t.request")
    t.fails(lambda: t.set_time("yesterday"), "RFC 3339")

def test_time(t):
    t.set_time(1767323045)
    t.eq(time.now().unix, 1767323045)
    t.set_time(time.from_timestamp(5))
    t.eq(time.now().unix, 5)
    t.set_time("2026-01-02T03:04:05.5Z")
    t.eq(time.now().unix, 1767323045)
    t.set_time(None)
    t.true(time.now().unix > 1767323045)

def test_ne_and_contains(t):
    t.ne(1, 2)
    t.contains([1, 2], 2)
    t.contains("abc", "b")
    t.contains({"k": 1}, "k")
`

func TestFixtureAPI(t *testing.T) {
	dir := writeFiles(t, map[string]string{"echo.star": echoScript, "echo_test.star": fixtureTests})
	var out strings.Builder
	sum := RunTests([]string{filepath.Join(dir, "echo_test.star")}, TestOptions{Out: &out})
	if sum.Failed != 0 || sum.Passed != 9 {
		t.Errorf("got %v, want 9 passed, 0 failed\n%s", sum, out.String())
	}
	if got := out.String(); got != "9 passed, 0 failed\n" {
		t.Errorf("output: got %q, want only the summary", got)
	}
}

const failingTests = `
def check(t, x):
    t.eq(x, 2, "x")

def test_failures(t):
    t.eq(1, 2)
    check(t, 1)
    t.ne("a", "a")
    t.true([], "empty")
    t.contains([1], 2)
    t.fails(lambda: None)
    t.fails(lambda: fail("boom"), "bang")
    t.fail("by hand")
    print("still running")

def test_error_ends_the_test(t):
    fail("stop here")
    t.fail("not reached")

def test_passes(t):
    pass
`

func TestFixtureFailures(t *testing.T) {
	dir := writeFiles(t, map[string]string{"echo.star": echoScript, "x_test.star": failingTests})
	file := filepath.Join(dir, "x_test.star")
	var out strings.Builder
	sum := RunTests([]string{file}, TestOptions{Out: &out, Verbose: true})
	if sum != (TestSummary{Passed: 1, Failed: 2}) {
		t.Errorf("got %v, want 1 passed, 2 failed", sum)
	}
	want := strings.ReplaceAll(`--- FAIL: test_failures (@F)
    @F:6: got 1, want 2
    @F:3: x: got 1, want 2
    @F:8: got "a", want anything else
    @F:9: empty: got [], want a true value
    @F:10: got [1], want it to contain 2
    @F:11: got no error, want an error
    @F:12: got error "fail: boom", want one matching "bang"
    @F:13: by hand
    @F:14: still running
--- FAIL: test_error_ends_the_test (@F)
    Traceback (most recent call last):
      @F:17:9: in test_error_ends_the_test
    Error in fail: fail: stop here
--- PASS: test_passes (@F)
1 passed, 2 failed
`, "@F", file)
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunTestsFilterAndLoadErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"echo.star":      echoScript,
		"a_test.star":    "def test_one(t):\n    pass\n\ndef test_two(t):\n    t.fail('x')\n",
		"bad_test.star":  "def test_x(t):\n    undefined\n",
		"none_test.star": "X = 1\n",
		"sig_test.star":  "def test_x(t, extra):\n    pass\n",
	})
	files, err := TestFiles([]string{dir})
	if err != nil || len(files) != 4 {
		t.Fatalf("TestFiles: got %v, %v", files, err)
	}
	var out strings.Builder
	sum := RunTests(files, TestOptions{Out: &out, Run: regexp.MustCompile("one")})
	if sum != (TestSummary{Passed: 1, Failed: 3}) {
		t.Errorf("got %v, want 1 passed, 3 failed (three files that do not load)\n%s", sum, out.String())
	}
	for _, want := range []string{
		"bad_test.star:2:5: undefined: undefined",
		"none_test.star: defines no test_*(t) functions",
		"sig_test.star:1:1: test_x must be defined as test_x(t)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "test_two") {
		t.Errorf("--run one ran test_two:\n%s", out.String())
	}
}

func TestTestFilesForScript(t *testing.T) {
	dir := writeFiles(t, map[string]string{"echo.star": echoScript, "echo_test.star": fixtureTests, "lone.star": echoScript})
	files, err := TestFiles([]string{filepath.Join(dir, "echo.star")})
	if err != nil || len(files) != 1 || filepath.Base(files[0]) != "echo_test.star" {
		t.Errorf("got %v, %v, want echo_test.star", files, err)
	}
	if _, err := TestFiles([]string{filepath.Join(dir, "lone.star")}); err == nil {
		t.Error("a script without a test file: got no error")
	}
}
