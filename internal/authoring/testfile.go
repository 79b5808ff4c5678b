package authoring

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// Limits of test code itself (not of the scripts it runs, which keep
// theirs): Starlark steps and wall-clock time per test function, and for
// a test file's top level.
const (
	TestMaxSteps = 50_000_000
	TestTimeout  = 10 * time.Second
)

// testFileOptions is the scripts' dialect plus top-level control flow,
// so a test file can build tables of cases at the top level.
var testFileOptions = syntax.FileOptions{Set: true, While: true, TopLevelControl: true}

// TestFile is a loaded test file: its frozen globals and its test
// functions in source order.
type TestFile struct {
	Path  string
	Tests []Test
}

// Test is one test function: test_<something>(t).
type Test struct {
	Name string
	Fn   *starlark.Function
}

// LoadTestFile compiles the test file at path and runs its top level. It
// sees the scripts' predeclared names; load() is not available. The error
// is a Diagnostics or an error Diagnose can place.
func LoadTestFile(path string) (*TestFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	predeclared := bindings.Predeclared()
	_, prog, err := starlark.SourceProgramOptions(&testFileOptions, path, src, predeclared.Has)
	if err != nil {
		return nil, err
	}
	thread := newTestThread("load "+path, nil)
	bindings.BindCallInfo(thread, &bindings.CallInfo{Phase: "test", Now: time.Now()})
	globals, err := withDeadline(thread, func() (starlark.StringDict, error) { return prog.Init(thread, predeclared) })
	if err != nil {
		return nil, fmt.Errorf("top level: %w", err)
	}
	globals.Freeze()
	tf := &TestFile{Path: path}
	var ds Diagnostics
	for name, v := range globals {
		fn, ok := v.(*starlark.Function)
		if !ok || !strings.HasPrefix(name, "test_") {
			continue
		}
		if fn.NumParams() != 1 || fn.HasVarargs() || fn.HasKwargs() || fn.NumKwonlyParams() != 0 {
			ds = append(ds, at(path, fn.Position(), name+" must be defined as "+name+"(t)"))
			continue
		}
		tf.Tests = append(tf.Tests, Test{Name: name, Fn: fn})
	}
	sort.Slice(tf.Tests, func(i, j int) bool {
		return tf.Tests[i].Fn.Position().Line < tf.Tests[j].Fn.Position().Line
	})
	sort.Slice(ds, func(i, j int) bool { return ds[i].Line < ds[j].Line })
	if len(ds) == 0 && len(tf.Tests) == 0 {
		ds = append(ds, Diagnostic{File: path, Msg: "defines no test_*(t) functions"})
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return tf, nil
}

func newTestThread(name string, print func(*starlark.Thread, string)) *starlark.Thread {
	th := &starlark.Thread{
		Name:  name,
		Print: print,
		Load: func(*starlark.Thread, string) (starlark.StringDict, error) {
			return nil, errors.New("load() is not available in test files")
		},
	}
	if print == nil {
		th.Print = func(*starlark.Thread, string) {}
	}
	th.SetMaxExecutionSteps(TestMaxSteps)
	return th
}

// withDeadline runs f, cancelling thread after TestTimeout.
func withDeadline[T any](thread *starlark.Thread, f func() (T, error)) (T, error) {
	t := time.AfterFunc(TestTimeout, func() { thread.Cancel("test timed out after " + TestTimeout.String()) })
	defer t.Stop()
	return f()
}

// TestOptions configures RunTests.
type TestOptions struct {
	Run     *regexp.Regexp // run only tests whose name matches; nil: all
	Verbose bool           // report passing tests and their logs too
	Out     io.Writer      // where the report goes
	Config  engine.Config  // engine configuration; FS/Dir: the test file's directory
}

// TestSummary counts tests. A test file that fails to load counts as one
// failed test.
type TestSummary struct {
	Passed, Failed int
}

// String is the report's last line, which CI parses: "N passed, M failed".
func (s TestSummary) String() string { return fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed) }

// RunTests runs the test functions of the test files, each with a fresh
// fixture and sandbox over the scripts next to its file, and writes one
// line per failed test (per test with Verbose) followed by its failures
// and logs, then the summary line.
func RunTests(files []string, opts TestOptions) TestSummary {
	var sum TestSummary
	for _, path := range files {
		tf, err := LoadTestFile(path)
		if err != nil {
			sum.Failed++
			fmt.Fprintf(opts.Out, "--- FAIL: %s (load)\n", path)
			for _, d := range Diagnose(path, err) {
				fmt.Fprintf(opts.Out, "    %s\n", d)
			}
			continue
		}
		for _, test := range tf.Tests {
			if opts.Run != nil && !opts.Run.MatchString(test.Name) {
				continue
			}
			lines, ok := runTest(tf.Path, test, opts.Config)
			status := "PASS"
			if ok {
				sum.Passed++
			} else {
				sum.Failed++
				status = "FAIL"
			}
			if ok && !opts.Verbose {
				continue
			}
			fmt.Fprintf(opts.Out, "--- %s: %s (%s)\n", status, test.Name, path)
			for _, l := range lines {
				fmt.Fprintf(opts.Out, "    %s\n", l)
			}
		}
	}
	fmt.Fprintln(opts.Out, sum)
	return sum
}

// runTest runs one test function and returns its report lines and
// whether it passed.
func runTest(path string, test Test, cfg engine.Config) ([]string, bool) {
	if cfg.FS == nil {
		cfg.Dir = filepath.Dir(path)
	}
	sb := NewSandbox(cfg)
	info := &bindings.CallInfo{Phase: "test", Now: sb.Now()}
	fx := newFixture(sb, info)
	thread := newTestThread(test.Name, fx.print)
	bindings.BindCallInfo(thread, info)
	_, err := withDeadline(thread, func() (starlark.Value, error) {
		return starlark.Call(thread, test.Fn, starlark.Tuple{fx}, nil)
	})
	for _, l := range sb.TakeLogs() { // logged outside t.run (by init, say)
		fx.lines = append(fx.lines, "  | "+l)
	}
	if err != nil {
		fx.failed = true
		fx.lines = append(fx.lines, errorLines(err)...)
	}
	return fx.lines, !fx.failed
}

// errorLines renders an error that ended a test: its Starlark backtrace
// when it has one.
func errorLines(err error) []string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return strings.Split(strings.TrimRight(ee.Backtrace(), "\n"), "\n")
	}
	return []string{err.Error()}
}
