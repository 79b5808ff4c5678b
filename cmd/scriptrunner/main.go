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
  version   print the version

Run "scriptrunner <command> -h" for the flags of a command.
`

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runServe(ctx, args[1:], os.Environ, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "scriptrunner: unknown command %q\n\n%s", args[0], usage)
	return 2
}
