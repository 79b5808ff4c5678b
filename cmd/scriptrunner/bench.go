package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/scriptrunner/scriptrunner/internal/loadgen"
	"github.com/scriptrunner/scriptrunner/internal/loadgen/floor"
)

const benchUsage = `Usage: scriptrunner bench [flags]

  scriptrunner bench [--scripts DIR] --conf NAME=JSON [--duration D | --n N] [--deny] [--json]
  scriptrunner bench --socket [LABEL=]PATH ... --conf NAME=JSON [--conns 1,4,16,64]
                     [--duration D] [--warmup D] [--rounds N] [--json]

Measures a script. Without --socket, runs its on_request in process against
a realistic request (10 headers, 3 args) through decode -> engine -> encode
and prints ns/op, allocs/op and Starlark steps/op.

With --socket, acts as APISIX against running runners: each connection
sends PrepareConf once, then HTTPReqCalls back to back, answering ExtraInfo
questions; prints calls/s, latency percentiles and errors per runner and
connection count. Give --socket several times to compare runners: runs go
round by round, then by connection count, then by runner, so compared runs
are adjacent in time, and a last table sets every runner against the first
one (calls/s and p99 ratios of the medians, CPU per call, the calls/s
ratio of each round).

When the conf has "header" and "key" (bench_filter), the request carries
that header with the key; --deny sends a wrong key.

Examples:
  scriptrunner bench --conf 'bench_filter={"header":"X-Api-Key","key":"secret"}'
  scriptrunner bench --socket scriptrunner=/tmp/sr.sock --socket floor=/tmp/floor.sock \
      --conf 'bench_filter={"header":"X-Api-Key","key":"secret"}' \
      --conns 1,4,16,64 --duration 5s --warmup 1s --json > docs/bench.json

See docs/bench.md.
`

// benchFlags are the parsed flags of the bench command.
type benchFlags struct {
	scripts          string
	confs, sockets   listFlag
	confFor          listFlag
	vars             listFlag
	duration, warmup time.Duration
	n, rounds        int
	conns            string
	deny, json       bool
	quiet            bool
	serveFloor       string
	floorWork        time.Duration
}

// hiddenBenchFlag reports the flags left out of the usage text:
// benchmark plumbing.
func hiddenBenchFlag(name string) bool { return name == "serve-floor" || name == "floor-work" }

func newBenchFlags(stderr io.Writer) (*flag.FlagSet, *benchFlags) {
	f := &benchFlags{}
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&f.scripts, "scripts", "scripts", "scripts `dir`ectory (in-process mode)")
	fs.Var(&f.confs, "conf", "conf entry `NAME=JSON` (repeat for a chain; JSON may be @file)")
	fs.Var(&f.sockets, "socket", "runner socket `[LABEL=]PATH` to measure (repeatable)")
	fs.Var(&f.confFor, "conf-for", "conf entry `LABEL:NAME=JSON` for one --socket only (repeatable)")
	fs.Var(&f.vars, "var", "ExtraInfo var answer `NAME=VALUE` (repeatable; default: a few common vars)")
	fs.DurationVar(&f.duration, "duration", 0, "measured time per run (default 1s in process, 5s on a socket)")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "unmeasured time before each socket run")
	fs.IntVar(&f.n, "n", 0, "in process: run exactly `N` calls instead of --duration")
	fs.IntVar(&f.rounds, "rounds", 1, "repeat the whole socket sweep `N` times")
	fs.StringVar(&f.conns, "conns", "1", "connection `counts`, comma-separated, e.g. 1,4,16,64")
	fs.BoolVar(&f.deny, "deny", false, "send the wrong key, to measure the deny path")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&f.serveFloor, "serve-floor", "", "serve the floor runner on socket `PATH` until interrupted")
	fs.DurationVar(&f.floorWork, "floor-work", 0, "with --serve-floor: burn `D` of CPU per call (calibration)")
	return fs, f
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newBenchFlags(stderr)
	pos, code, done := parseBenchFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "bench", "unexpected argument %q", pos[0])
	}
	if f.serveFloor != "" {
		return serveFloor(ctx, f.serveFloor, f.floorWork, stderr)
	}
	confs, err := parseConfs(f.confs)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	if len(f.sockets) == 0 {
		return benchInProcess(f, confs, stdout, stderr)
	}
	return benchSocket(ctx, f, confs, stdout, stderr)
}

// parseBenchFlags is parseFlags with the hidden flags left out of -h.
func parseBenchFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, int, bool) {
	for _, a := range args {
		if a == "-h" || a == "--h" || a == "-help" || a == "--help" {
			shown := flag.NewFlagSet("bench", flag.ContinueOnError)
			fs.VisitAll(func(fl *flag.Flag) {
				if !hiddenBenchFlag(fl.Name) {
					shown.Var(fl.Value, fl.Name, fl.Usage)
				}
			})
			printUsage(shown, benchUsage, stdout)
			return nil, 0, true
		}
	}
	return parseFlags(fs, benchUsage, args, stdout, stderr)
}

