// Package docs_test executes the documentation: every starlark block of
// the docs compiles, every block followed by conf, request and want blocks
// runs end to end against its want, every "conf NAME" block runs the
// bundled script NAME (scripts/NAME.star) with the request and want blocks
// after it, the route snippets of scripts.md prepare, and every
// predeclared name and member and every bundled script is documented.
package docs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// block is one fenced code block. args are the words after the language
// on the opening line ("```conf cors" has lang conf and args [cors]).
type block struct {
	lang string
	args []string
	text string
	line int
}

var fence = regexp.MustCompile("(?m)^```([a-z]*)((?: +[A-Za-z0-9_.-]+)*) *\n((?s:.*?))^```$")

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
			args: strings.Fields(string(data[m[4]:m[5]])),
			text: string(data[m[6]:m[7]]),
			line: bytes.Count(data[:m[0]], []byte("\n")) + 1,
		})
	}
	return out
}

// docFiles are the documents whose starlark examples are executed.
var docFiles = []string{"scripting.md", "operations.md", "configuration.md", "scripts.md", "../README.md"}

// bundledDir holds the bundled scripts that "conf NAME" examples run.
const bundledDir = "../scripts"

func TestExamples(t *testing.T) {
	for _, file := range docFiles {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		bs := blocks(t, file)
		used := map[int]bool{} // indexes of the conf blocks an example ran
		for i, b := range bs {
			switch {
			case b.lang == "starlark":
				if len(b.args) > 0 {
					t.Errorf("%s:%d: a starlark block takes no arguments", file, b.line)
					continue
				}
				if i+1 < len(bs) && bs[i+1].lang == "conf" && len(bs[i+1].args) == 0 {
					used[i+1] = true
				}
				t.Run(fmt.Sprintf("%s:%d", file, b.line), func(t *testing.T) {
					runInlineExample(t, file, bs, i)
				})
			case b.lang == "conf" && len(b.args) > 0:
				used[i] = true
				t.Run(fmt.Sprintf("%s:%d:%s", file, b.line, strings.Join(b.args, "+")), func(t *testing.T) {
					runBundledExample(t, file, bs, i)
				})
			}
		}
		for i, b := range bs {
			if b.lang == "conf" && !used[i] {
				t.Errorf("%s:%d: a conf block must follow a starlark block or name the bundled scripts it is for (```conf NAME ...)", file, b.line)
			}
		}
	}
}

// runInlineExample compiles the starlark block bs[i] and, when conf,
// request and want blocks follow it, runs it.
func runInlineExample(t *testing.T, file string, bs []block, i int) {
	b := bs[i]
	cfg := docConfig(file)
	script := fmt.Sprintf("doc_%d", b.line)
	eng := engine.New(cfg, nil)
	if _, err := eng.Compile(script, []byte(b.text)); err != nil {
		t.Fatalf("example does not compile: %v", err)
	}
	x, want, ok := example(t, bs[i+1:], runnertest.Exchange{}, script)
	if !ok {
		return
	}
	h := runnertest.Start(t, map[string][]byte{script + ".star": []byte(b.text)}, cfg)
	got := h.Run(t, x)
	if got.Prepare != "ok" {
		t.Fatalf("prepare: %s\n%s", got.Prepare, h.LogText())
	}
	compare(t, got.Reply, want)
}

// runBundledExample runs the "conf NAME..." block bs[i]: the bundled
// scripts NAME... (a chain when there are several, and the conf is then
// a JSON list with one conf per script) with the request or response,
// answers and want blocks that follow it. An example with no want block
// fails, so every conf shown for a bundled script is checked.
func runBundledExample(t *testing.T, file string, bs []block, i int) {
	b := bs[i]
	var x runnertest.Exchange
	if len(b.args) == 1 {
		x.Confs = []runnertest.Conf{{Name: b.args[0], Value: json.RawMessage(b.text)}}
	} else {
		var values []json.RawMessage
		if err := json.Unmarshal([]byte(b.text), &values); err != nil || len(values) != len(b.args) {
			t.Fatalf("conf block for the chain %v: want a JSON list of %d confs (%v)", b.args, len(b.args), err)
		}
		for j, name := range b.args {
			x.Confs = append(x.Confs, runnertest.Conf{Name: name, Value: values[j]})
		}
	}
	for _, name := range b.args {
		if _, err := os.Stat(filepath.Join(bundledDir, name+".star")); err != nil {
			t.Fatalf("conf block names %s, which is not a bundled script: %v", name, err)
		}
	}
	x, want, ok := example(t, bs[i+1:], x, "")
	if !ok || (x.Request == nil && x.Response == nil) {
		t.Fatal("a conf block for a bundled script must be followed by a request (or response) and a want block")
	}
	h := runnertest.Start(t, runnertest.Bundled(t, bundledDir), docConfig(file))
	got := h.Run(t, x)
	if got.Prepare != "ok" {
		t.Fatalf("prepare: %s\n%s", got.Prepare, h.LogText())
	}
	compare(t, got.Reply, want)
}

