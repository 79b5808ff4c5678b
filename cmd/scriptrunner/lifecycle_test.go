package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// binary is the scriptrunner built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scriptrunner-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "scriptrunner")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build scriptrunner: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a started runner binary.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, socket, scripts string, extraEnv ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, "run", "--scripts", scripts, "--exit-with-parent=false")
	cmd.Env = append([]string{"APISIX_LISTEN_ADDRESS=unix:" + socket, "PATH=" + os.Getenv("PATH")}, extraEnv...)
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("runner stderr:\n%s", p.stderr)
		}
	})
	return p
}

// wait returns the exit code, failing the test after timeout.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("runner did not exit within %v", timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listening(path string) func() bool {
	return func() bool {
		c, err := protocoltestDial(path)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

func protocoltestDial(path string) (*protocoltest.Conn, error) {
	nc, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	return protocoltest.NewConn(nc), nil
}

func scriptsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunRejectsBadEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"unset", nil, "APISIX_LISTEN_ADDRESS is not set"},
		{"malformed", []string{"APISIX_LISTEN_ADDRESS=/tmp/x.sock"}, "want unix:/path"},
		{"bad expire", []string{"APISIX_LISTEN_ADDRESS=unix:/tmp/x.sock", "APISIX_CONF_EXPIRE_TIME=0"}, "APISIX_CONF_EXPIRE_TIME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, "run")
			cmd.Env = tc.env
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("got %v, want exit code 1", err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("got output %q, want it to contain %q", out, tc.want)
			}
		})
	}
}

// The script asks APISIX for a variable, which holds each call open
// until the test answers: the calls are provably in flight at SIGTERM.
const inFlightScript = `
def on_request(req, conf):
    req.headers.set("x-echo", req.var("who", "nobody"))
`