func parseConfs(list []string) ([]loadgen.Conf, error) {
	var confs []loadgen.Conf
	for _, s := range list {
		c, err := loadgen.ParseConf(s)
		if err != nil {
			return nil, err
		}
		if c.Value, err = readArg(c.Value); err != nil {
			return nil, fmt.Errorf("conf %s: %w", c.Name, err)
		}
		confs = append(confs, c)
	}
	if len(confs) == 0 {
		return nil, errors.New("give at least one --conf NAME=JSON")
	}
	return confs, nil
}

func benchInProcess(f *benchFlags, confs []loadgen.Conf, stdout, stderr io.Writer) int {
	res, err := loadgen.InProcess(loadgen.InProcessOptions{
		Scripts: f.scripts, Confs: confs, Deny: f.deny, N: f.n, Duration: f.duration,
	})
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner bench: %v\n", err)
		return 1
	}
	if f.json {
		return writeJSON(stdout, stderr, res)
	}
	fmt.Fprintf(stdout, "%d calls  %.0f ns/op  %.0f cpu-ns/op  %.1f allocs/op  %.0f B/op  %.1f steps/op  (%s: %s)\n",
		res.Ops, res.NsPerOp, res.CPUNsPerOp, res.AllocsPerOp, res.BytesPerOp, res.StepsPerOp, res.Outcome, res.Reply)
	return 0
}

func benchSocket(ctx context.Context, f *benchFlags, confs []loadgen.Conf, stdout, stderr io.Writer) int {
	conns, err := loadgen.ParseConns(f.conns)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	vars, err := parseVars(f.vars)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	targets, err := parseTargets(f.sockets, f.confFor)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	base := loadgen.Options{
		Duration: f.duration, Warmup: f.warmup, Confs: confs,
		Request: loadgen.Request(confs, f.deny), Vars: vars,
	}
	if base.Duration <= 0 {
		base.Duration = 5 * time.Second
	}
	if !f.quiet && base.Warmup+base.Duration >= 3*time.Second {
		base.Progress = stderr
	}
	report := loadgen.Report{
		Started: time.Now().UTC(), Machine: loadgen.ThisMachine(), Confs: confs,
		Duration: base.Duration.String(), Warmup: base.Warmup.String(),
	}
	table := stdout
	if f.json {
		table = stderr
	}
	fmt.Fprintln(table, loadgen.TableHeader)
	report.Results, err = loadgen.Sweep(ctx, base, targets, conns, f.rounds, func(r loadgen.Result) {
		fmt.Fprintln(table, loadgen.FormatRow(r))
	})
	report.LoadAfter = loadgen.LoadAvg()
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner bench: %v\n", err)
		return 1
	}
	report.Comparison = loadgen.Compare(report.Results)
	loadgen.WriteComparison(table, report.Comparison)
	if f.json {
		return writeJSON(stdout, stderr, report)
	}
	return 0
}

// parseTargets parses the --socket flags and attaches the --conf-for
// entries to the targets they name.
func parseTargets(sockets, confFor []string) ([]loadgen.Target, error) {
	targets := make([]loadgen.Target, len(sockets))
	for i, s := range sockets {
		targets[i] = loadgen.ParseTarget(s)
	}
	for _, s := range confFor {
		label, entry, ok := strings.Cut(s, ":")
		i := slices.IndexFunc(targets, func(t loadgen.Target) bool { return t.Label == label })
		if !ok || i < 0 {
			return nil, fmt.Errorf("conf-for %q: want LABEL:NAME=JSON with the LABEL of a --socket", s)
		}
		confs, err := parseConfs([]string{entry})
		if err != nil {
			return nil, err
		}
		targets[i].Confs = append(targets[i].Confs, confs...)
	}
	return targets, nil
}

func parseVars(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	vars := map[string]string{}
	for _, s := range list {
		name, value, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("var %q: want NAME=VALUE", s)
		}
		vars[name] = value
	}
	return vars, nil
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "scriptrunner bench: %v\n", err)
		return 1
	}
	return 0
}

// serveFloor serves the floor runner on path until ctx ends.
func serveFloor(ctx context.Context, path string, work time.Duration, stderr io.Writer) int {
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(path) // a stale socket of an earlier run
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner bench: %v\n", err)
		return 1
	}
	srv := floor.Server{Work: work}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "floor runner listening on unix:%s\n", path)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	srv.Close()
	os.Remove(path)
	if err != nil && !errors.Is(err, floor.ErrClosed) {
		fmt.Fprintf(stderr, "scriptrunner bench: floor: %v\n", err)
		return 1
	}
	return 0
}

// cutCPUProfileFlag removes the hidden "--cpuprofile FILE" flag of the run
// command from args (it is not a configuration key) and returns the file.
func cutCPUProfileFlag(args []string) (rest []string, file string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), file
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "cpuprofile" {
			rest = append(rest, a)
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		file = value
	}
	return rest, file
}

// startCPUProfile writes a CPU profile to file until stop is called; an
// empty file does nothing.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
