package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/scriptrunner/scriptrunner/internal/authoring"
)

const fmtUsage = `Usage: scriptrunner fmt [--check] [PATH...]

Formats the .star files among PATHs (files or directories, searched
recursively; default ./scripts) in the standard Starlark style, with the
buildifier formatter (github.com/bazelbuild/buildtools) used as a library.
Files are rewritten in place and their names printed.

With --check nothing is written: the files that are not formatted are
listed and the exit code is 1 when there are any (CI runs
"scriptrunner fmt --check scripts").

buildifier parses neither while loops nor bytes literals (b"..."), which
scriptrunner's dialect allows; a file using them is reported with a
warning and left as it is. A syntax error is an error (exit code 1).

Examples:
  scriptrunner fmt
  scriptrunner fmt scripts/AuthFilter.star
  scriptrunner fmt --check scripts
`

func runFmt(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fmt", stderr)
	check := fs.Bool("check", false, "list unformatted files and exit 1 if any; write nothing")
	paths, code, done := parseFlags(fs, fmtUsage, args, stdout, stderr)
	if done {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"./scripts"}
	}
	files, err := authoring.StarFiles(paths, true)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner fmt: %v\n", err)
		return 1
	}
	exit := 0
	for _, f := range files {
		changed, err := authoring.FormatFile(f, !*check)
		switch {
		case errors.Is(err, authoring.ErrFormatUnsupported):
			fmt.Fprintf(stderr, "%s: warning: %v\n", f, err)
		case err != nil:
			fmt.Fprintln(stderr, authoring.Diagnose(f, err)[0])
			exit = 1
		case changed:
			fmt.Fprintln(stdout, f)
			if *check {
				exit = 1
			}
		}
	}
	return exit
}
