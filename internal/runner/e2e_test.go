package runner_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/internal/txtar"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

var update = flag.Bool("update", false, "rewrite want.json of the txtar cases")

// TestCases runs every testdata/cases/*.txtar end to end: the case's
// conf.json is prepared, its request.json (HTTPReqCall) or response.json
// (HTTPRespCall) sent over a real socket with answers.json answering
// ExtraInfo, and the outcome compared with want.json. log.txt lists
// substrings the log must contain. Files named *.star are scripts next to
// the bundled ones.
func TestCases(t *testing.T) {
	files, err := filepath.Glob("../../testdata/cases/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no cases in testdata/cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			runCase(t, file)
		})
	}
}

func runCase(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a := txtar.Parse(data)
	scripts := runnertest.Bundled(t, "../../scripts")
	for _, f := range a.Files {
		if strings.HasSuffix(f.Name, ".star") {
			scripts[f.Name] = f.Data
		}
	}
	var x runnertest.Exchange
	decodeFile(t, a, "conf.json", &x.Confs, true)
	if _, ok := a.File("answers.json"); ok {
		x.Answers = new(protocoltest.Answers)
		decodeFile(t, a, "answers.json", x.Answers, true)
	}
	if _, ok := a.File("request.json"); ok {
		x.Request = new(protocoltest.ReqCall)
		decodeFile(t, a, "request.json", x.Request, true)
	}
	if _, ok := a.File("response.json"); ok {
		x.Response = new(protocoltest.RespCall)
		decodeFile(t, a, "response.json", x.Response, true)
	}
	h := runnertest.Start(t, scripts, engine.Config{})
	out, err := protocoltest.JSON(h.Run(t, x))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		a.Set("want.json", out)
		if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		want, ok := a.File("want.json")
		if !ok {
			t.Fatalf("no want.json (run with -update to create it); got:\n%s", out)
		}
		wantNorm, err := protocoltest.JSON(json.RawMessage(want))
		if err != nil {
			t.Fatalf("want.json: %v", err)
		}
		if !bytes.Equal(out, wantNorm) {
			t.Errorf("got:\n%s\nwant:\n%s", out, wantNorm)
		}
	}
	if want, ok := a.File("log.txt"); ok {
		logs := h.LogText()
		for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(logs, line) {
				t.Errorf("log has no %q; got:\n%s", line, logs)
			}
		}
	}
}

func decodeFile(t *testing.T, a *txtar.Archive, name string, v any, required bool) {
	t.Helper()
	data, ok := a.File(name)
	if !ok {
		if required {
			t.Fatalf("case has no %s", name)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
