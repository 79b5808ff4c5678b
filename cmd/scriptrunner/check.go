package main

import (
	"fmt"
	"io"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/authoring"
)

const checkUsage = `Usage: scriptrunner check [flags] [PATH...]

Compiles every script (<name>.star) and test file (<name>_test.star) among
PATHs (files or directories; default: the --scripts directory) the way
the runner loads them: syntax, undefined names, the top level, entry-point
signatures (on_request(req, conf), on_response(resp, conf), init(conf)),
LIMITS and CONF_SCHEMA. Each --conf NAME=JSON is then validated against
the script's CONF_SCHEMA and passed through its init, as PrepareConf
would. Problems are printed as file:line:col: message; the exit code is 1
when there are any.

Examples:
  scriptrunner check
  scriptrunner check scripts/AuthFilter.star
  scriptrunner check --conf 'AuthFilter={"tokens": ["t1"], "strip": true}'
  scriptrunner check --conf auth-check=@route-conf.json scripts/
`

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	scripts := fs.String("scripts", "./scripts", "scripts `directory`: the default PATH, and where --conf scripts are found")
	var confs listFlag
	fs.Var(&confs, "conf", "sample conf `NAME=JSON` to validate (repeatable; JSON may be @file)")
	withEnv := envAllowFlag(fs)
	paths, code, done := parseFlags(fs, checkUsage, args, stdout, stderr)
	if done {
		return code
	}
	if len(paths) == 0 {
		paths = []string{*scripts}
	}
	var parsed []authoring.Conf
	for _, s := range confs {
		c, err := authoring.ParseConf(s)
		if err == nil {
			c.Value, err = readArg(c.Value)
		}
		if err != nil {
			return usageError(stderr, "check", "--conf: %v", err)
		}
		parsed = append(parsed, c)
	}
	files, err := authoring.StarFiles(paths, false)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner check: %v\n", err)
		return 1
	}
	res := authoring.Check(files, parsed, *scripts, withEnv(engine.Config{}))
	for _, d := range res.Diagnostics {
		fmt.Fprintln(stderr, d)
	}
	if len(res.Diagnostics) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d scripts, %d test files, %d confs\n", res.Scripts, res.Tests, res.Confs)
	return 0
}
