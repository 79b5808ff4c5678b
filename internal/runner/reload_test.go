package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// versioned returns a script that tags each call with its version and
// requires conf["need"] when need is set (to test conf re-validation).
func versioned(v string, need bool) string {
	init := ""
	if need {
		init = "def init(conf):\n    if \"need\" not in conf:\n        fail(\"conf needs need\")\n    return conf\n\n"
	}
	return init + "def on_request(req, conf):\n    req.headers.set(\"x-version\", \"" + v + "\")\n"
}

// writeAtomic writes the way editors do: a temporary file renamed over
// the target.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type reloadRig struct {
	dir   string
	srv   *protocoltest.Server
	run   *runner.Runner
	logs  *observer.ObservedLogs
	token uint32
}

func newReloadRig(t *testing.T, interval time.Duration) *reloadRig {
	t.Helper()
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "ver.star"), versioned("1", false))
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	eng := engine.New(engine.Config{Dir: dir, Pinned: true}, log)
	r := runner.New(eng, runner.Config{}, log)
	t.Cleanup(r.Close)
	srv := protocoltest.Start(t, &protocol.Server{Handler: r, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, dir, interval); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	token, err := srv.Dial(t).Prepare("route#1", protocoltest.KV{Name: "ver", Value: `{}`})
	if err != nil {
		t.Fatal(err)
	}
	return &reloadRig{dir: dir, srv: srv, run: r, logs: logs, token: token}
}

func (g *reloadRig) logged(msg string) bool {
	return g.logs.FilterMessageSnippet(msg).Len() > 0
}

// load sends calls on several connections until stopped, recording the
// version each answer carries and every failure.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	last     string
	failures []string
	calls    atomic.Int64
}