func TestSIGTERMDrainsCallsInFlight(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	p := start(t, socket, scriptsDir(t, map[string]string{"echo.star": inFlightScript}))
	waitFor(t, "the socket", 5*time.Second, listening(socket))

	const calls = 8
	asked := make(chan struct{}, calls)
	release := make(chan struct{})
	type result struct {
		reply protocoltest.Reply
		err   error
	}
	results := make(chan result, calls)
	for i := range calls {
		c, err := protocoltestDial(socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		token, err := c.Prepare("route#1#ext-plugin-pre-req#1", protocoltest.KV{Name: "echo", Value: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			reply, _, err := c.Call(protocoltest.ReqCall{ID: uint32(i + 1), ConfToken: token, Path: "/"},
				func(q protocoltest.Question) ([]byte, bool) {
					asked <- struct{}{}
					<-release
					return []byte(fmt.Sprint("caller-", i+1)), true
				})
			results <- result{reply, err}
		}()
	}
	for range calls {
		<-asked
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the runner start draining before the answers arrive
	close(release)
	seen := map[uint32]bool{}
	for range calls {
		r := <-results
		if r.err != nil {
			t.Fatalf("call failed during drain: %v", r.err)
		}
		if r.reply.Rewrite == nil || len(r.reply.Rewrite.Headers) != 1 ||
			r.reply.Rewrite.Headers[0].Value != fmt.Sprint("caller-", r.reply.ID) {
			t.Errorf("call %d: got %+v, want its own x-echo header", r.reply.ID, r.reply)
		}
		seen[r.reply.ID] = true
	}
	if len(seen) != calls {
		t.Errorf("got answers for %d distinct ids, want %d", len(seen), calls)
	}
	if code := p.wait(t, 2*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still exists after exit: %v", err)
	}
}

func TestSIGINTExitsCleanly(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	p := start(t, socket, scriptsDir(t, map[string]string{"echo.star": inFlightScript}))
	waitFor(t, "the socket", 5*time.Second, listening(socket))
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 2*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestReloadHandover plays APISIX's reload: a new runner starts on the
// same path while the old one is stopping. The new one must wait for the
// old one instead of removing its live socket, and the old one must not
// remove the new one's socket when it exits.
func TestReloadHandover(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	scripts := scriptsDir(t, map[string]string{"echo.star": inFlightScript})
	old := start(t, socket, scripts)
	waitFor(t, "the old runner", 5*time.Second, listening(socket))

	// A connection held open keeps the old runner busy for a moment.
	held, err := protocoltestDial(socket)
	if err != nil {
		t.Fatal(err)
	}
	token, err := held.Prepare("k", protocoltest.KV{Name: "echo", Value: "{}"})
	if err != nil {
		t.Fatal(err)
	}

	next := start(t, socket, scripts)
	time.Sleep(200 * time.Millisecond) // the new runner is now waiting for the path
	if strings.Contains(next.stderr.String(), `"listening"`) {
		t.Fatal("the new runner took the socket of a live runner")
	}
	old.cmd.Process.Signal(syscall.SIGTERM)
	if code := old.wait(t, 2*time.Second); code != 0 {
		t.Errorf("old runner exit code %d, want 0", code)
	}
	waitFor(t, "the new runner to listen", 5*time.Second, func() bool {
		return strings.Contains(next.stderr.String(), `"listening"`)
	})
	// The old runner exited; the new runner's socket must still be there.
	c, err := protocoltestDial(socket)
	if err != nil {
		t.Fatalf("new runner unreachable after the old one exited: %v", err)
	}
	defer c.Close()
	if _, err := c.Prepare("k", protocoltest.KV{Name: "echo", Value: "{}"}); err != nil {
		t.Fatal(err)
	}
	_ = token
	next.cmd.Process.Signal(syscall.SIGTERM)
	if code := next.wait(t, 2*time.Second); code != 0 {
		t.Errorf("new runner exit code %d, want 0", code)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still exists after the last runner exited: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	makeStaleSocket(t, socket)
	p := start(t, socket, scriptsDir(t, map[string]string{"echo.star": inFlightScript}))
	waitFor(t, "the socket", 5*time.Second, listening(socket))
	fi, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o766 {
		t.Errorf("socket mode %o, want 766", mode)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 2*time.Second)
}

func TestRegularFileAtSocketPathKept(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	if err := os.WriteFile(socket, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, socket, scriptsDir(t, map[string]string{"echo.star": inFlightScript}))
	if code := p.wait(t, 5*time.Second); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if data, err := os.ReadFile(socket); err != nil || string(data) != "precious" {
		t.Errorf("file at the socket path was changed: %q %v", data, err)
	}
	if !strings.Contains(p.stderr.String(), "not a socket") {
		t.Errorf("stderr does not explain: %s", p.stderr)
	}
}

func TestExitsWithParent(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	scripts := scriptsDir(t, map[string]string{"echo.star": inFlightScript})
	// sh starts the runner and exits; the runner is re-parented.
	cmd := exec.Command("sh", "-c", `"$0" run --scripts "$1" >/dev/null 2>&1 & sleep 0.5`, binary, scripts)
	cmd.Env = []string{"APISIX_LISTEN_ADDRESS=unix:" + socket, "PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the socket", 5*time.Second, listening(socket))
	cmd.Wait()
	waitFor(t, "the runner to exit after its parent", 5*time.Second, func() bool {
		_, err := os.Lstat(socket)
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestMetricsListener(t *testing.T) {
	socket := protocoltest.SocketPath(t)
	p := start(t, socket, scriptsDir(t, map[string]string{"echo.star": inFlightScript}), "SCRIPTRUNNER_METRICS_ADDR=127.0.0.1:0")
	waitFor(t, "the socket", 5*time.Second, listening(socket))
	var addr string
	waitFor(t, "the metrics address", 5*time.Second, func() bool {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, `"metrics listening"`) {
				var rec struct{ Addr string }
				json.Unmarshal([]byte(line), &rec)
				addr = rec.Addr
			}
		}
		return addr != ""
	})
	c, err := protocoltestDial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	token, err := c.Prepare("k", protocoltest.KV{Name: "echo", Value: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := c.Call(protocoltest.ReqCall{ID: uint32(i), ConfToken: token, Path: "/"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: got %d, want 200", code)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`scriptrunner_calls_total{outcome="continue",phase="request",script="echo"} 3`,
		`scriptrunner_extra_info_total{kind="var"} 3`,
		`scriptrunner_confs 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 2*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
