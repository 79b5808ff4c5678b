package main

import (
	"fmt"
	"io"
	"regexp"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/authoring"
)

const testUsage = `Usage: scriptrunner test [flags] [PATH...]

Runs the test_*(t) functions of the *_test.star files in each PATH
directory (default ./scripts); a PATH may also name a test file, or a
script whose <name>_test.star is run. Each test gets a fixture t that
builds requests (t.request), runs scripts and chains against them
(t.run, t.run_response) and asserts (t.eq, t.ne, t.true, t.contains,
t.fails, t.fail); see docs/tools.md. Scripts are found next to the test
file.

One line is printed per failing test (per test with -v), followed by its
failures (file:line: got X, want Y) and what the scripts printed; the last
line is "N passed, M failed". The exit code is 1 when a test failed or a
test file did not load.

Examples:
  scriptrunner test
  scriptrunner test scripts -v
  scriptrunner test scripts/AuthFilter_test.star --run 'missing|invalid'
`

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", stderr)
	runRE := fs.String("run", "", "run only the tests whose function name matches this `regexp`")
	verbose := fs.Bool("v", false, "list passing tests and their output too")
	withEnv := envAllowFlag(fs)
	paths, code, done := parseFlags(fs, testUsage, args, stdout, stderr)
	if done {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"./scripts"}
	}
	opts := authoring.TestOptions{Verbose: *verbose, Out: stdout, Config: withEnv(engine.Config{})}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return usageError(stderr, "test", "--run: %v", err)
		}
		opts.Run = re
	}
	files, err := authoring.TestFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner test: %v\n", err)
		return 1
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "scriptrunner test: no *_test.star files in %v\n", paths)
	}
	if sum := authoring.RunTests(files, opts); sum.Failed > 0 {
		return 1
	}
	return 0
}
