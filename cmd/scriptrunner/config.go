package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// config is the runner configuration. Keys are the same in the YAML file,
// in SCRIPTRUNNER_<KEY> environment variables and in --<key> flags (with
// '-' for '_'). Precedence: flags > env > file > defaults.
type config struct {
	Scripts        string        `koanf:"scripts"`
	LogLevel       string        `koanf:"log_level"`
	MaxSteps       uint64        `koanf:"max_steps"`
	Timeout        time.Duration `koanf:"timeout"`
	MaxBodyBytes   int           `koanf:"max_body_bytes"`
	ErrorStatus    int           `koanf:"error_status"`
	SocketMode     string        `koanf:"socket_mode"`
	ExitWithParent bool          `koanf:"exit_with_parent"`
	DrainTimeout   time.Duration `koanf:"drain_timeout"`

	// From APISIX's environment, not from koanf.
	ListenPath string        `koanf:"-"`
	ConfExpire time.Duration `koanf:"-"`
}

var defaults = map[string]any{
	"scripts":          "./scripts",
	"log_level":        "info",
	"max_steps":        200000,
	"timeout":          "500ms",
	"max_body_bytes":   8 << 20,
	"error_status":     500,
	"socket_mode":      "0766",
	"exit_with_parent": true,
	"drain_timeout":    "900ms",
}

const envPrefix = "SCRIPTRUNNER_"

// loadConfig merges defaults, the --config file, SCRIPTRUNNER_* variables
// and the flags that were set on the command line.
func loadConfig(fs *flag.FlagSet, configFile string, environ func() []string) (config, error) {
	k := koanf.New(".")
	var cfg config
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return cfg, err
	}
	if configFile != "" {
		if err := k.Load(file.Provider(configFile), yaml.Parser()); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", configFile, err)
		}
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: environ,
		TransformFunc: func(k, v string) (string, any) {
			return strings.ToLower(strings.TrimPrefix(k, envPrefix)), v
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return cfg, err
	}
	flags := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" {
			flags[strings.ReplaceAll(f.Name, "-", "_")] = f.Value.String()
		}
	})
	if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
		return cfg, err
	}
	if err := checkKeys(k); err != nil {
		return cfg, err
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", FlatPaths: false}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// checkKeys rejects keys scriptrunner does not know, from any source.
func checkKeys(k *koanf.Koanf) error {
	var unknown []string
	for _, key := range k.Keys() {
		if _, ok := defaults[key]; !ok {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config: unknown key(s) %s", strings.Join(unknown, ", "))
	}
	return nil
}

// apisixEnv reads the variables APISIX sets when it starts the runner.
func apisixEnv(environ func() []string, cfg *config) error {
	getenv := lookup(environ)
	addr := getenv("APISIX_LISTEN_ADDRESS")
	if addr == "" {
		return errors.New("APISIX_LISTEN_ADDRESS is not set; want unix:/path/to/socket (APISIX sets it when it starts the runner)")
	}
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok || path == "" {
		return fmt.Errorf("APISIX_LISTEN_ADDRESS=%q: want unix:/path/to/socket", addr)
	}
	cfg.ListenPath = path
	cfg.ConfExpire = time.Hour
	if s := getenv("APISIX_CONF_EXPIRE_TIME"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("APISIX_CONF_EXPIRE_TIME=%q: want a positive number of seconds", s)
		}
		cfg.ConfExpire = time.Duration(n) * time.Second
	}
	return nil
}

// lookup returns a getenv over an environment list.
func lookup(environ func() []string) func(string) string {
	vars := environ()
	return func(name string) string {
		for i := len(vars) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(vars[i], name+"="); ok {
				return v
			}
		}
		return ""
	}
}