func startLoad(t *testing.T, g *reloadRig, conns int) *load {
	l := &load{stop: make(chan struct{})}
	for c := range conns {
		conn := g.srv.Dial(t)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			seen := "0"
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := uint32(c<<20 | i)
				r, _, err := conn.Call(protocoltest.ReqCall{ID: id, ConfToken: g.token, Path: "/"}, nil)
				l.calls.Add(1)
				v := ""
				if err == nil && r.Rewrite != nil && len(r.Rewrite.Headers) == 1 {
					v = r.Rewrite.Headers[0].Value
				}
				l.mu.Lock()
				switch {
				case err != nil:
					l.failures = append(l.failures, err.Error())
				case v == "":
					l.failures = append(l.failures, fmt.Sprintf("call %d: unexpected reply %+v", id, r))
				case v < seen:
					l.failures = append(l.failures, fmt.Sprintf("call %d: version went back from %s to %s", id, seen, v))
				default:
					seen, l.last = v, v
				}
				l.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	return l
}

func (l *load) version() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// settle waits for n more calls, so that assertions see fresh answers.
func (l *load) settle(t *testing.T, n int64) {
	t.Helper()
	target := l.calls.Load() + n
	pollUntil(t, "more calls", func() bool { return l.calls.Load() >= target })
}

// TestReloadUnderLoad changes, breaks, fixes, invalidates and deletes a
// script while calls flow, and checks which version answered.
func TestReloadUnderLoad(t *testing.T) {
	g := newReloadRig(t, time.Hour) // file events only
	l := startLoad(t, g, 4)
	path := filepath.Join(g.dir, "ver.star")

	l.settle(t, 50)
	if v := l.version(); v != "1" {
		t.Fatalf("version %q before any change, want 1", v)
	}

	writeAtomic(t, path, versioned("2", false))
	pollUntil(t, "version 2", func() bool { return l.version() == "2" })

	writeAtomic(t, path, "def on_request(req, conf)\n    pass\n") // syntax error
	pollUntil(t, "the rejection", func() bool { return g.logged("reload rejected") })
	l.settle(t, 100)
	if v := l.version(); v != "2" {
		t.Errorf("after a broken version: got %q, want the last good 2", v)
	}

	writeAtomic(t, path, versioned("3", false))
	pollUntil(t, "version 3", func() bool { return l.version() == "3" })

	// Version 4 fails init for the live conf {}: it must stay out.
	rejections := g.logs.FilterMessageSnippet("reload rejected").Len()
	writeAtomic(t, path, versioned("4", true))
	pollUntil(t, "the conf re-validation to reject version 4", func() bool {
		return g.logs.FilterMessageSnippet("reload rejected").Len() > rejections
	})
	if !strings.Contains(fmt.Sprint(g.logs.FilterMessageSnippet("reload rejected").All()), "conf needs need") {
		t.Errorf("rejection does not name the init failure: %v", g.logs.All())
	}
	l.settle(t, 100)
	if v := l.version(); v != "3" {
		t.Errorf("after a version failing a live conf: got %q, want 3", v)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the deletion", func() bool { return g.logged("script deleted") })
	l.settle(t, 100)
	if v := l.version(); v != "3" {
		t.Errorf("after deletion: got %q, want the live conf to keep 3", v)
	}
	var rpcErr *protocoltest.RPCError
	if _, err := g.srv.Dial(t).Prepare("route#2", protocoltest.KV{Name: "ver", Value: `{}`}); !errors.As(err, &rpcErr) || rpcErr.Code != protocol.CodeBadRequest {
		t.Errorf("new conf for a deleted script: got %v, want BAD_REQUEST", err)
	}

	close(l.stop)
	l.wg.Wait()
	if len(l.failures) > 0 {
		t.Errorf("%d of %d calls failed, want 0; first: %s", len(l.failures), l.calls.Load(), l.failures[0])
	}
}

// TestReloadByRescan covers the polling fallback: no file events are
// needed, a rescan finds the change.
func TestReloadByRescan(t *testing.T) {
	g := newReloadRig(t, time.Hour)
	path := filepath.Join(g.dir, "ver.star")
	// Write in place (no rename) and reload explicitly, as SIGHUP does.
	if err := os.WriteFile(path, []byte(versioned("2", false)), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run.ReloadAll()
	c := g.srv.Dial(t)
	r, _, err := c.Call(protocoltest.ReqCall{ID: 1, ConfToken: g.token, Path: "/"}, nil)
	if err != nil || r.Rewrite == nil || r.Rewrite.Headers[0].Value != "2" {
		t.Fatalf("got %+v %v, want version 2", r, err)
	}
}

func TestReloadRunsTests(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "ver.star"), versioned("1", false))
	eng := engine.New(engine.Config{Dir: dir, Pinned: true}, nil)
	var tested []string
	fail := true
	r := runner.New(eng, runner.Config{TestScript: func(name string) error {
		tested = append(tested, name)
		if fail {
			return errors.New("test_x failed")
		}
		return nil
	}}, nil)
	defer r.Close()
	if _, err := r.PrepareConf(&protocol.PrepareConfRequest{Conf: []protocol.Entry{{Name: []byte("ver"), Value: []byte("{}"), HasValue: true}}}); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(dir, "ver.star"), versioned("2", false))
	if err := r.Reload("ver"); !errors.Is(err, runner.ErrReloadRejected) || !strings.Contains(err.Error(), "test_x failed") {
		t.Errorf("failing tests: got %v, want a rejection naming the test", err)
	}
	if v := eng.Installed("ver"); v == nil || v.Version == "" {
		t.Fatal("version 1 is no longer installed")
	}
	if err := r.Reload("ver"); err != nil {
		t.Errorf("same rejected content again: got %v, want nil (already reported)", err)
	}
	fail = false
	writeAtomic(t, filepath.Join(dir, "ver.star"), versioned("3", false))
	if err := r.Reload("ver"); err != nil {
		t.Errorf("passing tests: got %v", err)
	}
	if len(tested) != 2 || tested[0] != "ver" {
		t.Errorf("tests ran for %v, want ver twice", tested)
	}
}
