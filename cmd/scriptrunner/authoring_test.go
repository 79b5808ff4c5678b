package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// authoringDir holds the scripts, test files and requests the CLI cases
// run on; the binary runs there, so paths in outputs are short and stable.
const authoringDir = "testdata/authoring"

// cli runs the built binary in dir and renders what it did: the command,
// the exit code, stdout and stderr.
func cli(t *testing.T, dir, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	out := fmt.Sprintf("$ scriptrunner %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s",
		strings.Join(args, " "), code, stdout.String(), stderr.String())
	return stepsRE.ReplaceAllString(out, `"steps": N`), code
}

// stepsRE matches the step count of call's output. Counts change with the
// engine and Starlark versions, so golden files hold "N"; the authoring
// package's tests check the counting.
var stepsRE = regexp.MustCompile(`"steps": [0-9]+`)

// golden compares got with testdata/golden/<name>, rewriting it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestAuthoringCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantExit int
	}{
		{"check_good", []string{"check", "good"}, "", 0},
		{"check_default_dir", []string{"check", "--scripts", "good"}, "", 0},
		{"check_syntax_error", []string{"check", "bad/syntax.star"}, "", 1},
		{"check_undefined_did_you_mean", []string{"check", "bad/undefined.star"}, "", 1},
		{"check_bad", []string{"check", "bad"}, "", 1},
		{"check_confs", []string{"check", "good",
			"--conf", `greet={"greeting": "hi"}`,
			"--conf", `greet={"greeting": 1}`,
			"--conf", `greet={"greeting": ""}`,
			"--conf", `greet={not json`,
			"--conf", `missing={}`}, "", 1},
		{"check_conf_usage", []string{"check", "--conf", "no-equals-sign"}, "", 2},

		{"test_pass", []string{"test", "good"}, "", 0},
		{"test_pass_verbose", []string{"test", "good", "-v"}, "", 0},
		{"test_fail", []string{"test", "failing"}, "", 1},
		{"test_run_filter", []string{"test", "failing", "--run", "^test_ok$", "-v"}, "", 1},
		{"test_run_filter_file", []string{"test", "failing/greet_test.star", "--run", "ok"}, "", 0},
		{"test_after_dashes", []string{"test", "-v", "--", "good"}, "", 0},
		{"test_script_names_its_test", []string{"test", "good/greet.star", "--run", "deny"}, "", 0},

		{"call_rewrite", []string{"call", "greet", "--scripts", "good", "--conf", `{"greeting": "hi"}`}, "", 0},
		{"call_stop", []string{"call", "greet", "--scripts", "good", "--request", "-"}, `{"path": "/x?deny"}`, 0},
		{"call_chain", []string{"call", "greet", "--conf", `{"greeting": "hey"}`, "--script", "echo",
			"--scripts", "good", "--request", "requests/post.json"}, "", 0},
		{"call_lookups", []string{"call", "echo", "--scripts", "good", "--request", "requests/post.json"}, "", 0},
		{"call_response", []string{"call", "stamp", "--scripts", "good", "--response", "--request", "requests/resp404.json"}, "", 0},
		{"call_now", []string{"call", "clock", "--scripts", "good", "--now", "2026-01-02T03:04:05Z"}, "", 0},
		{"call_script_error", []string{"call", "boom", "--scripts", "good"}, "", 1},
		{"call_conf_error", []string{"call", "greet", "--scripts", "good", "--conf", `{"greeting": ""}`}, "", 1},
		{"call_unknown_script", []string{"call", "nope", "--scripts", "good"}, "", 1},
		{"call_bad_request", []string{"call", "greet", "--scripts", "good", "--request", "requests/typo.json"}, "", 1},
		{"call_conf_first", []string{"call", "--conf", "{}"}, "", 2},
		{"call_flags_before_name", []string{"call", "--scripts", "good", "greet", "--conf", `{"greeting": "<b>&"}`}, "", 0},
		{"call_two_names", []string{"call", "greet", "echo", "--scripts", "good"}, "", 2},

		{"fmt_check", []string{"fmt", "--check", "fmt"}, "", 1},
		{"fmt_check_clean", []string{"fmt", "--check", "good"}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, authoringDir, tc.stdin, tc.args...)
			if code != tc.wantExit {
				t.Errorf("exit code %d, want %d\n%s", code, tc.wantExit, out)
			}
			golden(t, tc.name+".txt", out)
		})
	}
}

// TestFmtRewrites formats a copy of an unformatted script in place: the
// result is the golden text, is then reported clean, and still compiles.
func TestFmtRewrites(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(authoringDir, "fmt", "ugly.star"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ugly.star")
	if err := os.WriteFile(file, src, 0o640); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, dir, "", "fmt"); code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("fmt without ./scripts: got exit %d, want 1 and an error\n%s", code, out)
	}
	if out, code := cli(t, dir, "", "fmt", "ugly.star"); code != 0 || !strings.Contains(out, "-- stdout --\nugly.star\n") {
		t.Errorf("fmt: got exit %d, want 0 and the file listed\n%s", code, out)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "fmt_ugly.star.golden", string(got))
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt: %v %v, want 0640 kept", fi.Mode(), err)
	}
	if out, code := cli(t, dir, "", "fmt", "--check", "."); code != 0 {
		t.Errorf("fmt --check after fmt: exit %d\n%s", code, out)
	}
	if out, code := cli(t, dir, "", "check", "."); code != 0 {
		t.Errorf("the formatted script does not check:\n%s", out)
	}
}

// TestHelp checks that every command help lists explains itself with
// examples, as "<command> -h", "<command> --help" and "help <command>".
func TestHelp(t *testing.T) {
	list, code := cli(t, ".", "", "help")
	if code != 0 {
		t.Fatalf("help: exit %d\n%s", code, list)
	}
	_, cmds, _ := strings.Cut(list, "Commands:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	var commands []string
	for _, line := range strings.Split(cmds, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "help" {
			commands = append(commands, f[0])
		}
	}
	for _, must := range []string{"run", "check", "test", "call", "fmt", "version"} {
		if !slices.Contains(commands, must) {
			t.Errorf("help does not list %s:\n%s", must, list)
		}
	}
	for _, c := range commands {
		t.Run(c, func(t *testing.T) {
			for _, flag := range []string{"-h", "--help"} {
				out, code := cli(t, ".", "", c, flag)
				if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage: scriptrunner "+c) {
					t.Errorf("%s %s: exit %d, want 0 and a usage with examples\n%s", c, flag, code, out)
				}
			}
			viaHelp, _ := cli(t, ".", "", "help", c)
			direct, _ := cli(t, ".", "", c, "-h")
			if after(viaHelp) != after(direct) {
				t.Errorf("help %s differs from %s -h", c, c)
			}
		})
	}
	if out, code := cli(t, ".", "", "version"); code != 0 || !strings.Contains(out, "scriptrunner ") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}

// after drops the first line (the command) of a cli rendering.
func after(out string) string {
	_, rest, _ := strings.Cut(out, "\n")
	return rest
}
