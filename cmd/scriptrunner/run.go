package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
)

const runUsage = `Usage: scriptrunner run [flags]

Serves the APISIX ext-plugin protocol on the Unix socket named by
APISIX_LISTEN_ADDRESS (unix:/path). Each conf[].name of an ext-plugin
route names a script <scripts>/<name>.star; conf[].value is its JSON conf.

Every flag can also be set as SCRIPTRUNNER_<NAME> (e.g. SCRIPTRUNNER_MAX_STEPS)
or in the --config YAML file (e.g. max_steps: 100000).
Precedence: flags > environment > file > defaults.

Examples:
  # what APISIX runs (config.yaml: ext-plugin.cmd)
  scriptrunner run --scripts /opt/scriptrunner/scripts

  # by hand, for APISIX's ext-plugin.path_for_test: /tmp/runner.sock
  APISIX_LISTEN_ADDRESS=unix:/tmp/runner.sock scriptrunner run --scripts ./scripts
`

func newRunFlags(stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML configuration `file`")
	for _, o := range options {
		fs.String(flagName(o.key), o.def, o.usage)
	}
	fs.Usage = func() {} // -h prints the usage to stdout, as the other commands do
	return fs, configFile
}

func runServe(ctx context.Context, args []string, environ func() []string, stdout, stderr io.Writer) int {
	fs, configFile := newRunFlags(stderr)
	args, cpuProfile := cutCPUProfileFlag(args) // hidden, for docs/bench.md
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, runUsage, stdout)
			return 0
		}
		fmt.Fprintln(stderr, "Run \"scriptrunner run -h\" for usage.")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scriptrunner run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := loadConfig(fs, *configFile, environ)
	if err == nil {
		err = apisixEnv(environ, &cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner run: %v\n", err)
		return 1
	}
	log, scriptLog, err := newLoggers(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner run: %v\n", err)
		return 1
	}
	defer log.Sync()
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "scriptrunner run: %v\n", err)
		return 1
	}
	defer stopProfile()
	if err := serve(ctx, cfg, log, scriptLog); err != nil {
		log.Error("runner stopped", zap.Error(err))
		return 1
	}
	return 0
}

// serve runs the runner until ctx is done or the parent is gone. log is
// the runner's logger, scriptLog the one for the scripts' log module.
func serve(ctx context.Context, cfg config, log, scriptLog *zap.Logger) error {
	mode, err := strconv.ParseUint(cfg.SocketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return fmt.Errorf("socket_mode %q: want octal permission bits such as 0766", cfg.SocketMode)
	}
	if fi, err := os.Stat(cfg.Scripts); err != nil || !fi.IsDir() {
		return fmt.Errorf("scripts directory %q: not a readable directory", cfg.Scripts)
	}
	onError, err := engine.ParseErrorPolicy(cfg.OnError)
	if err != nil {
		return err
	}
	if cfg.MaxDepth < 1 || cfg.MaxDepth > 100_000 {
		return fmt.Errorf("max_depth %d: want 1 to 100000", cfg.MaxDepth)
	}
	var m *metrics.Metrics
	var ready atomic.Bool
	var srv *protocol.Server
	var r *runner.Runner
	if cfg.MetricsAddr != "" {
		m = metrics.New(metrics.Sources{
			OpenConns: func() int { return srv.OpenConns() },
			Confs:     func() int { return r.Confs() },
		})
		m.OnCollapse(func(name string) {
			log.Warn("script metric has too many label sets; further ones are counted as \"other\"", zap.String("metric", name))
		})
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, ready.Load, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	store, closeStore, err := newStore(cfg, m, log)
	if err != nil {
		return err
	}
	defer closeStore()
	ecfg := engine.Config{
		Dir:          cfg.Scripts,
		MaxSteps:     cfg.MaxSteps,
		Timeout:      cfg.Timeout,
		MaxBodyBytes: cfg.MaxBodyBytes,
		ErrorStatus:  cfg.ErrorStatus,
		Pinned:       true, // changes arrive through hot reload

		OnError:          onError,
		MaxBuildBytes:    cfg.MaxBuildBytes,
		MaxResponseBytes: cfg.MaxRespBytes,
		MaxDepth:         cfg.MaxDepth,

		Store:          store, // nil: a MemoryStore bounded by SharedMax*
		SharedMaxKeys:  cfg.SharedMaxKeys,
		SharedMaxBytes: cfg.SharedMaxBytes,
		EnvAllow:       cfg.EnvAllow,
		LookupEnv:      cfg.LookupEnv,
		LogRate:        cfg.LogRate,
		LogBurst:       cfg.LogBurst,
		ScriptLog:      scriptLog,
	}
	rcfg := runner.Config{ConfTTL: cfg.ConfExpire * 12 / 10, TestScript: reloadTests(cfg.Scripts, cfg.EnvAllow, cfg.LookupEnv)}
	if m != nil {
		ecfg.Observer, ecfg.Metrics, rcfg.Observer = m, m, m
	}
	eng := engine.New(ecfg, log)
	r = runner.New(eng, rcfg, log)
	defer r.Close()

	ln, err := runner.ListenWait(cfg.ListenPath, os.FileMode(mode), cfg.SocketWait)
	if err != nil {
		return err
	}
	srv = &protocol.Server{Handler: r, Logger: log}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ready.Store(true)
	log.Info("listening", zap.String("socket", "unix:"+ln.Path()), zap.String("scripts", cfg.Scripts),
		zap.String("version", versionString()))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	parentGone := watchParent(ctx, cfg.ExitWithParent)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go r.Watch(wctx, cfg.Scripts, cfg.ReloadInterval)

	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("signal received; draining")
			break wait
		case <-parentGone:
			log.Warn("parent process is gone; exiting")
			break wait
		case <-hup:
			log.Info("SIGHUP: reloading scripts")
			r.ReloadAll()
		case serveErr = <-served:
			break wait
		}
	}
	ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain timed out; closed the remaining connections", zap.Error(err))
	}
	if !ln.RemoveIfOwned() {
		log.Info("socket file now belongs to another runner; left in place", zap.String("socket", ln.Path()))
	}
	if serveErr != nil && !errors.Is(serveErr, protocol.ErrServerClosed) {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// watchParent returns a channel closed when the parent process exits (the
// process is re-parented), polling twice a second. APISIX kills its runner
// on a clean stop, but not when it crashes.
func watchParent(ctx context.Context, enabled bool) <-chan struct{} {
	gone := make(chan struct{})
	if !enabled {
		return gone
	}
	ppid := os.Getppid()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != ppid {
					close(gone)
					return
				}
			}
		}
	}()
	return gone
}

// newLoggers builds the JSON loggers on w: the runner's, which samples
// repeated messages so that a failing script cannot flood APISIX's error
// log, and the one for the scripts' log module, which does not sample
// (the log module limits each script's rate and reports what it dropped).
// Both write through one locked writer.
func newLoggers(level string, w io.Writer) (log, scriptLog *zap.Logger, err error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, nil, fmt.Errorf("log_level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	sampled := zapcore.NewSamplerWithOptions(core, time.Second, 10, 100)
	return zap.New(sampled), zap.New(core), nil
}
