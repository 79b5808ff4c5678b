package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionString() string {
	rev := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("scriptrunner %s%s %s/%s %s", version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

const versionUsage = `Usage: scriptrunner version

Prints the version, the VCS revision it was built from (when known), the
platform and the Go version.

Examples:
  scriptrunner version
  scriptrunner --version
`

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	pos, code, done := parseFlags(fs, versionUsage, args, stdout, stderr)
	switch {
	case done:
		return code
	case len(pos) > 0:
		return usageError(stderr, "version", "unexpected argument %q", pos[0])
	}
	fmt.Fprintln(stdout, versionString())
	return 0
}
