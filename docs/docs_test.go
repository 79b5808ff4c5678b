// Package docs_test executes the documentation: every starlark block of
// the docs compiles, every block followed by conf, request and want blocks
// runs end to end against its want, and every predeclared name and member
// is documented.
package docs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// block is one fenced code block.
type block struct {
	lang string
	text string
	line int
}

var fence = regexp.MustCompile("(?m)^```([a-z]*)\n((?s:.*?))^```$")

func blocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	for _, m := range fence.FindAllSubmatchIndex(data, -1) {
		out = append(out, block{
			lang: string(data[m[2]:m[3]]),
			text: string(data[m[4]:m[5]]),
			line: bytes.Count(data[:m[0]], []byte("\n")) + 1,
		})
	}
	return out
}

// docFiles are the documents whose starlark examples are executed.
var docFiles = []string{"scripting.md", "operations.md", "configuration.md", "../README.md"}

func TestExamples(t *testing.T) {
	for _, file := range docFiles {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		bs := blocks(t, file)
		for i, b := range bs {
			if b.lang != "starlark" {
				continue
			}
			name := fmt.Sprintf("%s:%d", file, b.line)
			t.Run(name, func(t *testing.T) {
				script := fmt.Sprintf("doc_%d", b.line)
				eng := engine.New(exampleConfig(), nil)
				if _, err := eng.Compile(script, []byte(b.text)); err != nil {
					t.Fatalf("example does not compile: %v", err)
				}
				x, want, ok := example(t, bs[i+1:], script)
				if !ok {
					return
				}
				h := runnertest.Start(t, map[string][]byte{script + ".star": []byte(b.text)}, exampleConfig())
				got := h.Run(t, x)
				if got.Prepare != "ok" {
					t.Fatalf("prepare: %s\n%s", got.Prepare, h.LogText())
				}
				compare(t, got.Reply, want)
			})
		}
	}
}

// exampleConfig is the engine configuration the examples run with, as
// scripting.md says: env_allow [DEPLOY_ENV] with DEPLOY_ENV=staging.
func exampleConfig() engine.Config {
	return engine.Config{
		EnvAllow: []string{"DEPLOY_ENV"},
		LookupEnv: func(name string) (string, bool) {
			if name == "DEPLOY_ENV" {
				return "staging", true
			}
			return "", false
		},
	}
}

// example collects the conf, request/response and want blocks that follow
// a starlark block.
func example(t *testing.T, next []block, script string) (runnertest.Exchange, string, bool) {
	var x runnertest.Exchange
	var want string
	for _, b := range next {
		switch b.lang {
		case "conf":
			x.Confs = []runnertest.Conf{{Name: script, Value: json.RawMessage(b.text)}}
		case "request":
			x.Request = new(protocoltest.ReqCall)
			mustDecode(t, b, x.Request)
		case "response":
			x.Response = new(protocoltest.RespCall)
			mustDecode(t, b, x.Response)
		case "answers":
			x.Answers = new(protocoltest.Answers)
			mustDecode(t, b, x.Answers)
		case "want":
			want = b.text
		default:
			return x, want, x.Confs != nil && want != ""
		}
		if want != "" {
			break
		}
	}
	if x.Confs == nil && (x.Request != nil || want != "") {
		t.Fatal("example has a request or want block but no conf block")
	}
	return x, want, x.Confs != nil && want != ""
}

func mustDecode(t *testing.T, b block, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(b.text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s block at line %d: %v", b.lang, b.line, err)
	}
}

// compare checks the reply against want, ignoring the echoed id and the
// frame type.
func compare(t *testing.T, reply *protocoltest.Reply, want string) {
	t.Helper()
	raw, err := json.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "id")
	delete(m, "type")
	got, _ := protocoltest.JSON(m)
	wantNorm, err := protocoltest.JSON(json.RawMessage(want))
	if err != nil {
		t.Fatalf("want block: %v", err)
	}
	if !bytes.Equal(got, wantNorm) {
		t.Errorf("got:\n%s\nwant:\n%s", got, wantNorm)
	}
}

// TestPredeclaredDocumented fails when a name scripts can use is missing
// from scripting.md.
func TestPredeclaredDocumented(t *testing.T) {
	data, err := os.ReadFile("scripting.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var missing []string
	check := func(s string) {
		if !strings.Contains(doc, "`"+s) {
			missing = append(missing, s)
		}
	}
	for name := range bindings.Predeclared() {
		check(name)
	}
	for _, name := range bindings.NewRequestValue().AttrNames() {
		check("req." + name)
	}
	for _, name := range bindings.NewResponseValue().AttrNames() {
		check("resp." + name)
	}
	for _, name := range bindings.ViewMethodNames() {
		check("view." + name)
	}
	for _, g := range []string{"on_request", "on_response", "init", "CONF_SCHEMA", "LIMITS"} {
		check(g)
	}
	if len(missing) > 0 {
		t.Errorf("scripting.md does not document: %s", strings.Join(missing, ", "))
	}
}
