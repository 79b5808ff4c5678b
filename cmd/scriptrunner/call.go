package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/authoring"
)

const callUsage = `Usage: scriptrunner call NAME [--conf JSON] [--script NAME [--conf JSON]]... [flags]

Runs one request through the script NAME (<scripts>/NAME.star) with its
conf, offline, as the runner would for APISIX, and prints the decision as
JSON: "outcome" (continue, rewrite, stop, error, timeout), the reply in
the shape of the end-to-end cases ("action" with "stop" or "rewrite"; in
the response phase "resp"), the Starlark "steps" used and the ExtraInfo
lookups ("extra_info") the scripts made. Each further --script NAME adds a
script to the chain; a --conf applies to the script named just before it
(default {}).

The request is JSON (--request FILE, or - for stdin; default GET /):
  {"method": "POST", "path": "/orders?page=2", "src_ip": "10.0.0.7",
   "headers": {"authorization": "Bearer t1", "cookie": ["a=1", "b=2"]},
   "args": [{"name": "debug"}], "body": {"id": 7},
   "vars": {"route_id": "1"}}
headers and args also take [{"name": N, "value": V}, ...] lists (repeats
allowed; no "value" means an argument without '='); body is a string or
any JSON value; vars answer req.var(). With --response the file describes
the upstream response instead: {"status": 200, "headers": ..., "body":
..., "vars": ...}, and on_response runs.

The exit code is 0 when the scripts ran (a stop included) and 1 when a
conf is rejected or a script fails (the error and its backtrace go to
stderr). What scripts print goes to stderr.

Examples:
  scriptrunner call AuthFilter --conf '{"tokens": ["t1"]}'
  echo '{"headers": {"authorization": "Bearer t1"}}' | scriptrunner call AuthFilter --conf '{"tokens": ["t1"]}' --request -
  scriptrunner call AuthFilter --conf '{"strip": true}' --script request-transform --conf '{"add_prefix": "/v2"}' --request req.json
  scriptrunner call cors --response --request resp.json --now 2026-01-02T03:04:05Z
`

// chainFlags collects --script and --conf in order: a --conf belongs to
// the script named before it.
type chainFlags struct{ confs []authoring.Conf }

type scriptFlag struct{ c *chainFlags }

func (f scriptFlag) String() string { return "" }
func (f scriptFlag) Set(name string) error {
	f.c.confs = append(f.c.confs, authoring.Conf{Name: name})
	return nil
}

type confFlag struct {
	c   *chainFlags
	set map[int]bool
}

func (f confFlag) String() string { return "" }
func (f confFlag) Set(value string) error {
	n := len(f.c.confs)
	if n == 0 {
		return errors.New("a --conf must follow the script it configures")
	}
	if f.set[n-1] {
		return fmt.Errorf("two --conf for script %s", f.c.confs[n-1].Name)
	}
	text, err := readArg(value)
	f.c.confs[n-1].Value, f.set[n-1] = text, true
	return err
}

func runCall(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("call", stderr)
	chain := &chainFlags{}
	fs.Var(scriptFlag{chain}, "script", "add the script `NAME` to the chain (repeatable)")
	fs.Var(confFlag{chain, map[int]bool{}}, "conf", "`JSON` conf of the script named before it (or @file)")
	scripts := fs.String("scripts", "./scripts", "scripts `directory`")
	reqFile := fs.String("request", "", "request (or with --response, response) JSON `file`; - reads stdin")
	response := fs.Bool("response", false, "run the response phase (on_response) instead of the request phase")
	now := fs.String("now", "", "the `time` scripts see (RFC 3339); default the real time")
	withEnv := envAllowFlag(fs)
	code, done := parseFlagsFunc(fs, callUsage, args, stdout, stderr, func(arg string) error {
		if len(chain.confs) > 0 {
			return fmt.Errorf("unexpected argument %q (the script NAME comes first; more scripts with --script)", arg)
		}
		chain.confs = append(chain.confs, authoring.Conf{Name: arg})
		return nil
	})
	switch {
	case done:
		return code
	case len(chain.confs) == 0:
		return usageError(stderr, "call", "name a script: scriptrunner call NAME")
	}
	sb := authoring.NewSandbox(withEnv(engine.Config{Dir: *scripts}))
	if *now != "" {
		t, err := time.Parse(time.RFC3339Nano, *now)
		if err != nil {
			return usageError(stderr, "call", "--now: want RFC 3339 time such as 2026-01-02T03:04:05Z: %v", err)
		}
		sb.SetNow(t)
	}
	res, err := callOnce(sb, chain.confs, *reqFile, *response, stdin)
	printLogs(stderr, sb.TakeLogs())
	if err != nil {
		printCallError(stderr, *scripts, err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(res.Report())
	if res.Err != nil {
		fmt.Fprintf(stderr, "scriptrunner call: %s\n%s\n", res.Error(), strings.TrimRight(res.Err.Backtrace, "\n"))
		return 1
	}
	return 0
}

// printCallError reports a rejected conf at its script, or another error.
func printCallError(stderr io.Writer, scripts string, err error) {
	if !errors.As(err, new(*engine.ConfError)) {
		fmt.Fprintf(stderr, "scriptrunner call: %v\n", err)
		return
	}
	for _, d := range authoring.DiagnoseConf(scripts, err) {
		fmt.Fprintf(stderr, "scriptrunner call: %s\n", d)
	}
}

// callOnce prepares the chain and runs the request or response read from
// file.
func callOnce(sb *authoring.Sandbox, confs []authoring.Conf, file string, response bool, stdin io.Reader) (*authoring.Result, error) {
	chain, err := sb.Chain(confs...)
	if err != nil {
		return nil, err
	}
	in, err := openInput(file, stdin)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if response {
		r, err := authoring.DecodeResponse(in)
		if err != nil {
			return nil, err
		}
		return sb.RunResponse(chain, r)
	}
	r, err := authoring.DecodeRequest(in)
	if err != nil {
		return nil, err
	}
	return sb.RunRequest(chain, r)
}

// openInput opens file, stdin for "-", or an empty input for "".
func openInput(file string, stdin io.Reader) (io.ReadCloser, error) {
	switch file {
	case "":
		return io.NopCloser(strings.NewReader("{}")), nil
	case "-":
		return io.NopCloser(stdin), nil
	}
	return os.Open(file)
}

func printLogs(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "| %s\n", l)
	}
}