// docConfig is the engine configuration the examples of file run with.
func docConfig(file string) engine.Config {
	if file == "scripts.md" {
		return scriptsConfig()
	}
	return exampleConfig()
}

// scriptsConfig is the engine configuration of the examples of
// scripts.md, as it says: env_allow [JWT_SECRET] with
// JWT_SECRET=docs-secret.
func scriptsConfig() engine.Config {
	return engine.Config{
		EnvAllow: []string{"JWT_SECRET"},
		LookupEnv: func(name string) (string, bool) {
			if name == "JWT_SECRET" {
				return "docs-secret", true
			}
			return "", false
		},
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

// example collects the conf, request/response, answers and want blocks
// that follow a starlark block (or, with x.Confs set, a "conf NAME"
// block). A conf block that names scripts starts the next example.
func example(t *testing.T, next []block, x runnertest.Exchange, script string) (runnertest.Exchange, string, bool) {
	var want string
	for _, b := range next {
		switch b.lang {
		case "conf":
			if len(b.args) > 0 || x.Confs != nil {
				return x, want, x.Confs != nil && want != ""
			}
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

// TestScriptsDocumented fails when a bundled script has no section in
// scripts.md or no example there that runs it. The bench_* scripts are
// the benchmark workloads of bench.md, not scripts to deploy.
func TestScriptsDocumented(t *testing.T) {
	data, err := os.ReadFile("scripts.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	ran := map[string]bool{}
	for _, b := range blocks(t, "scripts.md") {
		if b.lang == "conf" {
			for _, name := range b.args {
				ran[name] = true
			}
		}
	}
	paths, err := filepath.Glob(filepath.Join(bundledDir, "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".star")
		if strings.HasSuffix(name, "_test") || strings.HasPrefix(name, "bench_") {
			continue
		}
		if !strings.Contains(doc, "\n## `"+name+"`") {
			t.Errorf("scripts.md has no section \"## `%s`\"", name)
		}
		if !ran[name] {
			t.Errorf("scripts.md has no example (```conf %s) that runs %s", name, name)
		}
	}
}

// TestRouteConfs prepares, with the bundled scripts, every conf list of
// the APISIX route snippets of scripts.md (json blocks with an
// ext-plugin-* plugin), so a route shown there is one the runner accepts.
func TestRouteConfs(t *testing.T) {
	n := 0
	for _, b := range blocks(t, "scripts.md") {
		if b.lang != "json" || !strings.Contains(b.text, `"ext-plugin-`) {
			continue
		}
		text := strings.TrimSpace(b.text)
		if strings.HasPrefix(text, `"plugins"`) {
			text = "{" + text + "}"
		}
		var route struct {
			Plugins map[string]struct {
				Conf []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"conf"`
			} `json:"plugins"`
		}
		if err := json.Unmarshal([]byte(text), &route); err != nil {
			t.Errorf("scripts.md:%d: route snippet: %v", b.line, err)
			continue
		}
		for plugin, p := range route.Plugins {
			var x runnertest.Exchange
			for _, c := range p.Conf {
				value, err := json.Marshal(c.Value) // sent verbatim, as APISIX does
				if err != nil {
					t.Fatal(err)
				}
				x.Confs = append(x.Confs, runnertest.Conf{Name: c.Name, Value: value})
			}
			h := runnertest.Start(t, runnertest.Bundled(t, bundledDir), scriptsConfig())
			if got := h.Run(t, x); got.Prepare != "ok" {
				t.Errorf("scripts.md:%d: %s: prepare: %s\n%s", b.line, plugin, got.Prepare, h.LogText())
			}
			n++
		}
	}
	if n == 0 {
		t.Error("scripts.md has no route snippet")
	}
}
