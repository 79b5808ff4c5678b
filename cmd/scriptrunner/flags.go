package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/scriptrunner/scriptrunner/engine"
)

// Flag handling shared by the authoring commands (check, test, call, fmt).

// newFlagSet returns the flag set of a subcommand. Parse errors go to
// stderr; parseFlags prints the usage.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments ("--"
// ends the flags), and returns the positional ones. When the command
// must end here (-h, or a bad flag) done is set and code is its exit code:
// -h prints usage and the flags to stdout and exits 0.
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (pos []string, code int, done bool) {
	code, done = parseFlagsFunc(fs, usage, args, stdout, stderr, func(arg string) error {
		pos = append(pos, arg)
		return nil
	})
	return pos, code, done
}

// parseFlagsFunc is parseFlags calling onArg for each positional argument
// when it is met, so that flags after it can depend on it. An error of
// onArg is a usage error.
func parseFlagsFunc(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer, onArg func(string) error) (code int, done bool) {
	dashes := false
	for len(args) > 0 {
		if dashes {
			if err := onArg(args[0]); err != nil {
				return usageError(stderr, fs.Name(), "%v", err), true
			}
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs, usage, stdout)
				return 0, true
			}
			fmt.Fprintf(stderr, "Run \"scriptrunner %s -h\" for usage.\n", fs.Name())
			return 2, true
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			dashes = true
		}
		args = rest
		if len(args) > 0 && !dashes {
			if err := onArg(args[0]); err != nil {
				return usageError(stderr, fs.Name(), "%v", err), true
			}
			args = args[1:]
		}
	}
	return 0, false
}

func printUsage(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprint(w, usage)
	fmt.Fprintln(w, "\nFlags:")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

// usageError reports a bad use of a command and returns exit code 2.
func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "scriptrunner %s: %s\nRun \"scriptrunner %s -h\" for usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return 2
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// readArg returns s, or the content of the file s names when it starts
// with '@' (so a long JSON conf can live in a file).
func readArg(s string) (string, error) {
	file, ok := strings.CutPrefix(s, "@")
	if !ok {
		return s, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// envAllowFlag adds --env-allow to an offline tool: the names its scripts
// may read with env.get, from this process's environment, as the runner's
// env_allow would allow them.
func envAllowFlag(fs *flag.FlagSet) func(cfg engine.Config) engine.Config {
	names := fs.String("env-allow", "", "comma-separated `NAMES` of environment variables scripts may read with env.get")
	return func(cfg engine.Config) engine.Config {
		if *names == "" {
			return cfg
		}
		for _, n := range strings.Split(*names, ",") {
			if n = strings.TrimSpace(n); n != "" {
				cfg.EnvAllow = append(cfg.EnvAllow, n)
			}
		}
		cfg.LookupEnv = os.LookupEnv
		return cfg
	}
}
