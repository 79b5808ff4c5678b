// Command scriptrunner is an Apache APISIX external plugin runner whose
// plugins are Starlark scripts.
//
// APISIX starts it as ext-plugin.cmd: ["scriptrunner", "run", "--scripts",
// "/path/scripts"]. See docs/operations.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `scriptrunner runs Apache APISIX external plugins written in Starlark.

Usage:
  scriptrunner <command> [flags]

Commands:
  run       serve APISIX on the socket named by APISIX_LISTEN_ADDRESS
  check     compile scripts and test files, validate sample confs
  test      run the test_* functions of the *_test.star files
  call      run one request through a script or chain offline, print the decision
  fmt       format scripts in the standard Starlark style (buildifier)
  bench     measure a script in process, or runners over their socket
  version   print the version
  help      print this text, or a command's with "help <command>"

Run "scriptrunner <command> -h" for the flags and examples of a command.
See docs/tools.md.
`

// run dispatches a subcommand and returns the process exit code: 0 for
// success, 1 when the command failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runServe(ctx, args[1:], os.Environ, stdout, stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "test":
		return runTest(args[1:], stdout, stderr)
	case "call":
		return runCall(args[1:], os.Stdin, stdout, stderr)
	case "fmt":
		return runFmt(args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" && args[1] != "help" {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "scriptrunner: unknown command %q\n\n%s", args[0], usage)
	return 2
}
