package authoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/engine"
)

// docBlock is a fenced code block of docs/tools.md whose first line names
// its file: "# scripts/<file>".
var docBlock = regexp.MustCompile("(?ms)^```starlark\n(# scripts/([\\w.-]+\\.star)[^\n]*\n.*?)^```$")

// TestToolsDocExamples runs the script and test file of docs/tools.md
// next to the bundled scripts, and checks its `call` output example.
func TestToolsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/tools.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundled, err := filepath.Glob("../../scripts/*.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range bundled {
		if IsTestFile(p) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var written []string
	for _, m := range docBlock.FindAllSubmatch(doc, -1) {
		path := filepath.Join(dir, string(m[2]))
		if err := os.WriteFile(path, m[1], 0o644); err != nil {
			t.Fatal(err)
		}
		written = append(written, path)
	}
	if len(written) != 2 {
		t.Fatalf("found %d example files in tools.md, want a script and its test file", len(written))
	}
	if res := Check(written, nil, dir, engine.Config{}); len(res.Diagnostics) > 0 {
		t.Errorf("examples do not check: %v", res.Diagnostics)
	}
	_, tests := splitTests(written)
	var out strings.Builder
	if sum := RunTests(tests, TestOptions{Out: &out}); sum.Failed > 0 || sum.Passed == 0 {
		t.Errorf("the example tests fail:\n%s", out.String())
	}
	checkCallExample(t, doc, dir)
}

// checkCallExample runs the request of the documented call output.
func checkCallExample(t *testing.T, doc []byte, dir string) {
	m := regexp.MustCompile("(?ms)`echo '(.*?)' \\| scriptrunner call (\\w+) --request -`\\):\n\n```json\n(.*?)^```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("tools.md has no call output example")
	}
	req, err := DecodeRequest(strings.NewReader(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	sb := NewSandbox(engine.Config{Dir: dir})
	chain, err := sb.Chain(Conf{Name: string(m[2])})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.RunRequest(chain, req)
	if err != nil {
		t.Fatal(err)
	}
	// Step counts change with the engine; the example's is only checked
	// to be a number.
	steps := regexp.MustCompile(`"steps": [0-9]+`)
	got, _ := json.MarshalIndent(res.Report(), "", "  ")
	if steps.ReplaceAllString(string(got)+"\n", "S") != steps.ReplaceAllString(string(m[3]), "S") {
		t.Errorf("call output:\ngot:\n%s\nwant:\n%s", got, m[3])
	}
}
