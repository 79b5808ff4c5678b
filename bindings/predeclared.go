package bindings

import (
	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// Options configures the predeclared environment PredeclaredWith builds.
// The zero value is the default; modules that need configuration add
// their fields here.
type Options struct {
	// LogSink receives the log module's records. Nil discards them.
	LogSink LogSink
	// LogRate is how many log records per second one script may write
	// (by script name); LogBurst how many at once. Records over that are
	// dropped and counted. LogRate 0 means DefaultLogRate (20), negative
	// means no limit; LogBurst 0 means DefaultLogBurst (50).
	LogRate  float64
	LogBurst int

	// Store backs the shared and ratelimit modules. Nil means a new
	// MemoryStore with default bounds, private to this PredeclaredWith
	// call.
	Store Store

	// EnvAllow lists the environment variables env.get may read.
	// PredeclaredWith looks each up once with LookupEnv; nil LookupEnv
	// means none is set.
	EnvAllow  []string
	LookupEnv func(name string) (string, bool)

	// Metrics receives the metrics module's updates. Nil makes them
	// no-ops (the metrics listener is off).
	Metrics MetricsSink
}

// Predeclared returns PredeclaredWith(Options{}).
func Predeclared() starlark.StringDict { return PredeclaredWith(Options{}) }

// PredeclaredWith returns the names every script sees besides the Starlark
// universe (which provides fail, len, str, …). The returned dict and its
// modules are new on each call: modules with caches (the re module's
// compiled patterns, the jwt module's parsed keys) keep them per call, so
// an engine that calls PredeclaredWith once shares them across its scripts.
// The values are immutable and safe to share between goroutines.
func PredeclaredWith(opts Options) starlark.StringDict {
	store := opts.Store
	if store == nil {
		store = NewMemoryStore(MemoryStoreConfig{})
	}
	return starlark.StringDict{
		"respond":   starlark.NewBuiltin("respond", respond),
		"json":      json.Module,
		"re":        newReModule(),
		"base64":    newBase64Module(),
		"hashlib":   newHashlibModule(),
		"time":      newTimeModule(),
		"url":       newURLModule(),
		"net":       newNetModule(),
		"jwt":       newJWTModule(),
		"log":       newLogModule(opts.LogSink, opts.LogRate, opts.LogBurst),
		"shared":    newSharedModule(store),
		"ratelimit": newRatelimitModule(store),
		"env":       newEnvModule(opts.EnvAllow, opts.LookupEnv),
		"metrics":   newMetricsModule(opts.Metrics),
	}
}
