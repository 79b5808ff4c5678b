package runner_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// TestReloadOnLibChange: editing a lib file makes a new version of every
// script that loads it; the watcher reloads them, a broken lib is
// rejected while the last good version keeps serving, and a fix brings
// it back even though the script file itself never changed.
func TestReloadOnLibChange(t *testing.T) {
	// File events normally carry the change within 50 ms; the rescan
	// catches it where inotify instances run out (busy CI machines).
	g := newReloadRig(t, 250*time.Millisecond)
	if err := os.Mkdir(filepath.Join(g.dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(g.dir, "lib", "tag.star"), `TAG = "lib-1"`)
	writeAtomic(t, filepath.Join(g.dir, "ver.star"), "load(\"lib/tag.star\", \"TAG\")\ndef on_request(req, conf):\n    req.headers.set(\"x-version\", TAG)\n")
	call := func() string {
		c := g.srv.Dial(t)
		r, _, err := c.Call(protocoltest.ReqCall{ID: 1, ConfToken: g.token, Path: "/"}, nil)
		if err != nil || r.Rewrite == nil || len(r.Rewrite.Headers) != 1 {
			t.Fatalf("got %+v %v, want a rewrite", r, err)
		}
		return r.Rewrite.Headers[0].Value
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range g.logs.All() {
				t.Logf("%s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	pollUntil(t, "the script that loads lib/tag.star", func() bool { return call() == "lib-1" })

	writeAtomic(t, filepath.Join(g.dir, "lib", "tag.star"), `TAG = "lib-2"`)
	pollUntil(t, "the lib change to reload the script", func() bool { return call() == "lib-2" })

	writeAtomic(t, filepath.Join(g.dir, "lib", "tag.star"), `TAG = `)
	pollUntil(t, "the broken lib to be rejected", func() bool { return g.logged("reload rejected") })
	if got := call(); got != "lib-2" {
		t.Errorf("after a broken lib: got %q, want the last good version", got)
	}

	writeAtomic(t, filepath.Join(g.dir, "lib", "tag.star"), `TAG = "lib-3"`)
	pollUntil(t, "the fixed lib to reload the script", func() bool { return call() == "lib-3" })
}

// TestReloadLibUnchanged: a rescan with nothing changed reloads nothing,
// also for scripts that load libs.
func TestReloadLibUnchanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(dir, "lib", "tag.star"), `TAG = "1"`)
	writeAtomic(t, filepath.Join(dir, "s.star"), "load(\"tag.star\", \"TAG\")\ndef on_request(req, conf):\n    pass\n")
	eng := engine.New(engine.Config{Dir: dir, Pinned: true}, nil)
	r := runner.New(eng, runner.Config{TestScript: func(string) error { return errors.New("must not run") }}, nil)
	defer r.Close()
	if _, err := r.PrepareConf(&protocol.PrepareConfRequest{Conf: []protocol.Entry{{Name: []byte("s"), Value: []byte("{}"), HasValue: true}}}); err != nil {
		t.Fatal(err)
	}
	v := eng.Installed("s").Version
	if err := r.Reload("s"); err != nil {
		t.Fatalf("got %v, want an unchanged script left alone", err)
	}
	if eng.Installed("s").Version != v {
		t.Errorf("version changed without a change")
	}
}
